package layers

import (
	"math"

	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
)

// Method selects one of Gorgonia's solvers.
type Method int

// The optimisation methods.
const (
	// Adam is Gorgonia's AdamSolver: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
	// w -= lr (m / (1-b1^k)) / (sqrt(v / (1-b2^k)) + eps) at step k.
	Adam Method = iota + 1
	// Momentum is Gorgonia's Momentum: v = mu v - lr g, w += v (PyTorch's SGD with
	// momentum in another parametrisation: they agree while lr is constant).
	Momentum
	// RMSProp is Gorgonia's RMSPropSolver: c = rho c + (1-rho) g^2, w -= lr g / sqrt(c + eps).
	RMSProp
)

// OptimConfig configures an Optimizer. Zero values take the defaults given per field.
type OptimConfig struct {
	Method Method
	// LR is the base learning rate (default 1e-3); the Schedule multiplies it per step.
	LR float64
	// Momentum of the Momentum method (default 0.9).
	Momentum float64
	// Beta1, Beta2 of Adam (defaults 0.9 and 0.999).
	Beta1, Beta2 float64
	// Rho is RMSProp's decay (default 0.99, PyTorch's alpha; Gorgonia's default is 0.999).
	Rho float64
	// Eps is the denominator's smoothing term of Adam and RMSProp (default 1e-8).
	Eps float64
	// WeightDecay adds WeightDecay * w to every gradient before the step (L2
	// regularisation as PyTorch's weight_decay applies it).
	WeightDecay float64
	// ClipNorm, if positive, rescales the gradient so that its global Euclidean norm
	// is at most ClipNorm before the weight decay and the step (PyTorch's clip_grad_norm_).
	ClipNorm float64
	// Schedule gives the factor applied to LR at each step; nil means constant.
	Schedule Schedule
}

// Optimizer applies one of Gorgonia's solvers to a parameter set from the gradients
// accumulated in it: Step clips the gradient, adds the weight decay, sets the scheduled
// learning rate, runs the solver (which updates Params.Flat in place) and zeroes the
// gradients.
//
// Two Gorgonia v0.9.18 behaviours shape it. The solver keys its moment estimates by
// position in the []ValueGrad it is given, so the Optimizer builds that slice once and
// passes the same one every step. Weight decay is applied here rather than through
// Gorgonia's WithL2Reg, because Momentum's WithL2Reg multiplies the velocity instead of
// the weights (solvers.go, Momentum.Step: tensor.Mul(cw, l2reg)) and RMSProp's subtracts
// l2 * w outside the learning rate; adding it to the gradient gives the same L2 for the
// three methods. The learning rate is changed between steps by applying
// G.WithLearnRate to the existing solver, which sets its rate and keeps its state.
type Optimizer struct {
	ps     *graph.Params
	cfg    OptimConfig
	solver G.Solver
	vgs    []G.ValueGrad
	n      int // Params.Len when vgs were built
	step   int
	lr     float64
}

// NewOptimizer returns an optimiser over every parameter currently in ps. Add no
// parameters afterwards (Step reports it as an error).
func NewOptimizer(ps *graph.Params, cfg OptimConfig) (*Optimizer, error) {
	if ps == nil || ps.Len() == 0 {
		return nil, errors.New("layers: NewOptimizer needs a non-empty parameter set")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.LR, 1e-3)
	def(&cfg.Momentum, 0.9)
	def(&cfg.Beta1, 0.9)
	def(&cfg.Beta2, 0.999)
	def(&cfg.Rho, 0.99)
	def(&cfg.Eps, 1e-8)
	if cfg.LR < 0 || cfg.WeightDecay < 0 || cfg.ClipNorm < 0 {
		return nil, errors.Errorf("layers: negative learning rate, weight decay or clip norm in %+v", cfg)
	}
	o := &Optimizer{ps: ps, cfg: cfg, vgs: ps.ValueGrads(), n: ps.Len()}
	switch cfg.Method {
	case Adam:
		o.solver = G.NewAdamSolver(G.WithLearnRate(cfg.LR), G.WithBeta1(cfg.Beta1), G.WithBeta2(cfg.Beta2), G.WithEps(cfg.Eps))
	case Momentum:
		o.solver = G.NewMomentum(G.WithLearnRate(cfg.LR), G.WithMomentum(cfg.Momentum))
	case RMSProp:
		o.solver = G.NewRMSPropSolver(G.WithLearnRate(cfg.LR), G.WithRho(cfg.Rho), G.WithEps(cfg.Eps))
	default:
		return nil, errors.Errorf("layers: unknown optimisation method %d", int(cfg.Method))
	}
	return o, nil
}

