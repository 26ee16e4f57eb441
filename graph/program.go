package graph

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// How an instruction is executed on runs after the first.
const (
	execLeaf     = iota // input or constant: read node.Value() every run
	execPrealloc        // op.UsePreallocDo into the node's persistent buffer
	execUnsafe          // copy the single input into the buffer, then op.UnsafeDo in place
	execDo              // op.Do: allocates its result every run (ops with no prealloc form)
	execKernel          // a data-movement kernel of kernels.go into the persistent buffer
)

type instr struct {
	node *G.Node
	op   G.Op
	args []int // indices into Program.vals
	kind int
	buf  G.Value
	zero bool // clear buf before UsePreallocDo (the op accumulates into it)
	kern *kernel
}

// accumulating lists the Gorgonia ops whose UsePreallocDo adds into the buffer instead of
// overwriting it: correct under the TapeMachine, which hands them a fresh zeroed buffer on
// every run, wrong for a persistent buffer unless it is cleared first.
var accumulating = map[string]bool{
	"gorgonia.sliceIncrOp":    true,
	"*gorgonia.maxPoolDiffOp": true,
	"*gorgonia.avgPoolDiffOp": true,
	"gorgonia.maxPoolDiffOp":  true,
	"gorgonia.avgPoolDiffOp":  true,
}

// Program is a compiled Gorgonia graph: the ancestors of a set of output nodes in
// topological order, each op node with one persistent output buffer that is reused on
// every run. It calls Gorgonia's own ops (UsePreallocDo, UnsafeDo, Do) directly instead
// of going through a TapeMachine, whose Reset+RunAll costs 45-80 us per call and
// re-allocates every intermediate.
//
// Inputs are the graph's leaf nodes; their values are read from node.Value() at every
// run, so writing into the backing slice of a bound tensor (or binding a new one with
// G.Let) is seen by the next Run. Outputs are read with Value after Run, without copying;
// the returned values are overwritten by the next Run.
//
// A Program is not safe for concurrent use, and two Programs over the same graph must
// not run concurrently either (ops may keep state in the graph's nodes). Use one graph per
// goroutine.
type Program struct {
	instrs  []instr
	index   map[*G.Node]int
	vals    []G.Value
	argsBuf []G.Value
	ran     bool
}

// Compile compiles the ancestors of outputs into a Program. Every leaf the outputs
// depend on must have a value (G.Let or G.WithValue) before the first Run.
func Compile(outputs ...*G.Node) (*Program, error) {
	if len(outputs) == 0 {
		return nil, errors.New("graph: Compile with no outputs")
	}
	p := &Program{index: map[*G.Node]int{}}
	var visit func(n *G.Node, depth int) error
	visit = func(n *G.Node, depth int) error {
		if _, ok := p.index[n]; ok {
			return nil
		}
		if depth > 100000 {
			return errors.New("graph: Compile: graph too deep (cycle?)")
		}
		ch := children(n)
		args := make([]int, len(ch))
		for i, c := range ch {
			if err := visit(c, depth+1); err != nil {
				return err
			}
			args[i] = p.index[c]
		}
		in := instr{node: n, op: n.Op(), args: args, kind: execDo}
		if n.Op() == nil || len(ch) == 0 {
			in.kind = execLeaf
		}
		p.index[n] = len(p.instrs)
		p.instrs = append(p.instrs, in)
		return nil
	}
	for _, o := range outputs {
		if o == nil {
			return nil, errors.New("graph: Compile: nil output node")
		}
		if err := visit(o, 0); err != nil {
			return nil, err
		}
	}
	p.vals = make([]G.Value, len(p.instrs))
	maxArgs := 0
	for _, in := range p.instrs {
		if len(in.args) > maxArgs {
			maxArgs = len(in.args)
		}
	}
	p.argsBuf = make([]G.Value, maxArgs)
	return p, nil
}

// Run executes the program once. A panic inside a Gorgonia op is recovered and returned
// as an error naming the node.
func (p *Program) Run() (err error) {
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			name := "?"
			if cur >= 0 {
				name = nodeName(p.instrs[cur].node)
			}
			err = errors.Errorf("graph: op panicked at node %s: %v", name, r)
		}
	}()
	for i := range p.instrs {
		cur = i
		in := &p.instrs[i]
		if in.kind == execLeaf {
			v := in.node.Value()
			if v == nil {
				return errors.Errorf("graph: input node %s has no value", nodeName(in.node))
			}
			p.vals[i] = v
			continue
		}
		args := p.argsBuf[:len(in.args)]
		for j, a := range in.args {
			args[j] = p.vals[a]
		}
		var v G.Value
		if !p.ran {
			v, err = p.first(in, args)
		} else {
			switch in.kind {
			case execPrealloc:
				if in.zero {
					zeroValue(in.buf)
				}
				v, err = in.op.(G.UsePreallocDoer).UsePreallocDo(in.buf, args...)
			case execKernel:
				if in.kern.run(in.buf.(*tensor.Dense), args) {
					v = in.buf
				} else {
					v, err = in.op.Do(args...)
				}
			case execUnsafe:
				if _, err = G.Copy(in.buf, args[0]); err == nil {
					v, err = in.op.(G.UnsafeDoer).UnsafeDo(in.buf)
				}
			default:
				v, err = in.op.Do(args...)
			}
		}
		if err != nil {
			return errors.Wrapf(err, "graph: running node %s", nodeName(in.node))
		}
		p.vals[i] = v
	}
	p.ran = true
	return nil
}

