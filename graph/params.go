package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Init fills dst, the values of a parameter of the given shape, with its initial values.
type Init func(rng *rand.Rand, shape []int, dst []float64)

// Zeros initialises a parameter to 0.
func Zeros() Init { return Constant(0) }

// Constant initialises every element of a parameter to c.
func Constant(c float64) Init {
	return func(_ *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = c
		}
	}
}

// Uniform initialises a parameter with independent draws from U(-bound, bound).
func Uniform(bound float64) Init {
	return func(rng *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = bound * (2*rng.Float64() - 1)
		}
	}
}

// Normal initialises a parameter with independent draws from N(0, std^2).
func Normal(std float64) Init {
	return func(rng *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = std * rng.NormFloat64()
		}
	}
}

// FanIn initialises a parameter as PyTorch initialises the weights and biases of its
// Linear and Conv layers: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) (kaiming_uniform with
// a = sqrt(5) reduces to this bound).
func FanIn(fanIn int) Init {
	if fanIn < 1 {
		fanIn = 1
	}
	return Uniform(1 / math.Sqrt(float64(fanIn)))
}

// Values sets a parameter to a copy of v (len(v) must equal the parameter's size).
func Values(v ...float64) Init {
	return func(_ *rand.Rand, _ []int, dst []float64) { copy(dst, v) }
}

// Param is one named parameter tensor of a Params set. Its values and gradient are
// views into the set's flat slices; obtain them with Params.Value and Params.Grad.
type Param struct {
	Name   string
	Shape  []int
	Offset int // position of the first element in the flat slices
	Size   int // number of elements
}

// Params is a set of named parameter tensors stored in one flat []float64 of values and
// one flat []float64 of accumulated gradients, in the order the parameters were added.
// Graphs bind their parameter nodes to views of these slices (float64 graphs) or copy
// from them before every run (float32 graphs), so an optimiser that updates Flat() in
// place is seen by every program.
//
// Adding parameters may move the flat slices; do not keep slices obtained before an Add.
// A Params set is safe for concurrent reads; adding and updating need exclusive access.
type Params struct {
	rng    *rand.Rand
	list   []*Param
	byName map[string]*Param
	flat   []float64
	grad   []float64
	gen    int // incremented whenever flat/grad are reallocated
}

// NewParams returns an empty parameter set whose initialisers draw from rng. A nil rng
// uses a fixed seed, so models are reproducible by default.
func NewParams(rng *rand.Rand) *Params {
	if rng == nil {
		rng = rand.New(rand.NewPCG(1, 2))
	}
	return &Params{rng: rng, byName: map[string]*Param{}}
}

// Add registers a new parameter and initialises it. Adding a name twice is an error
// unless the shape matches, in which case the existing parameter is returned unchanged
// (graph builders run once per compiled graph and re-request their parameters).
func (ps *Params) Add(name string, shape []int, init Init) (*Param, error) {
	if name == "" {
		return nil, errors.New("graph: parameter with an empty name")
	}
	size := 1
	for _, d := range shape {
		if d <= 0 {
			return nil, errors.Errorf("graph: parameter %q: invalid shape %v", name, shape)
		}
		size *= d
	}
	if p, ok := ps.byName[name]; ok {
		if !sameShape(p.Shape, shape) {
			return nil, errors.Errorf("graph: parameter %q has shape %v, requested %v", name, p.Shape, shape)
		}
		return p, nil
	}
	p := &Param{Name: name, Shape: append([]int(nil), shape...), Offset: len(ps.flat), Size: size}
	if cap(ps.flat)-len(ps.flat) < size {
		ps.gen++
	}
	ps.flat = append(ps.flat, make([]float64, size)...)
	ps.grad = append(ps.grad, make([]float64, size)...)
	if init == nil {
		init = Zeros()
	}
	init(ps.rng, p.Shape, ps.flat[p.Offset:p.Offset+size])
	ps.list = append(ps.list, p)
	ps.byName[name] = p
	return p, nil
}

// Lookup returns the parameter with the given name, or nil.
func (ps *Params) Lookup(name string) *Param { return ps.byName[name] }

// List returns the parameters in the order they were added. The slice is shared: do not modify it.
func (ps *Params) List() []*Param { return ps.list }

// Len returns the total number of scalar parameters.
func (ps *Params) Len() int { return len(ps.flat) }

// Flat returns all parameter values as one slice (a view, not a copy).
func (ps *Params) Flat() []float64 { return ps.flat }

// FlatGrad returns all accumulated gradients as one slice (a view, not a copy).
func (ps *Params) FlatGrad() []float64 { return ps.grad }

// Value returns the values of p (a view into Flat).
func (ps *Params) Value(p *Param) []float64 { return ps.flat[p.Offset : p.Offset+p.Size] }

// Grad returns the accumulated gradient of p (a view into FlatGrad).
func (ps *Params) Grad(p *Param) []float64 { return ps.grad[p.Offset : p.Offset+p.Size] }

// ZeroGrad sets every accumulated gradient to 0.
func (ps *Params) ZeroGrad() {
	for i := range ps.grad {
		ps.grad[i] = 0
	}
}

// SetFlat copies v into the parameter values; len(v) must equal Len().
func (ps *Params) SetFlat(v []float64) error {
	if len(v) != len(ps.flat) {
		return errors.Errorf("graph: SetFlat: %d values for %d parameters", len(v), len(ps.flat))
	}
	copy(ps.flat, v)
	return nil
}

// Names returns the parameter names in sorted order.
func (ps *Params) Names() []string {
	names := make([]string, 0, len(ps.list))
	for _, p := range ps.list {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// ValueGrads returns the parameters as Gorgonia ValueGrads over views of Flat and
// FlatGrad, in the order they were added, for Gorgonia's optimisers (Adam, Momentum,
// RMSProp, ...). Gorgonia's solvers update the values in place and zero the gradients.
// Call it again after adding parameters.
func (ps *Params) ValueGrads() []G.ValueGrad {
	out := make([]G.ValueGrad, len(ps.list))
	for i, p := range ps.list {
		out[i] = &valueGrad{
			name: p.Name,
			v:    tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(ps.Value(p))),
			g:    tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(ps.Grad(p))),
		}
	}
	return out
}

// valueGrad adapts one parameter to Gorgonia's ValueGrad interface.
type valueGrad struct {
	name string
	v, g *tensor.Dense
}

func (vg *valueGrad) Value() G.Value         { return vg.v }
func (vg *valueGrad) Grad() (G.Value, error) { return vg.g, nil }
func (vg *valueGrad) String() string         { return fmt.Sprintf("param %s %v", vg.name, vg.v.Shape()) }

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
