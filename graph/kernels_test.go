package graph

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestKernelsMatchGorgonia checks the data-movement kernels against Gorgonia's
// TapeMachine on the same graph, bit for bit, over transposes, broadcasts (repeats of a
// size-1 axis, one or several) and concatenations along every axis, in float64 and
// float32, for two runs with different inputs (the second run goes through the kernel,
// the first through the op). It also checks that the kernels were actually used.
// Exact equality is the right tolerance: the kernels only move values.
func TestKernelsMatchGorgonia(t *testing.T) {
	type build func(g *G.ExprGraph, dt tensor.Dtype) (inputs []*G.Node, out *G.Node, err error)
	in := func(g *G.ExprGraph, dt tensor.Dtype, name string, shape ...int) *G.Node {
		return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name))
	}
	cases := []struct {
		name  string
		build build
	}{
		{"transpose 0231", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 2, 3, 4, 5)
			y, err := G.Transpose(x, 0, 2, 3, 1)
			return []*G.Node{x}, y, err
		}},
		{"transpose 0312", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 2, 3, 4, 5)
			y, err := G.Transpose(x, 0, 3, 1, 2)
			return []*G.Node{x}, y, err
		}},
		{"transpose matrix", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 7, 3)
			y, err := G.Transpose(x)
			return []*G.Node{x}, y, err
		}},
		{"transpose 3-d", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 3, 1, 4)
			y, err := G.Transpose(x, 2, 0, 1)
			return []*G.Node{x}, y, err
		}},
		{"broadcast bias NCHW", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x, b := in(g, dt, "x", 2, 3, 4, 5), in(g, dt, "b", 1, 3, 1, 1)
			y, err := G.BroadcastAdd(x, b, nil, []byte{0, 2, 3})
			return []*G.Node{x, b}, y, err
		}},
		{"broadcast row", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x, b := in(g, dt, "x", 6, 5), in(g, dt, "b", 1, 5)
			y, err := G.BroadcastHadamardProd(x, b, nil, []byte{0})
			return []*G.Node{x, b}, y, err
		}},
		{"broadcast column", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x, b := in(g, dt, "x", 6, 5), in(g, dt, "b", 6, 1)
			y, err := G.BroadcastSub(b, x, []byte{1}, nil)
			return []*G.Node{x, b}, y, err
		}},
		{"broadcast middle", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x, b := in(g, dt, "x", 2, 4, 3), in(g, dt, "b", 2, 1, 3)
			y, err := G.BroadcastAdd(x, b, nil, []byte{1})
			return []*G.Node{x, b}, y, err
		}},
		{"concat axis 0", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			a, b := in(g, dt, "a", 2, 3, 4), in(g, dt, "b", 5, 3, 4)
			y, err := G.Concat(0, a, b)
			return []*G.Node{a, b}, y, err
		}},
		{"concat axis 1 of three", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			a, b, c := in(g, dt, "a", 2, 3, 4, 4), in(g, dt, "b", 2, 1, 4, 4), in(g, dt, "c", 2, 2, 4, 4)
			y, err := G.Concat(1, a, b, c)
			return []*G.Node{a, b, c}, y, err
		}},
		{"concat last axis", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			a, b := in(g, dt, "a", 3, 2), in(g, dt, "b", 3, 5)
			y, err := G.Concat(1, a, b)
			return []*G.Node{a, b}, y, err
		}},
		{"slice range", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 2, 5, 3, 3)
			y, err := G.Slice(x, nil, G.S(1, 4))
			return []*G.Node{x}, y, err
		}},
		{"slice index", func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
			x := in(g, dt, "x", 4, 6)
			y, err := G.Slice(x, nil, G.S(5))
			return []*G.Node{x}, y, err
		}},
		// Convolutions: the ODE-Net's 3x3 pad 1, the paper stem's 4x4 stride 2 pad 1 on
		// 13x13 (its bottom and right pad are narrower than the top and left), 3x3
		// dilation 2, and an unpadded 2x3 kernel. im2col runs in Conv2d's forward, col2im
		// in the gradient with respect to the image.
		{"conv 3x3 pad 1", convCase(in, []int{2, 3, 6, 6}, []int{4, 3, 3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, false)},
		{"conv 4x4 stride 2", convCase(in, []int{2, 2, 13, 13}, []int{3, 2, 4, 4}, []int{1, 1}, []int{2, 2}, []int{1, 1}, false)},
		{"conv dilation 2", convCase(in, []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, []int{2, 2}, []int{1, 1}, []int{2, 2}, false)},
		{"conv 2x3 no pad", convCase(in, []int{2, 2, 5, 6}, []int{3, 2, 2, 3}, []int{0, 0}, []int{1, 1}, []int{1, 1}, false)},
		{"col2im 3x3 pad 1", convCase(in, []int{2, 3, 6, 6}, []int{4, 3, 3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, true)},
		{"col2im 4x4 stride 2", convCase(in, []int{2, 2, 13, 13}, []int{3, 2, 4, 4}, []int{1, 1}, []int{2, 2}, []int{1, 1}, true)},
		{"col2im dilation 2", convCase(in, []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, []int{2, 2}, []int{1, 1}, []int{2, 2}, true)},
		{"col2im 2x3 no pad", convCase(in, []int{2, 2, 5, 6}, []int{3, 2, 2, 3}, []int{0, 0}, []int{1, 1}, []int{1, 1}, true)},
	}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, 4))
				g := G.NewGraph()
				inputs, out, err := c.build(g, dt)
				if err != nil {
					t.Fatal(err)
				}
				// The output times a constant, so the op under test is an inner node.
				y := G.Must(G.HadamardProd(out, G.NewConstant(fill(dt, out.Shape(), 1))))
				p, err := Compile(y)
				if err != nil {
					t.Fatal(err)
				}
				g2 := G.NewGraph()
				inputs2, out2, err := c.build(g2, dt)
				if err != nil {
					t.Fatal(err)
				}
				tm := G.NewTapeMachine(g2)
				defer tm.Close()
				for run := 0; run < 3; run++ {
					for i, n := range inputs {
						v := randomTensor(rng, dt, n.Shape())
						if err := G.Let(n, v); err != nil {
							t.Fatal(err)
						}
						if err := G.Let(inputs2[i], v.Clone()); err != nil {
							t.Fatal(err)
						}
					}
					if err := p.Run(); err != nil {
						t.Fatal(err)
					}
					tm.Reset()
					if err := tm.RunAll(); err != nil {
						t.Fatal(err)
					}
					got, err := p.Value(y)
					if err != nil {
						t.Fatal(err)
					}
					want := out2.Value().(*tensor.Dense)
					if !sameValues(got.(*tensor.Dense), want) {
						t.Fatalf("run %d: program %v, TapeMachine %v", run, got, want)
					}
				}
				// The kernel under test must be the one used (a conv also transposes).
				want := 0
				for prefix, kind := range map[string]int{"conv": kernIm2col, "col2im": kernCol2im, "slice": kernSlice} {
					if strings.HasPrefix(c.name, prefix) {
						want = kind
					}
				}
				used := 0
				for _, in := range p.instrs {
					if in.kind == execKernel && (want == 0 || in.kern.kind == want) {
						used++
					}
				}
				if used == 0 { // a broadcast over several axes is one repeat per axis
					t.Errorf("no instruction uses the kernel (kind %d)", want)
				}
			})
		}
	}
}