// first runs an op with Do and decides how later runs execute it: into a persistent
// buffer when the op supports it and its result does not share memory with an input
// (ops such as Reshape return views; writing into those would clobber the input).
func (p *Program) first(in *instr, args []G.Value) (G.Value, error) {
	v, err := in.op.Do(args...)
	if err != nil {
		return nil, err
	}
	in.kind = execDo
	t, isTensor := v.(tensor.Tensor)
	if !isTensor {
		return v, nil // scalars: ops return fresh values; nothing to reuse
	}
	for _, a := range args {
		if at, ok := a.(tensor.Tensor); ok && overlaps(t, at) {
			return v, nil
		}
	}
	for j := range p.instrs {
		if b, ok := p.instrs[j].buf.(tensor.Tensor); ok && overlaps(t, b) {
			return v, nil
		}
	}
	if d, ok := v.(*tensor.Dense); ok {
		if k := newKernel(in.op, args, d); k != nil {
			buf := tensor.New(tensor.Of(d.Dtype()), tensor.WithShape(d.Shape().Clone()...))
			if k.run(buf, args) && sameValues(buf, d) && kernelAgreesOnProbe(in.op, k, args) {
				in.kind, in.buf, in.kern = execKernel, buf, k
				return buf, nil
			}
		}
	}
	if _, ok := in.op.(G.UsePreallocDoer); ok {
		in.kind, in.buf = execPrealloc, v
		in.zero = accumulating[fmt.Sprintf("%T", in.op)]
	} else if _, ok := in.op.(G.UnsafeDoer); ok && len(args) == 1 && !args[0].Shape().IsScalar() && args[0].Shape().Eq(v.Shape()) {
		in.kind, in.buf = execUnsafe, v
	}
	return v, nil
}

// kernelAgreesOnProbe runs op and the kernel k on copies of args filled with distinct,
// non-zero values and reports whether they agree bit for bit. The first run's own
// inputs may be all zeros (a zero cotangent, a zero-initialised state), on which a
// kernel that moves data to the wrong places would still match; distinct values cannot
// hide a wrong permutation, offset or stride. It runs once per kernel node, at
// compilation.
func kernelAgreesOnProbe(op G.Op, k *kernel, args []G.Value) bool {
	probe := make([]G.Value, len(args))
	for i, a := range args {
		d, ok := a.(*tensor.Dense)
		if !ok || a.Shape().IsScalar() {
			probe[i] = a // scalars such as a repeat count keep their value
			continue
		}
		c := tensor.New(tensor.Of(d.Dtype()), tensor.WithShape(d.Shape().Clone()...))
		switch c.Dtype() {
		case tensor.Float64:
			for j, x := 0, c.Float64s(); j < len(x); j++ {
				x[j] = float64(1+i) + float64(j+1)/float64(len(x)+1)
			}
		case tensor.Float32:
			for j, x := 0, c.Float32s(); j < len(x); j++ {
				x[j] = float32(1+i) + float32(j+1)/float32(len(x)+1)
			}
		default:
			return false
		}
		probe[i] = c
	}
	ref, err := op.Do(probe...)
	if err != nil {
		return false
	}
	rd, ok := ref.(*tensor.Dense)
	if !ok {
		return false
	}
	buf := tensor.New(tensor.Of(rd.Dtype()), tensor.WithShape(rd.Shape().Clone()...))
	return k.run(buf, probe) && sameValues(buf, rd)
}

// Value returns the value of a compiled node after the last Run (shared, not copied).
func (p *Program) Value(n *G.Node) (G.Value, error) {
	i, ok := p.index[n]
	if !ok {
		return nil, errors.Errorf("graph: node %s is not part of the program", nodeName(n))
	}
	if p.vals[i] == nil {
		return nil, errors.Errorf("graph: node %s has no value yet (Run first)", nodeName(n))
	}
	return p.vals[i], nil
}

// Len returns the number of nodes in the program.
func (p *Program) Len() int { return len(p.instrs) }

func zeroValue(v G.Value) {
	if t, ok := v.(tensor.Tensor); ok {
		t.Zero()
	}
}

func overlaps(a, b tensor.Tensor) bool {
	if a.MemSize() == 0 || b.MemSize() == 0 {
		return false
	}
	a0, b0 := a.Uintptr(), b.Uintptr()
	return a0 < b0+b.MemSize() && b0 < a0+a.MemSize()
}

func nodeName(n *G.Node) string {
	if n == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q (%v, shape %v)", n.Name(), n.Op(), n.Shape())
}

// float64s returns the []float64 behind a float64 tensor value without allocating.
func float64s(v G.Value) ([]float64, bool) {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float64 {
		return nil, false
	}
	return d.Float64s(), true
}

// float32s returns the []float32 behind a float32 tensor value without allocating.
func float32s(v G.Value) ([]float32, bool) {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float32 {
		return nil, false
	}
	return d.Float32s(), true
}

// children returns the operands of n in order (Gorgonia exposes them only through the
// graph's From iterator, which keeps the order).
func children(n *G.Node) []*G.Node {
	g := n.Graph()
	if g == nil {
		return nil
	}
	it := g.From(n.ID())
	if it == nil {
		return nil
	}
	out := make([]*G.Node, 0, it.Len())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}
