package mnist

import (
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/neuralode/neuralode/layers"
	"github.com/pkg/errors"
)

// TrainConfig configures Train.
type TrainConfig struct {
	Epochs    int     `json:"epochs"`
	BatchSize int     `json:"batch_size"`
	Optimizer string  `json:"optimizer"` // "sgd" (momentum 0.9) or "adam"
	LR        float64 `json:"lr"`        // peak learning rate
	// Schedule: "onecycle" (cosine warm-up over 30 % then cosine decay), "paper"
	// (x0.1 at epochs 60, 100 and 140 of 160), "cosine", "constant".
	Schedule    string  `json:"schedule"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Augment applies random crops with 4-pixel padding to the training images.
	Augment bool   `json:"augment,omitempty"`
	Seed    uint64 `json:"seed"`
	// TrainLimit and TestLimit use class-balanced subsets of that many images (0: all).
	TrainLimit int `json:"train_limit,omitempty"`
	TestLimit  int `json:"test_limit,omitempty"`

	// StartEpoch resumes a run at this epoch (0 or 1: from the start): the epochs
	// before it are skipped with the data order and the learning-rate schedule
	// advanced exactly as if they had been trained, so the resumed epochs see the
	// batches and rates of an uninterrupted run. The model's parameters are the
	// caller's to load; the optimiser's momentum restarts from zero (see
	// layers.Optimizer.Advance).
	StartEpoch int `json:"-"`
	// AfterEpoch, if not nil, is called after every trained epoch (with its
	// statistics, test figures included), for example to save a checkpoint; an error
	// stops training and is returned.
	AfterEpoch func(EpochStats) error `json:"-"`
}

// BatchStats describe one training batch, for progress displays.
type BatchStats struct {
	Epoch, Batch, Batches int
	Loss, Accuracy        float64
	NFEForward            int
	NFEBackward           int
	LR                    float64
}

// EpochStats summarise one epoch.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	TestLoss  float64 `json:"test_loss"`
	TestAcc   float64 `json:"test_acc"`
	// Mean evaluations of the dynamics per training batch, forward and backward.
	NFEForward  float64 `json:"nfe_forward"`
	NFEBackward float64 `json:"nfe_backward"`
	Seconds     float64 `json:"seconds"`      // training time of the epoch
	EvalSeconds float64 `json:"eval_seconds"` // test-set evaluation time
}

// Report is the outcome of Train.
type Report struct {
	Epochs []EpochStats `json:"epochs"`
	// BatchLoss is the training loss of every batch, in order.
	BatchLoss []float64 `json:"-"`
	// PeakHeapBytes is the largest Go heap in use seen after any training batch.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
}

// Final returns the last epoch's statistics.
func (r *Report) Final() EpochStats {
	if len(r.Epochs) == 0 {
		return EpochStats{}
	}
	return r.Epochs[len(r.Epochs)-1]
}

func (c *TrainConfig) defaults() error {
	if c.Epochs <= 0 {
		return errors.Errorf("mnist: %d epochs", c.Epochs)
	}
	if c.BatchSize <= 0 {
		return errors.Errorf("mnist: batch size %d", c.BatchSize)
	}
	if c.LR <= 0 || math.IsNaN(c.LR) || math.IsInf(c.LR, 0) {
		return errors.Errorf("mnist: learning rate %g", c.LR)
	}
	return nil
}

// NewOptimizer returns the optimiser and learning-rate schedule of cfg for a run of
// stepsPerEpoch batches per epoch.
func NewOptimizer(m *layers.Model, cfg TrainConfig, stepsPerEpoch int) (*layers.Optimizer, error) {
	if m == nil || m.Params == nil {
		return nil, errors.New("mnist: NewOptimizer needs a model with parameters")
	}
	if stepsPerEpoch <= 0 {
		return nil, errors.Errorf("mnist: %d steps per epoch", stepsPerEpoch)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	total := cfg.Epochs * stepsPerEpoch
	oc := layers.OptimConfig{LR: cfg.LR, WeightDecay: cfg.WeightDecay}
	switch strings.ToLower(cfg.Optimizer) {
	case "sgd", "momentum", "":
		oc.Method, oc.Momentum = layers.Momentum, 0.9
	case "adam":
		oc.Method = layers.Adam
	default:
		return nil, errors.Errorf("mnist: unknown optimizer %q", cfg.Optimizer)
	}
	switch strings.ToLower(cfg.Schedule) {
	case "onecycle", "":
		oc.Schedule = layers.OneCycle(total, 0.3, 25, 1e4)
	case "paper":
		oc.Schedule = layers.StepDecay(0.1, 60*stepsPerEpoch, 100*stepsPerEpoch, 140*stepsPerEpoch)
	case "cosine":
		oc.Schedule = layers.Cosine(total, 0)
	case "constant":
	default:
		return nil, errors.Errorf("mnist: unknown schedule %q", cfg.Schedule)
	}
	return layers.NewOptimizer(m.Params, oc)
}

// Train trains m on train for cfg.Epochs epochs and evaluates it on test after each
// epoch. onBatch, if not nil, is called after every training batch. The model's
// parameters are updated in place; the report holds the curves.
func Train(m *layers.Model, train, test *Dataset, cfg TrainConfig, onBatch func(BatchStats)) (*Report, error) {
	if m == nil || train == nil || test == nil {
		return nil, errors.New("mnist: Train needs a model and both data sets")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var err error
	if cfg.TrainLimit > 0 && cfg.TrainLimit < train.N {
		if train, err = train.Balanced(cfg.TrainLimit); err != nil {
			return nil, err
		}
	}
	if cfg.TestLimit > 0 && cfg.TestLimit < test.N {
		if test, err = test.Balanced(cfg.TestLimit); err != nil {
			return nil, err
		}
	}
	bopt := BatchOptions{BatchSize: cfg.BatchSize, Shuffle: true, DropLast: true, Rand: rand.New(rand.NewPCG(cfg.Seed, 0x6d6e697374))}
	if cfg.Augment {
		bopt.CropPad = 4
	}
	if train.N < cfg.BatchSize {
		bopt.DropLast = false
	}
	batcher, err := NewBatcher(train, bopt)
	if err != nil {
		return nil, err
	}
	steps := batcher.BatchesPerEpoch()
	if bopt.DropLast {
		steps = train.N / cfg.BatchSize
	}
	opt, err := NewOptimizer(m, cfg, steps)
	if err != nil {
		return nil, err
	}
	x := make([]float64, cfg.BatchSize*Rows*Cols)
	labels := make([]int, cfg.BatchSize)
	rep := &Report{}
	var ms runtime.MemStats
	if cfg.StartEpoch > cfg.Epochs {
		return nil, errors.Errorf("mnist: resuming at epoch %d of a %d-epoch run", cfg.StartEpoch, cfg.Epochs)
	}
	for epoch := 1; epoch < cfg.StartEpoch; epoch++ {
		// A skipped epoch draws its batches (the shuffle and the crops consume the
		// batcher's random numbers) and advances the schedule by its steps.
		for {
			if _, err := batcher.NextFloat64(x, labels); err != nil {
				if err == io.EOF {
					break
				}
				return nil, err
			}
		}
		if err := opt.Advance(steps); err != nil {
			return nil, err
		}
	}
	for epoch := max(1, cfg.StartEpoch); epoch <= cfg.Epochs; epoch++ {
		start := time.Now()
		var es EpochStats
		es.Epoch = epoch
		nb := 0
		for {
			n, err := batcher.NextFloat64(x, labels)
			if err == io.EOF && n == 0 {
				break
			}
			if err != nil && err != io.EOF {
				return rep, err
			}
			lr := opt.LR()
			loss, acc, lerr := m.Loss(x[:n*Rows*Cols], labels[:n])
			if lerr != nil {
				return rep, errors.Wrapf(lerr, "mnist: epoch %d batch %d", epoch, nb+1)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return rep, errors.Errorf("mnist: epoch %d batch %d: the loss is %g (try a smaller learning rate)", epoch, nb+1, loss)
			}
			if err := m.Backward(); err != nil {
				return rep, errors.Wrapf(err, "mnist: epoch %d batch %d", epoch, nb+1)
			}
			if _, err := opt.Step(); err != nil {
				return rep, err
			}
			fw, bw := m.NFE()
			nb++
			es.TrainLoss += loss
			es.TrainAcc += acc
			es.NFEForward += float64(fw)
			es.NFEBackward += float64(bw)
			rep.BatchLoss = append(rep.BatchLoss, loss)
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > rep.PeakHeapBytes {
				rep.PeakHeapBytes = ms.HeapInuse
			}
			if onBatch != nil {
				onBatch(BatchStats{Epoch: epoch, Batch: nb, Batches: steps, Loss: loss, Accuracy: acc, NFEForward: fw, NFEBackward: bw, LR: lr})
			}
			if err == io.EOF {
				break
			}
		}
		if nb == 0 {
			return rep, errors.New("mnist: no training batch")
		}
		es.TrainLoss /= float64(nb)
		es.TrainAcc /= float64(nb)
		es.NFEForward /= float64(nb)
		es.NFEBackward /= float64(nb)
		es.Seconds = time.Since(start).Seconds()
		evalStart := time.Now()
		res, err := Evaluate(m, test, cfg.BatchSize)
		if err != nil {
			return rep, err
		}
		es.TestLoss, es.TestAcc = res.Loss, res.Accuracy
		es.EvalSeconds = time.Since(evalStart).Seconds()
		rep.Epochs = append(rep.Epochs, es)
		if cfg.AfterEpoch != nil {
			if err := cfg.AfterEpoch(es); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// Evaluate returns the loss and accuracy of m on every image of d, in batches.
func Evaluate(m *layers.Model, d *Dataset, batchSize int) (layers.EvalResult, error) {
	b, err := NewBatcher(d, BatchOptions{BatchSize: batchSize})
	if err != nil {
		return layers.EvalResult{}, err
	}
	return layers.Evaluate(m, b.NextFloat64, batchSize)
}
