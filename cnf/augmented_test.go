package cnf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
)

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// relErr is |got - want| / max(|want|, floor) in the Euclidean norm.
func relErr(got, want []float64, floor float64) float64 {
	num, den := 0.0, 0.0
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num) / math.Max(math.Sqrt(den), floor)
}

// TestAugmentedVJPAgainstFiniteDifferences checks every part of the augmented VJP (state,
// time, parameters; the f output) against central differences of a^T F(t, y), for both
// models, both trace modes and every combination of regularisers. Central differences
// with h = 1e-5 on these smooth functions have truncation error O(h^2 |F”'|) ~ 1e-10
// and rounding error O(1e-16/h) ~ 1e-11 relative; 1e-6 leaves a wide margin while any
// missing term (a factor 2 on the kinetic cotangent, a sign on the trace) is O(1).
func TestAugmentedVJPAgainstFiniteDifferences(t *testing.T) {
	models := map[string]graph.BuildFunc{
		"hyper":  HyperFlow{Width: 5, Hidden: 4}.Build,
		"squash": ConcatSquashMLP{Hidden: []int{6, 5}}.Build,
	}
	for name, build := range models {
		for _, mode := range []graph.TraceMode{graph.TraceExact, graph.TraceHutchinson} {
			for _, reg := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				t.Run(fmt.Sprintf("%s/%v/kin=%v/frob=%v", name, mode, reg[0], reg[1]), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(7, 8))
					ps := graph.NewParams(rand.New(rand.NewPCG(1, 2)))
					f, err := graph.NewDynamics(build, ps, []int{2}, graph.Options{Workers: 1})
					if err != nil {
						t.Fatal(err)
					}
					g, err := NewAugmented(f, mode, reg[0], reg[1])
					if err != nil {
						t.Fatal(err)
					}
					const B = 3
					if err := g.DrawProbe(rng, Rademacher, B); err != nil {
						t.Fatal(err)
					}
					n := g.StateLen(B)
					y := randVec(rng, n, 1)
					a := randVec(rng, n, 1)
					tt := 0.3
					dy := make([]float64, n)
					dp := make([]float64, g.NumParams())
					fv := make([]float64, n)
					dt, err := g.VJP(tt, y, a, fv, dy, dp)
					if err != nil {
						t.Fatal(err)
					}
					F := make([]float64, n)
					loss := func() float64 {
						if err := g.Eval(tt, y, F); err != nil {
							t.Fatal(err)
						}
						return dot(a, F)
					}
					// f output equals Eval.
					loss()
					if e := relErr(fv, F, 1); e > 1e-12 {
						t.Errorf("VJP's f differs from Eval: %.2e", e)
					}
					const h = 1e-5
					fd := func(x *float64) float64 {
						x0 := *x
						*x = x0 + h
						p := loss()
						*x = x0 - h
						m := loss()
						*x = x0
						return (p - m) / (2 * h)
					}
					wantDy := make([]float64, n)
					for i := range y {
						wantDy[i] = fd(&y[i])
					}
					if e := relErr(dy, wantDy, 1); e > 1e-6 {
						t.Errorf("dy: relative error %.2e\n got %v\nwant %v", e, dy, wantDy)
					}
					if e := math.Abs(dt-fd(&tt)) / math.Max(1, math.Abs(dt)); e > 1e-6 {
						t.Errorf("dt: got %g, want %g", dt, fd(&tt))
					}
					flat := ps.Flat()
					idx := []int{0, 1, len(flat) / 3, len(flat) / 2, len(flat) - 2, len(flat) - 1}
					got, want := make([]float64, len(idx)), make([]float64, len(idx))
					for k, i := range idx {
						got[k], want[k] = dp[i], fd(&flat[i])
					}
					if e := relErr(got, want, 1); e > 1e-6 {
						t.Errorf("dp: relative error %.2e\n got %v\nwant %v", e, got, want)
					}
				})
			}
		}
	}
}

