package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FuncBuild builds y = g(x) in the graph of s and returns the node holding y. x has shape
// [B, in...]; y must have shape [B, out...] (any per-sample shape).
type FuncBuild func(s *Scope, x *G.Node) (*G.Node, error)

// Func is a differentiable map y = g(x; theta) between batches of tensors defined by a
// Gorgonia graph builder: a layer, or a stack of layers, of a model. Like Dynamics it is
// evaluated through compiled programs, splits large batches across workers, and takes
// its gradients from Gorgonia's symbolic differentiation. Not safe for concurrent use.
type Func struct {
	d *Dynamics
}

// NewFunc returns the map built by build over ps for inputs whose samples have shape
// inShape. It builds the graph once for a batch of one, which registers the parameters
// and fixes the output shape.
func NewFunc(build FuncBuild, ps *Params, inShape []int, opt Options) (*Func, error) {
	if build == nil {
		return nil, errors.New("graph: NewFunc needs a builder")
	}
	d, err := newDynamics(func(s *Scope, _, x *G.Node) (*G.Node, error) { return build(s, x) }, ps, inShape, opt, false)
	if err != nil {
		return nil, err
	}
	return &Func{d: d}, nil
}

// Forward writes g(x) into y. len(x) must be B*InDim and len(y) B*OutDim for some B >= 1.
func (f *Func) Forward(x, y []float64) error { return f.d.Eval(0, x, y) }

// VJP evaluates g(x) into y (nil to skip) and writes a^T dg/dx into dx and a^T dg/dtheta
// into dp (length NumParams, laid out as Params). a has y's length.
func (f *Func) VJP(x, a, y, dx, dp []float64) error {
	_, err := f.d.VJP(0, x, a, y, dx, dp)
	return err
}

// InShape returns the per-sample input shape; OutShape the per-sample output shape.
func (f *Func) InShape() []int { return append([]int(nil), f.d.sample...) }

// OutShape returns the per-sample output shape.
func (f *Func) OutShape() []int { return append([]int(nil), f.d.out...) }

// InDim returns the number of input elements per sample.
func (f *Func) InDim() int { return f.d.dim }

// OutDim returns the number of output elements per sample.
func (f *Func) OutDim() int { return f.d.outDim }

// Params returns the parameters g depends on, in the order of VJP's gradient layout.
func (f *Func) Params() []*Param { return f.d.params }

// NumParams returns the number of scalar parameters g depends on.
func (f *Func) NumParams() int { return f.d.nparam }

// AccumulateGrad adds a gradient in VJP's layout into the parameter set's gradients.
func (f *Func) AccumulateGrad(dp []float64) error { return f.d.AccumulateGrad(dp) }

// Dtype returns the element type of the graphs.
func (f *Func) Dtype() tensor.Dtype { return f.d.opt.Dtype }
