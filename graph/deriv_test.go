package graph

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// twoPassTrace builds f(z) = tanh(z W) for one sample z in R^2 and its Jacobian trace as
// the sum of two VJPs with the basis cotangents, two differentiation passes over one
// graph, and returns the trace computed by a Program. clear selects whether the stale
// derivatives of the first pass are cleared before the second.
func twoPassTrace(t *testing.T, clear bool) (float64, error) {
	t.Helper()
	g := G.NewGraph()
	z := G.NewMatrix(g, G.Float64, G.WithShape(1, 2), G.WithName("z"), G.WithValue(tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float64{0.3, -0.7}))))
	w := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("w"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1.1, -0.4, 0.8, 0.9}))))
	f := G.Must(G.Tanh(G.Must(G.Mul(z, w))))
	var tr *G.Node
	for i := 0; i < 2; i++ {
		e := make([]float64, 2)
		e[i] = 1
		ei := G.NewMatrix(g, G.Float64, G.WithShape(1, 2), G.WithName("e"+string(rune('0'+i))), G.WithValue(tensor.New(tensor.WithShape(1, 2), tensor.WithBacking(e))))
		var grads G.Nodes
		var err error
		if clear {
			grads, err = Backprop([]*G.Node{f}, []*G.Node{ei}, []*G.Node{z})
		} else {
			grads, err = G.Backpropagate(G.Nodes{f}, G.Nodes{ei}, G.Nodes{z})
		}
		if err != nil {
			return 0, err
		}
		col := G.Must(G.Sum(G.Must(G.HadamardProd(grads[0], ei))))
		if tr == nil {
			tr = col
		} else {
			tr = G.Must(G.Add(tr, col))
		}
	}
	p, err := Compile(tr)
	if err != nil {
		return 0, err
	}
	if err := p.Run(); err != nil {
		return 0, err
	}
	v, err := p.Value(tr)
	if err != nil {
		return 0, err
	}
	return scalar(v)
}

// exactTrace is tr(d tanh(zW)/dz) = sum_i (1 - tanh(zW)_i^2) W_ii, computed by hand.
func exactTrace() float64 {
	z := []float64{0.3, -0.7}
	w := []float64{1.1, -0.4, 0.8, 0.9}
	tr := 0.0
	for i := 0; i < 2; i++ {
		y := math.Tanh(z[0]*w[i] + z[1]*w[2+i])
		tr += (1 - y*y) * w[i*2+i]
	}
	return tr
}

// TestSecondPassDefect: two differentiation passes over one graph give the exact trace
// through Backprop. It fails if the stale-derivative workaround (clearDerivs) is removed.
func TestSecondPassDefect(t *testing.T) {
	got, err := twoPassTrace(t, true)
	if err != nil {
		t.Fatal(err)
	}
	// Both sides are a handful of float64 operations: agreement to rounding.
	if want := exactTrace(); math.Abs(got-want) > 1e-14 {
		t.Fatalf("trace by two passes = %.17g, exact %.17g", got, want)
	}
}

// TestGorgoniaStillStale documents the Gorgonia defect that clearDerivs works around:
// plain G.Backpropagate on the second pass reuses the first pass's derivatives. If this
// test fails, Gorgonia has fixed the defect and clearDerivs can go.
func TestGorgoniaStillStale(t *testing.T) {
	got, err := twoPassTrace(t, false)
	if err == nil && math.Abs(got-exactTrace()) < 1e-12 {
		t.Fatalf("Gorgonia's second Backpropagate pass is now correct (%.17g): drop the clearDerivs workaround", got)
	}
	t.Logf("Gorgonia without the workaround: trace %v, error %v (exact %v)", got, err, exactTrace())
}

// TestBackpropBadArguments: nil nodes, nodes of another graph and cotangents of the
// wrong shape or dtype are errors naming the node, not panics inside Gorgonia.
func TestBackpropBadArguments(t *testing.T) {
	g := G.NewGraph()
	z := G.NewMatrix(g, G.Float64, G.WithShape(1, 2), G.WithName("z"), G.WithInit(G.Zeroes()))
	f := G.Must(G.Tanh(z))
	cot := G.NewMatrix(g, G.Float64, G.WithShape(1, 2), G.WithName("a"), G.WithInit(G.Zeroes()))
	wrongShape := G.NewMatrix(g, G.Float64, G.WithShape(2, 1), G.WithName("a21"), G.WithInit(G.Zeroes()))
	wrongDtype := G.NewMatrix(g, G.Float32, G.WithShape(1, 2), G.WithName("a32"), G.WithInit(G.Zeroes()))
	g2 := G.NewGraph()
	alien := G.NewMatrix(g2, G.Float64, G.WithShape(1, 2), G.WithName("alien"), G.WithInit(G.Zeroes()))
	cases := []struct {
		name           string
		outs, cots, wr []*G.Node
		want           string
	}{
		{"nil output", []*G.Node{nil}, []*G.Node{cot}, []*G.Node{z}, "output 0 is nil"},
		{"nil second output", []*G.Node{f, nil}, []*G.Node{cot, cot}, []*G.Node{z}, "output 1 is nil"},
		{"nil cotangent", []*G.Node{f}, []*G.Node{nil}, []*G.Node{z}, "the cotangent of output 0 (\"" + f.Name() + "\""},
		{"nil wrt", []*G.Node{f}, []*G.Node{cot}, []*G.Node{z, nil}, "wrt node 1 is nil"},
		{"count mismatch", []*G.Node{f}, nil, []*G.Node{z}, "1 outputs and 0 cotangents"},
		{"cotangent shape", []*G.Node{f}, []*G.Node{wrongShape}, []*G.Node{z}, `its cotangent "a21" (<nil>, shape (2, 1)) differ in shape`},
		{"cotangent dtype", []*G.Node{f}, []*G.Node{wrongDtype}, []*G.Node{z}, `its cotangent "a32" (<nil>, shape (1, 2)) of dtype float32 differ in dtype`},
		{"cotangent of another graph", []*G.Node{f}, []*G.Node{alien}, []*G.Node{z}, `the cotangent "alien"`},
		{"wrt of another graph", []*G.Node{f}, []*G.Node{cot}, []*G.Node{alien}, `wrt node 0 ("alien"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Backprop(c.outs, c.cots, c.wr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// The valid call still works after the rejected ones.
	if gr, err := Backprop([]*G.Node{f}, []*G.Node{cot}, []*G.Node{z}); err != nil || gr[0] == nil {
		t.Fatalf("valid Backprop: %v, %v", gr, err)
	}
}
