package cnf

import (
	"math"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/pkg/errors"
)

// StepResult reports one training step.
type StepResult struct {
	// Loss is NLL + Kinetic weight * KineticMean + Frobenius weight * FrobeniusMean.
	Loss float64
	// NLL is the batch mean of -log p(x) in nats.
	NLL float64
	// KineticMean and FrobeniusMean are the batch means of the regulariser integrals
	// (0 when off).
	KineticMean, FrobeniusMean float64
	// Stats are the adjoint's costs: ForwardNFE and BackwardNFE count evaluations of the
	// augmented dynamics and of its VJP.
	Stats adjoint.Stats
}

// Gradient computes the training loss of the batch x (B*D values), the mean negative
// log-likelihood plus the weighted RNODE regularisers, and adds its gradient with
// respect to the flow's parameters into the parameter set's accumulated gradients
// (graph.Params.FlatGrad), through the adjoint method of Config.Adjoint on the augmented
// state. An optimiser step (layers.Optimizer, or Gorgonia's Adam over
// Params.ValueGrads) then applies and clears it. For Hutchinson traces one probe is
// drawn for the batch and used by both the forward solve and the backward pass.
func (fl *Flow) Gradient(x []float64) (*StepResult, error) {
	y0, b, err := fl.initial(x)
	if err != nil {
		return nil, err
	}
	cfg := fl.cfg
	tape, err := adjoint.Forward(fl.aug, y0, []float64{cfg.DataTime, cfg.BaseTime}, cfg.Adjoint)
	if err != nil {
		return nil, errors.Wrap(err, "cnf: training forward solve")
	}
	y := tape.Y()[1]
	d := cfg.Dim
	nz := b * d
	inv := 1 / float64(b)
	s2 := cfg.BaseStd * cfg.BaseStd
	dir := sign(cfg.BaseTime - cfg.DataTime)
	res := &StepResult{}
	g := make([]float64, len(y))
	for s := 0; s < b; s++ {
		z := y[s*d : (s+1)*d]
		res.NLL -= (fl.BaseLogDensity(z) - y[nz+s]) * inv
		for j := range z {
			g[s*d+j] = z[j] / s2 * inv // d(-log p_base)/dz
		}
		g[nz+s] = inv // -log p(x) = -log p_base + Δ
	}
	o := nz + b
	res.Loss = res.NLL
	if fl.aug.kinetic {
		for s := 0; s < b; s++ {
			res.KineticMean += dir * y[o+s] * inv
			g[o+s] = cfg.Kinetic * dir * inv
		}
		res.Loss += cfg.Kinetic * res.KineticMean
		o += b
	}
	if fl.aug.frobenius {
		for s := 0; s < b; s++ {
			res.FrobeniusMean += dir * y[o+s] * inv
			g[o+s] = cfg.Frobenius * dir * inv
		}
		res.Loss += cfg.Frobenius * res.FrobeniusMean
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, errors.Errorf("cnf: non-finite loss %g", res.Loss)
	}
	grads, err := tape.Backward([][]float64{nil, g})
	if err != nil {
		return res, errors.Wrap(err, "cnf: training backward pass")
	}
	res.Stats = grads.Stats
	if err := fl.f.AccumulateGrad(grads.Params); err != nil {
		return res, err
	}
	return res, nil
}
