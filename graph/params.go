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

// Init fills dst, the values of a parameter of the given shape (len(dst) is the
// product of shape), with its initial values. An error (for example a Values list of
// the wrong length) makes Params.Add fail with an error naming the parameter, and the
// parameter is not added.
type Init func(rng *rand.Rand, shape []int, dst []float64) error

// Zeros initialises a parameter to 0.
func Zeros() Init { return Constant(0) }

// Constant initialises every element of a parameter to c.
func Constant(c float64) Init {
	return func(_ *rand.Rand, _ []int, dst []float64) error {
		for i := range dst {
			dst[i] = c
		}
		return nil
	}
}

// Uniform initialises a parameter with independent draws from U(-bound, bound).
func Uniform(bound float64) Init {
	return func(rng *rand.Rand, _ []int, dst []float64) error {
		for i := range dst {
			dst[i] = bound * (2*rng.Float64() - 1)
		}
		return nil
	}
}

// Normal initialises a parameter with independent draws from N(0, std^2).
func Normal(std float64) Init {
	return func(rng *rand.Rand, _ []int, dst []float64) error {
		for i := range dst {
			dst[i] = std * rng.NormFloat64()
		}
		return nil
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

// Values sets a parameter to a copy of v, in row-major order. len(v) must equal the
// parameter's size: a shorter or longer list is an error (Params.Add reports it with
// the parameter's name and shape), never a silent zero fill or truncation.
func Values(v ...float64) Init {
	v = append([]float64(nil), v...) // the caller may reuse its slice
	return func(_ *rand.Rand, shape []int, dst []float64) error {
		if len(v) != len(dst) {
			return errors.Errorf("Values has %d values for shape %v (%d elements)", len(v), shape, len(dst))
		}
		copy(dst, v)
		return nil
	}
}

// Param is one named parameter tensor of a Params set. Its values and gradient are
// views into the set's flat slices; obtain them with Params.Value and Params.Grad.
type Param struct {
	// Name is the parameter's full name, unique within its Params set (scoped names
	// are dotted: "block.conv1.weight").
	Name string
	// Shape is the tensor shape of the parameter; the values are stored row-major.
	Shape  []int
	Offset int // position of the first element in the flat slices
	Size   int // number of elements

	owner *Params // the set that created the parameter
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
// uses a fixed seed, so models are reproducible by default. The zero Params is also an
// empty set, equivalent to NewParams(nil).
func NewParams(rng *rand.Rand) *Params {
	if rng == nil {
		rng = defaultRNG()
	}
	return &Params{rng: rng, byName: map[string]*Param{}}
}

func defaultRNG() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// Add registers a new parameter and initialises it. Adding a name twice is an error
// unless the shape matches, in which case the existing parameter is returned unchanged
// (graph builders run once per compiled graph and re-request their parameters).
func (ps *Params) Add(name string, shape []int, init Init) (*Param, error) {
	if ps == nil {
		return nil, errors.Errorf("graph: parameter %q added to a nil Params", name)
	}
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
	if ps.byName == nil { // the zero Params
		ps.byName = map[string]*Param{}
	}
	if ps.rng == nil {
		ps.rng = defaultRNG()
	}
	p := &Param{Name: name, Shape: append([]int(nil), shape...), Offset: len(ps.flat), Size: size, owner: ps}
	// Initialise into a scratch slice so that a failing initialiser leaves the set unchanged.
	vals := make([]float64, size)
	if init == nil {
		init = Zeros()
	}
	if err := init(ps.rng, p.Shape, vals); err != nil {
		return nil, errors.Wrapf(err, "graph: initialising parameter %q of shape %v", name, shape)
	}
	if cap(ps.flat)-len(ps.flat) < size {
		ps.gen++
	}
	ps.flat = append(ps.flat, vals...)
	ps.grad = append(ps.grad, make([]float64, size)...)
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

// Value returns the values of p (a view into Flat). It returns nil, and never panics,
// when p is nil or was not created by this set (a parameter of another Params, or a
// Param value built by hand): look-ups such as ps.Value(ps.Lookup(name)) of a missing
// name give nil. Has reports whether p belongs to the set.
func (ps *Params) Value(p *Param) []float64 {
	if !ps.Has(p) {
		return nil
	}
	return ps.flat[p.Offset : p.Offset+p.Size : p.Offset+p.Size]
}

// Grad returns the accumulated gradient of p (a view into FlatGrad), or nil, like
// Value, when p is nil or not a parameter of this set.
func (ps *Params) Grad(p *Param) []float64 {
	if !ps.Has(p) {
		return nil
	}
	return ps.grad[p.Offset : p.Offset+p.Size : p.Offset+p.Size]
}

// Has reports whether p is a parameter of this set (false for a nil p or a nil set).
func (ps *Params) Has(p *Param) bool {
	return ps != nil && p != nil && p.owner == ps && p.Offset >= 0 && p.Size >= 0 && p.Offset+p.Size <= len(ps.flat)
}

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

// Value returns the parameter's values as a tensor over Params.Flat.
func (vg *valueGrad) Value() G.Value { return vg.v }

// Grad returns the accumulated gradient as a tensor over Params.FlatGrad.
func (vg *valueGrad) Grad() (G.Value, error) { return vg.g, nil }

// String names the parameter and its shape.
func (vg *valueGrad) String() string { return fmt.Sprintf("param %s %v", vg.name, vg.v.Shape()) }

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
