package layers

import (
	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
)

// Stage is one link of a Model's chain: a map from a batch of inputs to a batch of
// outputs with its backward pass. Inputs and outputs are flat []float64 holding B samples
// of InShape and OutShape (B inferred from the length). A stage is a compiled Gorgonia
// graph (GraphStage, ResBlock) or an ODE block (forward: a solve; backward: an adjoint
// method); the Model does not know which.
//
// Forward writes the outputs y for the inputs x. Backward is called after Forward on the
// same x, with the outputs y that Forward wrote and the cotangent dy of the loss with
// respect to them: it writes the cotangent of the inputs into dx (nil when the caller
// does not need it) and ADDS the parameter gradients into the Params set the stage was
// built over. The Model owns x, y, dy and dx and never aliases them; a stage may keep
// what else it needs between Forward and Backward (an ODE block's checkpoints).
// Stages are not safe for concurrent use.
type Stage interface {
	InShape() []int
	OutShape() []int
	Forward(x, y []float64) error
	Backward(x, y, dy, dx []float64) error
}

// NFEReporter is implemented by stages that evaluate a dynamics function a variable
// number of times (ODE blocks): the number of evaluations of f during the last Forward
// and the last Backward. Model.NFE sums them.
type NFEReporter interface {
	NFE() (forward, backward int)
}

// GraphStage is a Stage defined by a Layer, compiled into forward and VJP programs by
// graph.Func. It builds without time (t is nil): time-dependent layers belong in a
// ResBlock or an ODE block.
type GraphStage struct {
	f       *graph.Func
	dp      []float64 // parameter-gradient scratch in the Func's layout
	scratch []float64 // dx when the caller passes nil
}

// NewGraphStage compiles l over ps for inputs whose samples have shape inShape. Building
// registers (and initialises) the layer's parameters in ps. opt sets the graph dtype and
// the workers one call may use.
func NewGraphStage(l Layer, ps *graph.Params, inShape []int, opt graph.Options) (*GraphStage, error) {
	if l == nil {
		return nil, errors.New("layers: NewGraphStage needs a layer")
	}
	f, err := graph.NewFunc(FuncOf(l), ps, inShape, opt)
	if err != nil {
		return nil, errors.Wrap(err, "layers: building a graph stage")
	}
	return &GraphStage{f: f, dp: make([]float64, f.NumParams())}, nil
}

// Func returns the compiled map.
func (g *GraphStage) Func() *graph.Func { return g.f }

// InShape returns the per-sample input shape.
func (g *GraphStage) InShape() []int { return g.f.InShape() }

// OutShape returns the per-sample output shape.
func (g *GraphStage) OutShape() []int { return g.f.OutShape() }

// Forward writes the stage's outputs for x into y.
func (g *GraphStage) Forward(x, y []float64) error { return g.f.Forward(x, y) }

// Backward runs the VJP program with cotangent dy, writes the input cotangent into dx
// (if not nil) and adds the parameter gradients into the parameter set.
func (g *GraphStage) Backward(x, _, dy, dx []float64) error {
	if dx == nil {
		if cap(g.scratch) < len(x) {
			g.scratch = make([]float64, len(x))
		}
		dx = g.scratch[:len(x)]
	}
	if err := g.f.VJP(x, dy, nil, dx, g.dp); err != nil {
		return err
	}
	return g.f.AccumulateGrad(g.dp)
}

// ResBlock is the residual stage y = x + H f(T, x), one explicit Euler step of the
// dynamics f: with H = 1 and T = 0 it is a ResNet block. f is built by DynamicsOf from a
// Layer that maps a state to a state of the same shape: the same Layer, with the same
// parameter names, that an ODE block would integrate, so ResNet, RK-Net and ODE-Net
// variants of a model share their parts and checkpoints.
type ResBlock struct {
	// T is the time passed to f (time-dependent layers see it); H scales f.
	T, H float64

	d       *graph.Dynamics
	dp      []float64
	a       []float64 // H * dy
	scratch []float64
}

// NewResBlock compiles the dynamics f over ps for states whose samples have shape shape,
// with T = 0 and H = 1.
func NewResBlock(f Layer, ps *graph.Params, shape []int, opt graph.Options) (*ResBlock, error) {
	if f == nil {
		return nil, errors.New("layers: NewResBlock needs a layer")
	}
	d, err := graph.NewDynamics(DynamicsOf(f), ps, shape, opt)
	if err != nil {
		return nil, errors.Wrap(err, "layers: building a residual stage")
	}
	return &ResBlock{T: 0, H: 1, d: d, dp: make([]float64, d.NumParams())}, nil
}

// Dynamics returns the compiled right-hand side f(t, z).
func (r *ResBlock) Dynamics() *graph.Dynamics { return r.d }

// InShape returns the per-sample state shape.
func (r *ResBlock) InShape() []int { return r.d.SampleShape() }

// OutShape returns the per-sample state shape.
func (r *ResBlock) OutShape() []int { return r.d.SampleShape() }

// Forward writes x + H f(T, x) into y.
func (r *ResBlock) Forward(x, y []float64) error {
	if len(y) != len(x) {
		return errors.Errorf("layers: ResBlock: output has length %d, input %d", len(y), len(x))
	}
	if err := r.d.Eval(r.T, x, y); err != nil {
		return err
	}
	for i := range y {
		y[i] = x[i] + r.H*y[i]
	}
	return nil
}

// Backward writes dy + H (df/dx)^T dy into dx and adds H (df/dtheta)^T dy to the
// parameter gradients.
func (r *ResBlock) Backward(x, _, dy, dx []float64) error {
	if len(dy) != len(x) || (dx != nil && len(dx) != len(x)) {
		return errors.Errorf("layers: ResBlock: input %d, cotangent %d, dx %d", len(x), len(dy), len(dx))
	}
	if cap(r.scratch) < len(x) {
		r.scratch = make([]float64, len(x))
		r.a = make([]float64, len(x))
	}
	a, fx := r.a[:len(x)], r.scratch[:len(x)]
	for i, v := range dy {
		a[i] = r.H * v
	}
	if _, err := r.d.VJP(r.T, x, a, nil, fx, r.dp); err != nil {
		return err
	}
	if dx != nil {
		for i := range dx {
			dx[i] = dy[i] + fx[i]
		}
	}
	return r.d.AccumulateGrad(r.dp)
}