// convCase builds Conv2d(x, w) or, with grad, the gradient of sum(Conv2d(x, w) * c)
// with respect to x, which runs col2im.
func convCase(in func(*G.ExprGraph, tensor.Dtype, string, ...int) *G.Node, xs, ws, pad, stride, dil []int, grad bool) func(*G.ExprGraph, tensor.Dtype) ([]*G.Node, *G.Node, error) {
	return func(g *G.ExprGraph, dt tensor.Dtype) ([]*G.Node, *G.Node, error) {
		x, w := in(g, dt, "x", xs...), in(g, dt, "w", ws...)
		y, err := G.Conv2d(x, w, tensor.Shape{ws[2], ws[3]}, pad, stride, dil)
		if err != nil || !grad {
			return []*G.Node{x, w}, y, err
		}
		c := in(g, dt, "c", y.Shape()...)
		cost, err := G.Sum(G.Must(G.HadamardProd(y, c)))
		if err != nil {
			return nil, nil, err
		}
		gs, err := G.Grad(cost, x)
		if err != nil {
			return nil, nil, err
		}
		return []*G.Node{x, w, c}, gs[0], nil
	}
}

// TestKernelFallsBack checks that a kernel refuses arguments it was not compiled for
// (another shape, dtype, or repeat count) without writing, so the program runs the op.
func TestKernelFallsBack(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 2, G.WithShape(3, 4), G.WithName("x"))
	y := G.Must(G.Transpose(x))
	xv := tensor.New(tensor.WithShape(3, 4), tensor.WithBacking(make([]float64, 12)))
	out, err := y.Op().Do(xv)
	if err != nil {
		t.Fatal(err)
	}
	k := newKernel(y.Op(), []G.Value{xv}, out.(*tensor.Dense))
	if k == nil {
		t.Fatal("no kernel for a transpose")
	}
	dst := tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]float64, 12)))
	for _, bad := range []G.Value{
		tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]float64, 12))),
		tensor.New(tensor.WithShape(3, 4), tensor.WithBacking(make([]float32, 12))),
		G.NewF64(1),
	} {
		if k.run(dst, []G.Value{bad}) {
			t.Errorf("kernel accepted %v", bad)
		}
	}
	if !k.run(dst, []G.Value{xv}) {
		t.Error("kernel refused its own arguments")
	}
}

