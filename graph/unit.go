package graph

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// unit is one graph of a Dynamics at one batch size, owned by one worker: the forward
// graph f(t, z) with its parameter nodes, and the programs derived from it on demand
// (forward, VJP, traces, JVP). All the programs of a unit share its input nodes.
type unit struct {
	d      *Dynamics
	batch  int
	g      *G.ExprGraph
	t, z   *G.Node
	f      *G.Node
	t64    *G.F64
	t32    *G.F32
	pnodes []*G.Node
	params []*Param
	p32    [][]float32 // float32 graphs: the parameter copies their nodes are bound to
	gen    int         // Params generation the float64 bindings were made for
	inputs map[*G.Node]*tensor.Dense

	fwd  *Program
	vjp  *vjpProg
	aug  map[augKey]*augProg
	jvp  *jvpProg
	grad []float64 // scratch for one chunk's parameter gradient when batches are split
}

func (d *Dynamics) newUnit(batch int) (*unit, error) {
	g := G.NewGraph()
	s, err := NewScope(g, d.opt.Dtype, d.ps)
	if err != nil {
		return nil, err
	}
	u := &unit{d: d, batch: batch, g: g, inputs: map[*G.Node]*tensor.Dense{}, gen: -1}
	if d.opt.Dtype == tensor.Float32 {
		u.t32 = new(G.F32)
		u.t = G.NewScalar(g, tensor.Float32, G.WithName("t"), G.WithValue(u.t32))
	} else {
		u.t64 = new(G.F64)
		u.t = G.NewScalar(g, tensor.Float64, G.WithName("t"), G.WithValue(u.t64))
	}
	u.z = u.newInput("z", d.batchShape(batch))
	f, err := d.build(s, u.t, u.z)
	if err != nil {
		// Gorgonia's shape and type errors name the op, not its operands: add the state's
		// shape and the parameters requested so far, the usual culprits.
		return nil, errors.Wrapf(err, "graph: building the dynamics for z of shape %v (%s)", u.z.Shape(), describeParams(s))
	}
	if f == nil {
		return nil, errors.New("graph: the dynamics builder returned a nil node")
	}
	fs := f.Shape()
	if d.out == nil { // the first graph fixes the output shape
		if len(fs) < 1 || fs[0] != batch {
			return nil, errors.Errorf("graph: the builder returned shape %v for a batch of %d: the first axis must be the batch", fs, batch)
		}
		if d.square && !fs.Eq(u.z.Shape()) {
			return nil, errors.Errorf("graph: the dynamics returned shape %v for a state of shape %v", fs, u.z.Shape())
		}
		d.out = append([]int(nil), fs[1:]...)
		d.outDim = 1
		for _, x := range d.out {
			d.outDim *= x
		}
	} else if !fs.Eq(tensor.Shape(append([]int{batch}, d.out...))) {
		return nil, errors.Errorf("graph: the builder returned shape %v for a batch of %d, earlier %v per sample", fs, batch, d.out)
	}
	if f.Dtype() != d.opt.Dtype {
		return nil, errors.Errorf("graph: the dynamics returned dtype %v in a %v graph", f.Dtype(), d.opt.Dtype)
	}
	u.f = f
	u.pnodes, u.params = s.ParamNodes()
	if d.params != nil { // every graph must use the parameters the first one did, in the same order
		if len(u.params) != len(d.params) {
			return nil, errors.Errorf("graph: the dynamics builder requested %d parameters, earlier %d", len(u.params), len(d.params))
		}
		for i := range u.params {
			if u.params[i] != d.params[i] {
				return nil, errors.Errorf("graph: the dynamics builder requested parameter %q where it earlier requested %q", u.params[i].Name, d.params[i].Name)
			}
		}
	}
	if d.opt.Dtype == tensor.Float32 {
		u.p32 = make([][]float32, len(u.params))
		for i, p := range u.params {
			u.p32[i] = make([]float32, p.Size)
			if err := G.Let(u.pnodes[i], tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(u.p32[i]))); err != nil {
				return nil, errors.Wrapf(err, "graph: binding parameter %q", p.Name)
			}
		}
	}
	if u.fwd, err = Compile(f); err != nil {
		return nil, err
	}
	return u, nil
}

// describeParams lists the parameters a builder requested from s, for error messages.
func describeParams(s *Scope) string {
	_, ps := s.ParamNodes()
	if len(ps) == 0 {
		return "no parameters requested"
	}
	out := "parameters requested:"
	for i, p := range ps {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf(" %q %v", p.Name, p.Shape)
	}
	return out
}

