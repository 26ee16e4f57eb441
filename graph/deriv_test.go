package graph

import (
	"math"
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
