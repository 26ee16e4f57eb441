package layers

import (
	"strconv"

	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
)

// Layer is a model building block: it builds y = layer(t, x) into the graph of s and
// returns y. x has shape [B, ...] with B the batch; t is the scalar time node of an ODE
// right-hand side, or nil where there is no time (a plain stage). Layers that use t
// return an error when it is nil. Parameters are registered through s.Param under names
// local to the layer ("weight", "bias"); the caller chooses the prefix with s.Sub, as
// Sequential and Named do, so the same Layer value builds every graph (forward, VJP,
// each worker, float32 or float64) over one parameter set.
type Layer interface {
	Build(s *graph.Scope, t, x *G.Node) (*G.Node, error)
}

// LayerFunc adapts a function to the Layer interface.
type LayerFunc func(s *graph.Scope, t, x *G.Node) (*G.Node, error)

// Build calls f.
func (f LayerFunc) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) { return f(s, t, x) }

// Sequential applies its layers in order. Layer i registers its parameters under the
// prefix "i." (as PyTorch's nn.Sequential names them), so a parameter-free layer still
// takes an index and the names of a checkpoint follow the order of the list.
type Sequential []Layer

// Build builds the layers one after the other.
func (q Sequential) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) {
	if len(q) == 0 {
		return nil, errors.New("layers: empty Sequential")
	}
	for i, l := range q {
		if l == nil {
			return nil, errors.Errorf("layers: Sequential: layer %d is nil", i)
		}
		y, err := l.Build(s.Sub(strconv.Itoa(i)), t, x)
		if err != nil {
			return nil, errors.Wrapf(err, "layer %s", s.Name(strconv.Itoa(i)))
		}
		x = y
	}
	return x, nil
}

// Named builds Layer with its parameter names prefixed by Name + ".".
type Named struct {
	Name  string
	Layer Layer
}

// Build builds the wrapped layer in the sub-scope Name.
func (n Named) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) {
	if n.Name == "" || n.Layer == nil {
		return nil, errors.New("layers: Named needs a name and a layer")
	}
	return n.Layer.Build(s.Sub(n.Name), t, x)
}

// FuncOf returns l as a graph.FuncBuild: the builder of a plain stage, without time.
func FuncOf(l Layer) graph.FuncBuild {
	return func(s *graph.Scope, x *G.Node) (*G.Node, error) { return l.Build(s, nil, x) }
}

// DynamicsOf returns l as a graph.BuildFunc: the right-hand side f(t, z) that a ResBlock
// applies once and an ODE block integrates. l must map a state to a state of the same shape.
func DynamicsOf(l Layer) graph.BuildFunc {
	return func(s *graph.Scope, t, z *G.Node) (*G.Node, error) { return l.Build(s, t, z) }
}
