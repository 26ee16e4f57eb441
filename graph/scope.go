package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BuildFunc builds the dynamics f(t, z) in the graph of s and returns the node holding
// f. z has shape [B, state...] (B the batch of trajectories) and f must have the same
// shape; t is a scalar node. Parameters are requested through s.Param, so the same
// function can be run to build every graph (forward, VJP, each worker, float32 or
// float64) over one Params set.
type BuildFunc func(s *Scope, t, z *G.Node) (*G.Node, error)

// Scope is the building context handed to a BuildFunc: the graph, its dtype and the
// parameter set. Parameters requested through a Scope become nodes of its graph.
type Scope struct {
	g      *G.ExprGraph
	dtype  tensor.Dtype
	ps     *Params
	prefix string
	bound  *boundParams
}

// boundParams records the parameter nodes of one graph, in the order first requested.
type boundParams struct {
	nodes  []*G.Node
	params []*Param
	byName map[string]*G.Node
}

// NewScope returns a scope that builds into g with the given dtype (tensor.Float64 or
// tensor.Float32) over the parameter set ps.
func NewScope(g *G.ExprGraph, dtype tensor.Dtype, ps *Params) (*Scope, error) {
	if dtype != tensor.Float64 && dtype != tensor.Float32 {
		return nil, errors.Errorf("graph: unsupported dtype %v (want float64 or float32)", dtype)
	}
	if g == nil || ps == nil {
		return nil, errors.New("graph: NewScope needs a graph and a parameter set")
	}
	return &Scope{g: g, dtype: dtype, ps: ps, bound: &boundParams{byName: map[string]*G.Node{}}}, nil
}

// Graph returns the expression graph being built.
func (s *Scope) Graph() *G.ExprGraph { return s.g }

// Dtype returns the graph's element type.
func (s *Scope) Dtype() tensor.Dtype { return s.dtype }

// Params returns the parameter set.
func (s *Scope) Params() *Params { return s.ps }

// Sub returns a scope whose parameter names are prefixed with name + ".".
func (s *Scope) Sub(name string) *Scope {
	c := *s
	if c.prefix == "" {
		c.prefix = name
	} else {
		c.prefix = c.prefix + "." + name
	}
	return &c
}

// Name returns name qualified by the scope's prefix.
func (s *Scope) Name(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "." + name
}

// Param returns the node of the parameter called name (qualified by the scope's prefix),
// registering and initialising the parameter on first use. A second request in the same
// graph returns the same node; a request with another shape is an error.
func (s *Scope) Param(name string, shape []int, init Init) (*G.Node, error) {
	full := s.Name(name)
	p, err := s.ps.Add(full, shape, init)
	if err != nil {
		return nil, err
	}
	if n, ok := s.bound.byName[full]; ok {
		return n, nil
	}
	n := G.NewTensor(s.g, s.dtype, len(shape), G.WithShape(shape...), G.WithName(full))
	s.bound.nodes = append(s.bound.nodes, n)
	s.bound.params = append(s.bound.params, p)
	s.bound.byName[full] = n
	return n, nil
}

// Scalar returns a constant scalar node of the graph's dtype.
func (s *Scope) Scalar(v float64) *G.Node {
	if s.dtype == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// ParamNodes returns the parameter nodes requested so far, in request order, with their parameters.
func (s *Scope) ParamNodes() ([]*G.Node, []*Param) { return s.bound.nodes, s.bound.params }