// Step applies one update from the accumulated gradients and zeroes them. It returns the
// global norm of the gradient before clipping and weight decay.
func (o *Optimizer) Step() (gradNorm float64, err error) {
	if o.ps.Len() != o.n {
		return 0, errors.Errorf("layers: the parameter set grew from %d to %d values after the optimiser was made", o.n, o.ps.Len())
	}
	g, w := o.ps.FlatGrad(), o.ps.Flat()
	for _, v := range g {
		gradNorm += v * v
	}
	gradNorm = math.Sqrt(gradNorm)
	if math.IsNaN(gradNorm) || math.IsInf(gradNorm, 0) {
		return gradNorm, errors.Errorf("layers: non-finite gradient (norm %v) at step %d", gradNorm, o.step)
	}
	if c := o.cfg.ClipNorm; c > 0 && gradNorm > c {
		f := c / (gradNorm + 1e-6)
		for i := range g {
			g[i] *= f
		}
	}
	if wd := o.cfg.WeightDecay; wd > 0 {
		for i := range g {
			g[i] += wd * w[i]
		}
	}
	o.lr = o.cfg.LR
	if o.cfg.Schedule != nil {
		o.lr *= o.cfg.Schedule.Factor(o.step)
	}
	G.WithLearnRate(o.lr)(o.solver)
	if err := o.solver.Step(o.vgs); err != nil {
		return gradNorm, errors.Wrap(err, "layers: optimiser step")
	}
	o.step++
	return gradNorm, nil
}

// Advance moves the learning-rate schedule n steps ahead without changing the
// parameters, as if n steps had been taken: training resumed from a checkpoint continues
// the schedule where it stopped. The solver's own state (momentum, Adam's moments) is not
// restored: Gorgonia keeps it unexported, so it restarts from zero. A negative n is an
// error.
func (o *Optimizer) Advance(n int) error {
	if n < 0 {
		return errors.Errorf("layers: Advance(%d)", n)
	}
	o.step += n
	if o.step > 0 {
		o.lr = o.cfg.LR
		if o.cfg.Schedule != nil {
			o.lr *= o.cfg.Schedule.Factor(o.step - 1) // what LR reports: the last step's rate
		}
	}
	return nil
}

// Steps returns the number of steps taken.
func (o *Optimizer) Steps() int { return o.step }

// LR returns the learning rate of the last step (the base rate before the first).
func (o *Optimizer) LR() float64 {
	if o.step == 0 {
		return o.cfg.LR
	}
	return o.lr
}

// Schedule gives the learning-rate factor for a step (counted from 0).
type Schedule interface {
	Factor(step int) float64
}

// ScheduleFunc adapts a function to the Schedule interface.
type ScheduleFunc func(step int) float64

// Factor calls f.
func (f ScheduleFunc) Factor(step int) float64 { return f(step) }

// StepDecay multiplies the rate by gamma at each milestone step: the factor at step s is
// gamma^(number of milestones <= s) (PyTorch's MultiStepLR; the ODE-Net paper divides
// by 10 at epochs 60, 100 and 140).
func StepDecay(gamma float64, milestones ...int) Schedule {
	ms := append([]int(nil), milestones...)
	return ScheduleFunc(func(step int) float64 {
		f := 1.0
		for _, m := range ms {
			if step >= m {
				f *= gamma
			}
		}
		return f
	})
}

// Cosine anneals the factor from 1 to minFactor over total steps along half a cosine,
// and holds minFactor afterwards (PyTorch's CosineAnnealingLR with eta_min = minFactor*lr).
func Cosine(total int, minFactor float64) Schedule {
	return ScheduleFunc(func(step int) float64 {
		if total <= 0 || step >= total {
			return minFactor
		}
		return minFactor + (1-minFactor)*0.5*(1+math.Cos(math.Pi*float64(step)/float64(total)))
	})
}

// OneCycle rises along a cosine from 1/div to 1 over the first warm fraction of total
// steps, then anneals along a cosine to 1/(div*finalDiv) (the one-cycle policy, with
// PyTorch's defaults warm = 0.3, div = 25, finalDiv = 1e4).
func OneCycle(total int, warm, div, finalDiv float64) Schedule {
	up := int(math.Round(warm * float64(total)))
	lo, end := 1/div, 1/(div*finalDiv)
	cosine := func(a, b, frac float64) float64 { return b + (a-b)*0.5*(1+math.Cos(math.Pi*frac)) }
	return ScheduleFunc(func(step int) float64 {
		switch {
		case step >= total:
			return end
		case step < up:
			return cosine(lo, 1, float64(step)/float64(up))
		default:
			return cosine(1, end, float64(step-up)/float64(max(1, total-up)))
		}
	})
}
