package layers

import (
	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
)

// ODEConfig configures an ODE block: the interval, the solver and the gradient method.
type ODEConfig struct {
	// T0 and T1 bound the integration interval (default [0, 1]).
	T0, T1 float64
	// Solver is the forward solver: an adaptive method with tolerances (the paper's
	// ODE-Net uses Dopri5 with rtol = atol = 1e-3) or a fixed-step method with Step.
	Solver odeint.Options
	// Gradient selects the gradient method: adjoint.Backsolve (the paper's adjoint,
	// constant memory), adjoint.Checkpointed, or adjoint.Direct (backpropagation through
	// the solver's steps: with a fixed-step method this is the paper's RK-Net).
	Gradient adjoint.Method
	// Seminorm leaves the parameter adjoint out of Backsolve's backward error norm.
	Seminorm bool
	// Backward configures Backsolve's backward solves (nil: as Solver).
	Backward *odeint.Options
	// CheckpointEvery sets the Checkpointed method's checkpoint spacing in steps.
	CheckpointEvery int
}

// ODEBlock is the continuous-depth stage y = z(T1), dz/dt = f(t, z), z(T0) = x, solved
// for the whole batch as one state (the step sizes are shared, as in torchdiffeq), with
// gradients from the chosen adjoint method. It keeps the forward solve's tape between
// Forward and Backward: its size depends on the method (see package adjoint).
type ODEBlock struct {
	cfg  ODEConfig
	d    *graph.Dynamics
	tape *adjoint.Tape
	ts   [2]float64
	dLdy [2][]float64
	nfe  [2]int
	last adjoint.Stats
}

// NewODEBlock compiles the dynamics f over ps for states whose samples have shape shape.
// f is the same Layer a ResBlock would use (same parameter names).
func NewODEBlock(f Layer, ps *graph.Params, shape []int, opt graph.Options, cfg ODEConfig) (*ODEBlock, error) {
	if f == nil {
		return nil, errors.New("layers: NewODEBlock needs a layer")
	}
	if cfg.T0 == 0 && cfg.T1 == 0 {
		cfg.T1 = 1
	}
	if cfg.T0 == cfg.T1 {
		return nil, errors.Errorf("layers: ODE block over the empty interval [%g, %g]", cfg.T0, cfg.T1)
	}
	d, err := graph.NewDynamics(DynamicsOf(f), ps, shape, opt)
	if err != nil {
		return nil, errors.Wrap(err, "layers: building an ODE block")
	}
	return &ODEBlock{cfg: cfg, d: d, ts: [2]float64{cfg.T0, cfg.T1}}, nil
}

// Dynamics returns the compiled right-hand side f(t, z).
func (b *ODEBlock) Dynamics() *graph.Dynamics { return b.d }

// Config returns the block's configuration.
func (b *ODEBlock) Config() ODEConfig { return b.cfg }

// SetConfig changes the solver and gradient settings (for example a tighter tolerance at
// test time); it validates the interval as NewODEBlock does.
func (b *ODEBlock) SetConfig(cfg ODEConfig) error {
	if cfg.T0 == cfg.T1 {
		return errors.Errorf("layers: ODE block over the empty interval [%g, %g]", cfg.T0, cfg.T1)
	}
	b.cfg, b.ts, b.tape = cfg, [2]float64{cfg.T0, cfg.T1}, nil
	return nil
}

// InShape returns the per-sample state shape.
func (b *ODEBlock) InShape() []int { return b.d.SampleShape() }

// OutShape returns the per-sample state shape.
func (b *ODEBlock) OutShape() []int { return b.d.SampleShape() }

// NFE returns the evaluations of f in the last Forward and the last Backward (a
// backward evaluation is one VJP or one evaluation of f).
func (b *ODEBlock) NFE() (forward, backward int) { return b.nfe[0], b.nfe[1] }

// Stats returns the adjoint statistics of the last Backward: NFE, steps, and the bytes
// kept from the forward pass (RetainedBytes) and used by the backward pass (WorkBytes).
func (b *ODEBlock) Stats() adjoint.Stats { return b.last }

// Forward solves from x over [T0, T1] and writes z(T1) into y.
func (b *ODEBlock) Forward(x, y []float64) error {
	if len(y) != len(x) {
		return errors.Errorf("layers: ODE block: output has length %d, input %d", len(y), len(x))
	}
	tape, err := adjoint.Forward(b.d, x, b.ts[:], adjoint.Options{
		Method: b.cfg.Gradient, Solver: b.cfg.Solver, Backward: b.cfg.Backward,
		Seminorm: b.cfg.Seminorm, CheckpointEvery: b.cfg.CheckpointEvery,
		NoTimeGradients: true, // the block's interval is fixed
	})
	if err != nil {
		return errors.Wrap(err, "layers: ODE block forward")
	}
	b.tape = tape
	b.nfe = [2]int{tape.Solution().Stats.NFE, 0}
	copy(y, tape.Y()[1])
	return nil
}

// Backward runs the adjoint method with the cotangent dy of z(T1), writes the cotangent
// of x into dx (if not nil) and adds the parameter gradients into the parameter set.
func (b *ODEBlock) Backward(x, _, dy, dx []float64) error {
	if b.tape == nil {
		return errors.New("layers: ODE block Backward without Forward")
	}
	if len(dy) != len(x) || (dx != nil && len(dx) != len(x)) {
		return errors.Errorf("layers: ODE block: input %d, cotangent %d, dx %d", len(x), len(dy), len(dx))
	}
	b.dLdy[1] = dy
	g, err := b.tape.Backward(b.dLdy[:])
	if err != nil {
		return errors.Wrap(err, "layers: ODE block backward")
	}
	b.nfe[1] = g.Stats.BackwardNFE
	b.last = g.Stats
	if dx != nil {
		copy(dx, g.Y0)
	}
	return b.d.AccumulateGrad(g.Params)
}
