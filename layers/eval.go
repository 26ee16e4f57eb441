package layers

import (
	"io"

	"github.com/pkg/errors"
)

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Loss     float64 // mean cross-entropy over all samples
	Accuracy float64 // fraction of samples classified correctly
	N        int     // number of samples
}

// Evaluate runs the model over every batch that next yields and returns the loss and
// accuracy over all samples. next fills x (batchSize*InDim values) and labels with up to
// batchSize samples and returns how many it wrote; it returns io.EOF (with 0 or more
// samples) at the end. mnist.Batcher's NextFloat64 has this signature. Each batch is one
// Model.Loss call, which the model's graph stages split across their workers (graph.Options.Workers,
// GOMAXPROCS by default); parameter gradients are not touched.
func Evaluate(m *Model, next func(x []float64, labels []int) (int, error), batchSize int) (EvalResult, error) {
	if m == nil || next == nil || batchSize <= 0 {
		return EvalResult{}, errors.New("layers: Evaluate needs a model, a batch source and a positive batch size")
	}
	x := make([]float64, batchSize*m.InDim())
	labels := make([]int, batchSize)
	var res EvalResult
	var lossSum, correct float64
	for {
		n, err := next(x, labels)
		if err != nil && err != io.EOF {
			return res, errors.Wrap(err, "layers: Evaluate: reading a batch")
		}
		if n == 0 && err == nil {
			return res, errors.New("layers: Evaluate: batch source returned no samples and no io.EOF")
		}
		if n < 0 || n > batchSize {
			return res, errors.Errorf("layers: Evaluate: batch source returned %d samples for a batch of %d", n, batchSize)
		}
		if n > 0 {
			loss, acc, lerr := m.Loss(x[:n*m.InDim()], labels[:n])
			if lerr != nil {
				return res, lerr
			}
			lossSum += loss * float64(n)
			correct += acc * float64(n)
			res.N += n
		}
		if err == io.EOF {
			break
		}
	}
	if res.N > 0 {
		res.Loss, res.Accuracy = lossSum/float64(res.N), correct/float64(res.N)
	}
	return res, nil
}
