package layers

import (
	"math"

	"github.com/pkg/errors"
)

// CrossEntropy returns the mean over the batch of the softmax cross-entropy of logits
// (B rows of `classes` values) against integer labels, and how many rows have their
// largest logit at the label (ties go to the first). If grad is not nil (same length as
// logits) it receives the gradient of the mean loss with respect to the logits,
// (softmax(z) - onehot(label)) / B. Each row is evaluated as log-sum-exp with its maximum
// subtracted, so logits of any size neither overflow nor lose the loss to rounding. It
// allocates nothing.
//
// A Model computes its loss here, outside any graph: the labels are integers, and a loss
// graph split across workers would have to rescale each chunk's mean. SoftmaxCrossEntropy
// is the same function as a graph block.
func CrossEntropy(logits []float64, classes int, labels []int, grad []float64) (loss float64, correct int, err error) {
	if classes < 1 || len(logits) == 0 || len(logits) != classes*len(labels) {
		return 0, 0, errors.Errorf("layers: CrossEntropy: %d logits for %d labels of %d classes", len(logits), len(labels), classes)
	}
	if grad != nil && len(grad) != len(logits) {
		return 0, 0, errors.Errorf("layers: CrossEntropy: gradient has length %d, want %d", len(grad), len(logits))
	}
	b := len(labels)
	inv := 1 / float64(b)
	for i, y := range labels {
		if y < 0 || y >= classes {
			return 0, 0, errors.Errorf("layers: CrossEntropy: label %d of sample %d outside [0, %d)", y, i, classes)
		}
		z := logits[i*classes : (i+1)*classes]
		m, arg := z[0], 0
		for k, v := range z {
			if v > m {
				m, arg = v, k
			}
		}
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return 0, 0, errors.Errorf("layers: CrossEntropy: non-finite logits in sample %d", i)
		}
		sum := 0.0
		for _, v := range z {
			sum += math.Exp(v - m)
		}
		lse := math.Log(sum)
		loss += lse - (z[y] - m)
		if arg == y {
			correct++
		}
		if grad != nil {
			g := grad[i*classes : (i+1)*classes]
			for k, v := range z {
				g[k] = math.Exp(v-m-lse) * inv
			}
			g[y] -= inv
		}
	}
	return loss * inv, correct, nil
}