// newInput adds an input node of the unit's dtype bound to a zero tensor of the given shape.
func (u *unit) newInput(name string, shape []int) *G.Node {
	dt := u.d.opt.Dtype
	var back interface{}
	size := 1
	for _, s := range shape {
		size *= s
	}
	if dt == tensor.Float32 {
		back = make([]float32, size)
	} else {
		back = make([]float64, size)
	}
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(back))
	// Gorgonia deduplicates nodes by hash, and an input's hash is its name, type and
	// shape: two inputs called alike would silently be one node.
	name = fmt.Sprintf("%s#%d", name, len(u.inputs))
	n := G.NewTensor(u.g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	u.inputs[n] = v
	return n
}

// set writes the time and the parameters into the graph's inputs.
func (u *unit) set(t float64) error {
	if u.t32 != nil {
		*u.t32 = G.F32(t)
		flat := u.d.ps.flat
		for i, p := range u.params {
			dst := u.p32[i]
			src := flat[p.Offset : p.Offset+p.Size]
			for j := range dst {
				dst[j] = float32(src[j])
			}
		}
		return nil
	}
	*u.t64 = G.F64(t)
	if u.gen != u.d.ps.gen {
		for i, p := range u.params {
			v := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(u.d.ps.Value(p)))
			if err := G.Let(u.pnodes[i], v); err != nil {
				return errors.Wrapf(err, "graph: binding parameter %q", p.Name)
			}
		}
		u.gen = u.d.ps.gen
	}
	return nil
}

// write copies src into the tensor bound to input node n.
func (u *unit) write(n *G.Node, src []float64) {
	v := u.inputs[n]
	if u.t32 != nil {
		dst := v.Float32s()
		for i := range dst {
			dst[i] = float32(src[i])
		}
		return
	}
	copy(v.Float64s(), src)
}

// read copies the value of node n in program p into dst, converting float32 to float64.
// A nil node (a gradient that is identically zero) writes zeros.
func read(p *Program, n *G.Node, dst []float64) error {
	if n == nil {
		for i := range dst {
			dst[i] = 0
		}
		return nil
	}
	v, err := p.Value(n)
	if err != nil {
		return err
	}
	if s, ok := float64s(v); ok {
		if len(s) != len(dst) {
			return errors.Errorf("graph: node %s has %d values, want %d", nodeName(n), len(s), len(dst))
		}
		copy(dst, s)
		return nil
	}
	if s, ok := float32s(v); ok {
		if len(s) != len(dst) {
			return errors.Errorf("graph: node %s has %d values, want %d", nodeName(n), len(s), len(dst))
		}
		for i, x := range s {
			dst[i] = float64(x)
		}
		return nil
	}
	if len(dst) == 1 {
		x, err := scalar(v)
		if err != nil {
			return errors.Wrapf(err, "graph: node %s", nodeName(n))
		}
		dst[0] = x
		return nil
	}
	return errors.Errorf("graph: node %s holds %T, want a float tensor", nodeName(n), v)
}

// readScalar returns the value of scalar node n in p (0 for a nil node).
func readScalar(p *Program, n *G.Node) (float64, error) {
	if n == nil {
		return 0, nil
	}
	v, err := p.Value(n)
	if err != nil {
		return 0, err
	}
	return scalar(v)
}

func scalar(v G.Value) (float64, error) {
	switch x := v.(type) {
	case *G.F64:
		return float64(*x), nil
	case *G.F32:
		return float64(*x), nil
	case *tensor.Dense:
		if x.Size() == 1 {
			switch x.Dtype() {
			case tensor.Float64:
				return x.Float64s()[0], nil
			case tensor.Float32:
				return float64(x.Float32s()[0]), nil
			}
		}
	}
	return 0, errors.Errorf("graph: %T is not a float scalar", v)
}

// readParams copies the parameter gradients of p into dst, laid out as Dynamics.Params.
func (u *unit) readParams(p *Program, grads []*G.Node, dst []float64) error {
	off := 0
	for i, pr := range u.params {
		if err := read(p, grads[i], dst[off:off+pr.Size]); err != nil {
			return errors.Wrapf(err, "graph: gradient of parameter %q", pr.Name)
		}
		off += pr.Size
	}
	return nil
}

// vjpProg computes f and a^T df/dz, a^T df/dt, a^T df/dtheta in one run.
type vjpProg struct {
	p      *Program
	a      *G.Node
	dz, dt *G.Node
	dps    []*G.Node
}

func (u *unit) vjpProgram() (*vjpProg, error) {
	if u.vjp != nil {
		return u.vjp, nil
	}
	a := u.newInput("cotangent", u.f.Shape())
	wrt := append([]*G.Node{u.z, u.t}, u.pnodes...)
	grads, err := Backprop([]*G.Node{u.f}, []*G.Node{a}, wrt)
	if err != nil {
		return nil, err
	}
	outs := []*G.Node{u.f}
	for _, gr := range grads {
		if gr != nil {
			outs = append(outs, gr)
		}
	}
	p, err := Compile(outs...)
	if err != nil {
		return nil, err
	}
	u.vjp = &vjpProg{p: p, a: a, dz: grads[0], dt: grads[1], dps: grads[2:]}
	return u.vjp, nil
}