// TestAugmentedErrors checks that bad input comes back as errors.
func TestAugmentedErrors(t *testing.T) {
	ps := graph.NewParams(nil)
	f, err := graph.NewDynamics(HyperFlow{Width: 3, Hidden: 2}.Build, ps, []int{2}, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAugmented(nil, graph.TraceExact, false, false); err == nil {
		t.Error("nil dynamics accepted")
	}
	if _, err := NewAugmented(f, 0, false, false); err == nil {
		t.Error("invalid mode accepted")
	}
	g, _ := NewAugmented(f, graph.TraceHutchinson, true, false)
	y := make([]float64, g.StateLen(2))
	if err := g.Eval(0, y, make([]float64, len(y))); err == nil {
		t.Error("Hutchinson without a probe accepted")
	}
	if err := g.Eval(0, y[:5], make([]float64, 5)); err == nil {
		t.Error("ragged state accepted")
	}
	if err := g.DrawProbe(rand.New(rand.NewPCG(1, 1)), Probe(9), 2); err == nil {
		t.Error("invalid probe distribution accepted")
	}
}

// TestHyperFlowFormula computes f(t, z) of both HyperFlow forms by hand from the
// parameter values (the hypernetwork, then the sum over units) and compares it with
// the compiled graph, to 1e-13 (float64 rounding of sums of ~100 terms). It also
// asserts the parameter counts: the paper's form has a last hypernetwork layer of
// 2MD + 2M outputs, torchdiffeq's 3MD + M (15,904 parameters at M = 64, D = 2, hidden
// 32, the count of torchdiffeq's cnf.py).
func TestHyperFlowFormula(t *testing.T) {
	for _, c := range []struct {
		form       HyperForm
		m, hid, d  int
		wantParams int
	}{
		{PaperForm, 5, 4, 3, 4*1 + 4 + 16 + 4 + 4*(2*5*3+2*5) + (2*5*3 + 2*5)},
		{TorchdiffeqForm, 5, 4, 3, 4*1 + 4 + 16 + 4 + 4*(3*5*3+5) + (3*5*3 + 5)},
		{TorchdiffeqForm, 64, 32, 2, 15904},
		{PaperForm, 64, 32, 2, 32 + 32 + 32*32 + 32 + 32*(2*64*2+2*64) + (2*64*2 + 2*64)},
	} {
		ps := graph.NewParams(rand.New(rand.NewPCG(uint64(c.m), 3)))
		f, err := graph.NewDynamics(HyperFlow{Width: c.m, Hidden: c.hid, Form: c.form}.Build, ps, []int{c.d}, graph.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if ps.Len() != c.wantParams {
			t.Errorf("form %d, M %d: %d parameters, want %d", c.form, c.m, ps.Len(), c.wantParams)
		}
		v := func(name string) []float64 {
			p := ps.Lookup(name)
			if p == nil {
				t.Fatalf("no parameter %s", name)
			}
			return ps.Value(p)
		}
		const tt = 0.7
		rng := rand.New(rand.NewPCG(8, 8))
		const batch = 3
		z := make([]float64, batch*c.d)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		// Hypernetwork (weights stored [in, out]).
		h1 := make([]float64, c.hid)
		for j := range h1 {
			h1[j] = math.Tanh(v("hyper.fc1.weight")[j]*tt + v("hyper.fc1.bias")[j])
		}
		h2 := make([]float64, c.hid)
		for j := range h2 {
			s := v("hyper.fc2.bias")[j]
			for i := range h1 {
				s += h1[i] * v("hyper.fc2.weight")[i*c.hid+j]
			}
			h2[j] = math.Tanh(s)
		}
		head := func(name string, n int) []float64 {
			w, b := v("hyper.fc3."+name+".weight"), v("hyper.fc3."+name+".bias")
			out := make([]float64, n)
			for j := range out {
				s := b[j]
				for i := range h2 {
					s += h2[i] * w[i*n+j]
				}
				out[j] = s
			}
			return out
		}
		W, U, B := head("W", c.m*c.d), head("U", c.m*c.d), head("B", c.m)
		gn := c.m
		if c.form == TorchdiffeqForm {
			gn = c.m * c.d
		}
		Gt := head("G", gn)
		want := make([]float64, batch*c.d)
		for b := 0; b < batch; b++ {
			for n := 0; n < c.m; n++ {
				a := B[n]
				for j := 0; j < c.d; j++ {
					a += W[n*c.d+j] * z[b*c.d+j]
				}
				a = math.Tanh(a)
				for j := 0; j < c.d; j++ {
					if c.form == PaperForm {
						want[b*c.d+j] += sigmoid(Gt[n]) * U[n*c.d+j] * a
					} else {
						want[b*c.d+j] += sigmoid(Gt[n*c.d+j]) * U[n*c.d+j] * a / float64(c.m)
					}
				}
			}
		}
		got := make([]float64, len(want))
		if err := f.Eval(tt, z, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-13*(1+math.Abs(want[i])) {
				t.Fatalf("form %d, M %d: f = %v, by hand %v", c.form, c.m, got, want)
			}
		}
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
