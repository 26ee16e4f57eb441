package adjoint

import (
	"math"

	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
)

// Dynamics is what a gradient method needs of a right-hand side f(t, y; theta):
// graph.Dynamics satisfies it.
type Dynamics interface {
	// Eval writes f(t, y) into dydt.
	Eval(t float64, y, dydt []float64) error
	// VJP writes a^T df/dy into dy and a^T df/dtheta into dp (length NumParams), f(t, y)
	// into f when f is not nil, and returns a^T df/dt.
	VJP(t float64, y, a, f, dy, dp []float64) (float64, error)
	// NumParams is the number of parameters theta.
	NumParams() int
}

// Method selects how gradients are computed.
type Method int

const (
	// Backsolve is the paper's adjoint method: constant memory, the backward state
	// is integrated with its own error control.
	Backsolve Method = iota
	// Checkpointed keeps the state every CheckpointEvery accepted steps and
	// backpropagates through each re-solved segment.
	Checkpointed
	// Direct backpropagates through every recorded Runge-Kutta step.
	Direct
)

func (m Method) String() string {
	switch m {
	case Backsolve:
		return "backsolve"
	case Checkpointed:
		return "checkpointed"
	case Direct:
		return "direct"
	}
	return "invalid"
}

// Options configure a gradient computation.
type Options struct {
	// Method is the gradient method (Backsolve by default).
	Method Method
	// Solver configures the forward solve (any odeint method, adaptive or fixed).
	// Events and Dense are not supported by the gradient methods.
	Solver odeint.Options
	// Backward configures Backsolve's backward solves; nil uses Solver's method,
	// tolerances and step settings.
	Backward *odeint.Options
	// Seminorm leaves a_theta and a_t out of Backsolve's backward error norm.
	Seminorm bool
	// CheckpointEvery is the number of accepted steps between checkpoints of the
	// Checkpointed method (default 1: every step).
	CheckpointEvery int
	// NoTimeGradients skips dL/dt_i (Gradients.T stays zero): for models whose output
	// times are fixed (an ODE block, a time series on a given grid). It saves one
	// evaluation of f per output time with a non-nil cotangent for Backsolve; the
	// discrete methods take the time gradients from the stages they already hold and
	// spend an evaluation only on an output that falls exactly on a step end before t_N.
	NoTimeGradients bool
}

// Stats report the cost of a forward and backward pass.
type Stats struct {
	ForwardNFE    int // evaluations of f in the forward solve
	ForwardSteps  int // accepted forward steps
	BackwardNFE   int // evaluations of f or of its VJP in the backward pass
	BackwardSteps int // accepted backward steps (Backsolve), steps backpropagated otherwise
	// RetainedBytes is what the forward pass keeps for the backward pass: the outputs,
	// plus the checkpoints and step sizes (Checkpointed) or every step's stages (Direct).
	// It is the memory that grows with the number of steps, or does not.
	RetainedBytes int64
	// WorkBytes is the backward pass's own working memory, independent of the number of
	// steps: Backsolve's solver buffers for the augmented state [z, a, a_theta, a_t]
	// (about 8 state-sized vectors of length 2n+p+1), the discrete methods' stage
	// cotangents and Checkpointed's re-solved segment. The dynamics' own buffers are not
	// counted (every method has them).
	WorkBytes int64
}

// Gradients are the results of Tape.Backward.
type Gradients struct {
	Y0     []float64 // dL/dz(t_0)
	Params []float64 // dL/dtheta, laid out as the dynamics' VJP lays out dp
	// T holds dL/dt_i for every output time. Backsolve gives the exact flow's
	// sensitivities (dL/dt_i = a(t_i) . f(t_i, z_i) for i >= 1, and
	// dL/dt_0 = -a(t_0) . f(t_0, z_0)) to its tolerance. Direct and Checkpointed give
	// those of the discrete solution with its steps held fixed except the last, which
	// ends on t_N: an output inside a step moves along the dense output, t_N stretches
	// the last step, t_0 translates the steps (exactly what a fixed-step solve does; an
	// adaptive solve's step controller is not differentiated).
	T     []float64
	Stats Stats
}

// Tape is a forward solve together with what its gradient method needs for the
// backward pass. It is not safe for concurrent use.
type Tape struct {
	f    Dynamics
	opt  Options
	ts   []float64
	sol  *odeint.Solution
	n, p int
	rec  *recorder // Direct and Checkpointed
	fwd  Stats
}

