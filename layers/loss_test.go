package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestCrossEntropyGradient checks the Go loss's gradient against central differences
// of the loss itself.
func TestCrossEntropyGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const b, k = 5, 4
	z := randVec(rng, b*k)
	labels := []int{0, 3, 1, 1, 2}
	grad := make([]float64, len(z))
	if _, _, err := CrossEntropy(z, k, labels, grad); err != nil {
		t.Fatal(err)
	}
	fd := fdGrad(z, func() float64 {
		l, _, err := CrossEntropy(z, k, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
	if r := relErr(grad, fd); r > fdTol {
		t.Errorf("gradient: relative error %g", r)
	}
}

// TestCrossEntropyStable checks that logits of 1e4 neither overflow nor lose the loss:
// shifting every logit of a row by a constant leaves the loss unchanged, and the value
// of a row (0, d) is log(1 + e^-d) exactly.
func TestCrossEntropyStable(t *testing.T) {
	z := []float64{1e4, 1e4 - 3, -1e4, -1e4 + 2}
	loss, correct, err := CrossEntropy(z, 2, []int{0, 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := (math.Log1p(math.Exp(-3)) + (2 + math.Log1p(math.Exp(-2)))) / 2
	if math.Abs(loss-want) > 1e-12 || correct != 1 {
		t.Errorf("loss %g (want %g), correct %d (want 1)", loss, want, correct)
	}
	if _, _, err := CrossEntropy(z, 2, []int{0, 2}, nil); err == nil {
		t.Error("label out of range: no error")
	}
	if _, _, err := CrossEntropy([]float64{math.NaN(), 0}, 2, []int{0}, nil); err == nil {
		t.Error("NaN logits: no error")
	}
}

// TestSoftmaxCrossEntropyGraph checks the graph block against the Go loss (value and
// gradient), and its gradient against finite differences, in a graph of its own with
// one-hot labels as an input node, including logits large enough to overflow exp.
func TestSoftmaxCrossEntropyGraph(t *testing.T) {
	const b, k = 4, 3
	rng := rand.New(rand.NewPCG(10, 11))
	z := randVec(rng, b*k)
	z[0], z[1] = 900, 899 // exp(900) overflows: only the max-subtracted form survives
	labels := []int{1, 0, 2, 2}
	oh := make([]float64, b*k)
	for i, y := range labels {
		oh[i*k+y] = 1
	}
	g := G.NewGraph()
	ps := graph.NewParams(nil)
	s, err := graph.NewScope(g, tensor.Float64, ps)
	if err != nil {
		t.Fatal(err)
	}
	zn := G.NewTensor(g, tensor.Float64, 2, G.WithShape(b, k), G.WithName("z"), G.WithValue(tensor.New(tensor.WithShape(b, k), tensor.WithBacking(z))))
	yn := G.NewTensor(g, tensor.Float64, 2, G.WithShape(b, k), G.WithName("onehot"), G.WithValue(tensor.New(tensor.WithShape(b, k), tensor.WithBacking(oh))))
	loss, err := SoftmaxCrossEntropy(s, zn, yn)
	if err != nil {
		t.Fatal(err)
	}
	one := G.NewScalar(g, tensor.Float64, G.WithName("one"), G.WithValue(1.0))
	grads, err := graph.Backprop([]*G.Node{loss}, []*G.Node{one}, []*G.Node{zn})
	if err != nil {
		t.Fatal(err)
	}
	p, err := graph.Compile(loss, grads[0])
	if err != nil {
		t.Fatal(err)
	}
	value := func() float64 {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		v, err := p.Value(loss)
		if err != nil {
			t.Fatal(err)
		}
		return float64(*v.(*G.F64))
	}
	got := value()
	dv, _ := p.Value(grads[0])
	dz := append([]float64(nil), dv.(*tensor.Dense).Float64s()...)
	goGrad := make([]float64, len(z))
	want, _, err := CrossEntropy(z, k, labels, goGrad)
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(got) || math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("graph loss %g, Go loss %g", got, want)
	}
	if r := relErr(dz, goGrad); r > 1e-12 {
		t.Errorf("graph gradient differs from the Go gradient by %g", r)
	}
	if r := relErr(dz, fdGrad(z, value)); r > fdTol {
		t.Errorf("graph gradient: relative error %g against finite differences", r)
	}
}
