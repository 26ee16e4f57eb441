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