// Forward solves dy/dt = f(t, y) from y0 at the output times ts (ts[0] is the initial
// time, strictly monotone) and keeps what opt.Method needs for Backward.
func Forward(f Dynamics, y0, ts []float64, opt Options) (*Tape, error) {
	if f == nil {
		return nil, errors.New("adjoint: nil dynamics")
	}
	if len(y0) == 0 {
		return nil, errors.New("adjoint: empty initial state")
	}
	if opt.Method < Backsolve || opt.Method > Direct {
		return nil, errors.Errorf("adjoint: invalid method %d", opt.Method)
	}
	if len(opt.Solver.Events) > 0 {
		return nil, errors.New("adjoint: events are not supported by the gradient methods")
	}
	if opt.CheckpointEvery < 0 {
		return nil, errors.Errorf("adjoint: CheckpointEvery %d < 0", opt.CheckpointEvery)
	}
	if opt.CheckpointEvery == 0 {
		opt.CheckpointEvery = 1
	}
	for _, v := range y0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.Wrap(odeint.ErrNonFinite, "adjoint: initial state")
		}
	}
	tp := &Tape{f: f, opt: opt, ts: append([]float64(nil), ts...), n: len(y0), p: f.NumParams()}
	sopt := opt.Solver
	sopt.Dense = false
	if opt.Method != Backsolve {
		m := sopt.Method
		if m == nil {
			m = odeint.Dopri5
		}
		tp.rec = newRecorder(m, len(y0), opt.Method == Direct, opt.CheckpointEvery)
		user := sopt.OnStep
		sopt.OnStep = func(s *odeint.StepInfo) error {
			tp.rec.record(s)
			if user != nil {
				return user(s)
			}
			return nil
		}
	}
	sol, err := odeint.Solve(f.Eval, y0, ts, sopt)
	if err != nil {
		return nil, errors.Wrap(err, "adjoint: forward solve")
	}
	tp.sol = sol
	tp.fwd = Stats{ForwardNFE: sol.Stats.NFE, ForwardSteps: sol.Stats.Accepted}
	return tp, nil
}

// Solution returns the forward solution.
func (tp *Tape) Solution() *odeint.Solution { return tp.sol }

// Y returns the forward outputs: Y()[i] is the state at ts[i]. Shared, do not modify.
func (tp *Tape) Y() [][]float64 { return tp.sol.Y }

// Backward returns the gradients for the cotangents dLdy[i] = dL/dz(t_i) (one per
// output time; a nil entry is zero). The tape can be used again.
func (tp *Tape) Backward(dLdy [][]float64) (*Gradients, error) {
	if len(dLdy) != len(tp.ts) {
		return nil, errors.Errorf("adjoint: %d cotangents for %d output times", len(dLdy), len(tp.ts))
	}
	for i, g := range dLdy {
		if g == nil {
			continue
		}
		if len(g) != tp.n {
			return nil, errors.Errorf("adjoint: cotangent %d has length %d, state %d", i, len(g), tp.n)
		}
		for _, v := range g {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, errors.Wrapf(odeint.ErrNonFinite, "adjoint: cotangent %d", i)
			}
		}
	}
	g := &Gradients{Y0: make([]float64, tp.n), Params: make([]float64, tp.p), T: make([]float64, len(tp.ts)), Stats: tp.fwd}
	outBytes := int64(8 * len(tp.ts) * tp.n)
	var err error
	switch tp.opt.Method {
	case Backsolve:
		g.Stats.RetainedBytes = outBytes
		err = tp.backsolve(dLdy, g)
	default:
		err = tp.discrete(dLdy, g)
		g.Stats.RetainedBytes += outBytes
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Gradient runs Forward and Backward in one call, with the cotangents given by loss
// from the forward outputs.
func Gradient(f Dynamics, y0, ts []float64, opt Options, loss func(y [][]float64) (dLdy [][]float64, err error)) (*Gradients, error) {
	tp, err := Forward(f, y0, ts, opt)
	if err != nil {
		return nil, err
	}
	dLdy, err := loss(tp.Y())
	if err != nil {
		return nil, errors.Wrap(err, "adjoint: loss")
	}
	return tp.Backward(dLdy)
}

// timeGrads sets dL/dt_i = dL/dy_i . f(t_i, y_i) for i >= 1, the sensitivity of the loss
// to moving an output time, and returns the number of evaluations of f it made.
func (tp *Tape) timeGrads(dLdy [][]float64, g *Gradients, buf []float64) (int, error) {
	nfe := 0
	if tp.opt.NoTimeGradients {
		return 0, nil
	}
	for i := 1; i < len(tp.ts); i++ {
		if dLdy[i] == nil {
			continue
		}
		if err := tp.f.Eval(tp.ts[i], tp.sol.Y[i], buf); err != nil {
			return nfe, errors.Wrapf(err, "adjoint: f at output time %g", tp.ts[i])
		}
		nfe++
		g.T[i] = dot(dLdy[i], buf)
	}
	return nfe, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func addTo(dst, src []float64) {
	for i := range dst {
		dst[i] += src[i]
	}
}
