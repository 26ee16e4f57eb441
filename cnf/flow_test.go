package cnf

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// linearFlow builds f(t, z) = A z (rows of z times A^T).
func linearFlow(a []float64) graph.BuildFunc {
	return func(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
		at, err := s.Param("AT", []int{2, 2}, graph.Values(a[0], a[2], a[1], a[3]))
		if err != nil {
			return nil, err
		}
		return G.Mul(z, at)
	}
}

// TestLinearExactness: for f = A z the flow is x = exp(A T) z0 and
// log p(x) = log p_base(z0) - T tr(A). The reference uses gonum's matrix exponential, not
// the solver. At rtol = atol = 1e-12 the solver's global error in z0 is ~1e-11, which
// moves log p_base by |z0| / sigma^2 * 1e-11 < 1e-9; Δ has a constant derivative, which
// dopri5 integrates exactly up to rounding. So 1e-8 is the bound with margin.
func TestLinearExactness(t *testing.T) {
	A := []float64{0.3, -1.2, 0.8, -0.5}
	const T, sigma = 1.5, 0.7
	trA := A[0] + A[3]
	for _, mode := range []graph.TraceMode{graph.TraceExact, graph.TraceHutchinson} {
		ps := graph.NewParams(nil)
		fl, err := New(linearFlow(A), ps, Config{Dim: 2, DataTime: T, BaseTime: 0, BaseStd: sigma, Trace: mode,
			Solver: odeint.Options{RTol: 1e-12, ATol: 1e-12}})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		x := randVec(rng, 2*50, 1)
		r, err := fl.LogDensity(x)
		if err != nil {
			t.Fatal(err)
		}
		var em mat.Dense
		em.Exp(mat.NewDense(2, 2, []float64{-A[0] * T, -A[1] * T, -A[2] * T, -A[3] * T}))
		worst := 0.0
		for s := 0; s < 50; s++ {
			z0 := mat.NewVecDense(2, nil)
			z0.MulVec(&em, mat.NewVecDense(2, x[2*s:2*s+2]))
			want := fl.BaseLogDensity(z0.RawVector().Data) - T*trA
			worst = math.Max(worst, math.Abs(r.LogP[s]-want))
		}
		if mode == graph.TraceExact && worst > 1e-8 {
			t.Errorf("%v: log p(x) off the exact value by %.2e", mode, worst)
		}
		if mode == graph.TraceHutchinson {
			// A Hutchinson estimate of a constant Jacobian's trace is e^T A e, not tr A:
			// the point of this case is only that the probe is used consistently, so
			// compare with e^T A e per sample.
			e := fl.Augmented().Probe()
			worst = 0
			for s := 0; s < 50; s++ {
				z0 := mat.NewVecDense(2, nil)
				z0.MulVec(&em, mat.NewVecDense(2, x[2*s:2*s+2]))
				e0, e1 := e[2*s], e[2*s+1]
				est := e0*(A[0]*e0+A[1]*e1) + e1*(A[2]*e0+A[3]*e1)
				want := fl.BaseLogDensity(z0.RawVector().Data) - T*est
				worst = math.Max(worst, math.Abs(r.LogP[s]-want))
			}
			if worst > 1e-8 {
				t.Errorf("%v: log p(x) off e^T A e by %.2e", mode, worst)
			}
			continue
		}
		// Sampling: pushing z0 forward gives log p_base(z0) - T tr(A) as well.
		z := randVec(rng, 2*20, sigma)
		p, err := fl.Push(z)
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 20; s++ {
			want := fl.BaseLogDensity(z[2*s:2*s+2]) - T*trA
			if d := math.Abs(p.LogP[s] - want); d > 1e-8 {
				t.Errorf("push: sample %d log p off by %.2e", s, d)
			}
		}
	}
}