func fill(dt tensor.Dtype, shape tensor.Shape, v float64) *tensor.Dense {
	t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	switch dt {
	case tensor.Float64:
		for i := range t.Float64s() {
			t.Float64s()[i] = v
		}
	case tensor.Float32:
		for i := range t.Float32s() {
			t.Float32s()[i] = float32(v)
		}
	}
	return t
}

func randomTensor(rng *rand.Rand, dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	t := fill(dt, shape, 0)
	switch dt {
	case tensor.Float64:
		for i := range t.Float64s() {
			t.Float64s()[i] = rng.NormFloat64()
		}
	case tensor.Float32:
		for i := range t.Float32s() {
			t.Float32s()[i] = float32(rng.NormFloat64())
		}
	}
	return t
}

// TestKernelProbeCatchesWrongKernel: a kernel that moves data to the wrong places
// matches Gorgonia's op on all-zero inputs, which is what a program's first run may
// see; the probe with distinct values rejects it, and accepts the correct kernel.
func TestKernelProbeCatchesWrongKernel(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 2, G.WithShape(3, 3), G.WithName("x"))
	y := G.Must(G.Transpose(x))
	zeros := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking(make([]float64, 9)))
	out, err := y.Op().Do(zeros)
	if err != nil {
		t.Fatal(err)
	}
	args := []G.Value{zeros}
	k := newKernel(y.Op(), args, out.(*tensor.Dense))
	if k == nil {
		t.Fatal("no kernel for a transpose")
	}
	if !kernelAgreesOnProbe(y.Op(), k, args) {
		t.Fatal("the probe rejects the correct kernel")
	}
	k.perm = []int{0, 1} // a plain copy: the right shape, the wrong places
	dst := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking(make([]float64, 9)))
	if !k.run(dst, args) || !sameValues(dst, out.(*tensor.Dense)) {
		t.Fatal("the wrong kernel should still match on zeros (the case the probe exists for)")
	}
	if kernelAgreesOnProbe(y.Op(), k, args) {
		t.Error("the probe accepted a kernel with the wrong permutation")
	}
}