// TestHutchinsonUnbiased: at a fixed point z of the 3-D dynamics f(z) = tanh(z M) with a
// fixed non-symmetric M (trace of df/dz about 1.2, off-diagonal terms of the same size,
// so the estimator has a real variance), the mean of e^T (df/dz) e over 10^4 probes lies
// within 3 standard errors of the exact trace (a fixed seed makes the draw reproducible;
// an unbiased estimator fails this with probability 0.3 % over seeds). The probes are
// evaluated as one batch of 10^4 copies of the point. One standard error is 1-2 % of the
// trace here, so a scale error of a few per cent, a wrong sign or a dropped
// normalisation is off by many standard errors.
func TestHutchinsonUnbiased(t *testing.T) {
	build := func(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
		m, err := s.Param("M", []int{3, 3}, graph.Values(1.3, 0.8, -0.5, 0.2, -0.4, 0.9, 0.7, 0.3, 0.6))
		if err != nil {
			return nil, err
		}
		x, err := G.Mul(z, m)
		if err != nil {
			return nil, err
		}
		return G.Tanh(x)
	}
	f, err := graph.NewDynamics(build, graph.NewParams(nil), []int{3}, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	z0 := []float64{0.4, -0.7, 0.2}
	y := make([]float64, 3*n)
	for s := 0; s < n; s++ {
		copy(y[3*s:], z0)
	}
	exact := make([]float64, 1)
	if err := f.Trace(graph.TraceExact, 0.8, z0, &graph.TraceIO{Tr: exact}); err != nil {
		t.Fatal(err)
	}
	for _, dist := range []Probe{Gaussian, Rademacher} {
		g, _ := NewAugmented(f, graph.TraceHutchinson, false, false)
		if err := g.DrawProbe(rand.New(rand.NewPCG(11, uint64(dist))), dist, n); err != nil {
			t.Fatal(err)
		}
		tr := make([]float64, n)
		if err := f.Trace(graph.TraceHutchinson, 0.8, y, &graph.TraceIO{Probe: g.Probe(), Tr: tr}); err != nil {
			t.Fatal(err)
		}
		mean, m2 := 0.0, 0.0
		for _, v := range tr {
			mean += v / n
		}
		for _, v := range tr {
			m2 += (v - mean) * (v - mean) / (n - 1)
		}
		se := math.Sqrt(m2 / n)
		t.Logf("%v: exact %.6f, mean %.6f, standard error %.2e (%.2f SE away)", dist, exact[0], mean, se, (mean-exact[0])/se)
		if math.Abs(mean-exact[0]) > 3*se {
			t.Errorf("%v: mean %.6f is %.1f standard errors from the exact trace %.6f", dist, mean, math.Abs(mean-exact[0])/se, exact[0])
		}
		if se == 0 {
			t.Errorf("%v: zero variance: the probes are not random", dist)
		}
	}
}

// densityFlow is a random HyperFlow (the paper's form) over [0, 0.4] that visibly deforms
// N(0, 1).
func densityFlow(t *testing.T, mode graph.TraceMode, tol float64) *Flow {
	ps := graph.NewParams(rand.New(rand.NewPCG(21, 22)))
	fl, err := New(HyperFlow{Width: 16}.Build, ps, Config{Dim: 2, DataTime: 0.4, BaseTime: 0, Trace: mode,
		Solver: odeint.Options{RTol: tol, ATol: tol}})
	if err != nil {
		t.Fatal(err)
	}
	// Scale U up so the flow is far from the identity (the paper's init moves points little).
	for _, p := range ps.List() {
		if p.Name == "hyper.fc3.U.bias" || p.Name == "hyper.fc3.U.weight" {
			for i, v := range ps.Value(p) {
				ps.Value(p)[i] = 8 * v
			}
		}
	}
	return fl
}

// TestDensityIntegratesToOne: the flow's density, evaluated by LogDensity on a 120 x 120
// grid over [-6, 6]^2 and summed with the midpoint rule, integrates to 1 within 2 %
// (the bound). The base N(0, 1) has mass 1e-8 outside [-6, 6]^2 and the flow
// moves the mass by O(1), so the truncation is negligible; the midpoint rule's error
// for a smooth density with this spacing (0.1) is O(h^2 f”) ~ 1e-3. The test also
// checks the flow is not the identity (the density differs from the base somewhere by
// more than 20 %), or the test would prove nothing.
func TestDensityIntegratesToOne(t *testing.T) {
	fl := densityFlow(t, graph.TraceExact, 1e-6)
	const n, L = 120, 6.0
	h := 2 * L / n
	x := make([]float64, 0, 2*n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			x = append(x, -L+(float64(i)+0.5)*h, -L+(float64(j)+0.5)*h)
		}
	}
	r, err := fl.LogDensity(x)
	if err != nil {
		t.Fatal(err)
	}
	mass, maxRatio := 0.0, 0.0
	for s, lp := range r.LogP {
		mass += math.Exp(lp) * h * h
		maxRatio = math.Max(maxRatio, math.Abs(lp-fl.BaseLogDensity(x[2*s:2*s+2])))
	}
	t.Logf("mass %.5f, max |log p - log p_base| = %.2f, NFE %d", mass, maxRatio, r.NFE)
	if math.Abs(mass-1) > 0.02 {
		t.Errorf("the density integrates to %.4f, want 1 within 2%%", mass)
	}
	if maxRatio < math.Log(1.2) {
		t.Errorf("the flow barely changes the density (max log ratio %.3f): the test is vacuous", maxRatio)
	}
}

// TestSampleConsistentWithLogDensity: log p of flow samples, as computed while sampling
// (base to data), equals LogDensity of the same points (data to base), and the base
// points are recovered. At rtol = atol = 1e-8 both solves are accurate to ~1e-7
// relative over this span, so 1e-5 in log p and position is a safe bound; a sign error
// in either direction's Δ would be O(1).
func TestSampleConsistentWithLogDensity(t *testing.T) {
	for _, mode := range []graph.TraceMode{graph.TraceExact, graph.TraceHutchinson} {
		fl := densityFlow(t, mode, 1e-8)
		rng := rand.New(rand.NewPCG(9, 9))
		z := fl.SampleBase(rng, 200)
		s, err := fl.Push(z)
		if err != nil {
			t.Fatal(err)
		}
		if mode == graph.TraceHutchinson {
			// The same probe must be used in both directions for the estimates to agree.
			probe := append([]float64(nil), fl.Augmented().Probe()...)
			y0 := make([]float64, fl.Augmented().StateLen(200))
			copy(y0, s.Z)
			fl.Augmented().SetProbe(probe)
			sol, err := odeint.Solve(fl.Augmented().Eval, y0, []float64{fl.Config().DataTime, fl.Config().BaseTime}, fl.Config().Solver)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200; i++ {
				lp := fl.BaseLogDensity(sol.Y[1][2*i:2*i+2]) - sol.Y[1][400+i]
				if d := math.Abs(lp - s.LogP[i]); d > 1e-5 {
					t.Fatalf("%v: sample %d: log p while sampling %.8f, by density %.8f", mode, i, s.LogP[i], lp)
				}
			}
			continue
		}
		r, err := fl.LogDensity(s.Z)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(r.Z, z, 1); e > 1e-5 {
			t.Errorf("%v: base points not recovered: %.2e", mode, e)
		}
		for i := range r.LogP {
			if d := math.Abs(r.LogP[i] - s.LogP[i]); d > 1e-5 {
				t.Fatalf("%v: sample %d: log p while sampling %.8f, by density %.8f", mode, i, s.LogP[i], r.LogP[i])
			}
		}
	}
}
