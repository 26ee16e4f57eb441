package odeint

import (
	"math"
	"testing"
)

// TestDenseOutputBetweenSteps checks the dense output against the exact
// solution in two ways, on every adaptive method.
//
// 1. Between steps against at step ends (tolerances 1e-3 to 1e-6): the
// largest error of the interpolant at 5 points inside every step is within
// 10x of the largest global error at the step ends.
//
// 2. Against the tolerance (1e-3 to 1e-12): the interpolant's own error,
// measured against the exact solution through the step's start (so the
// global error carried into the step does not count), is at most 20 units
// of the local tolerance atol + rtol |y|. Measured at most 9.1 (Dopri5),
// 8.1 (Tsit5), 15.1 (Dopri8) and 1.9 (Bosh3). This is the contract a user
// can rely on at any tolerance.
//
// Why (1) is not asserted at tight tolerances: the continuous extensions of
// Dopri5 and Tsit5 are of order 4 and DOP853's of order 7, one below the
// propagated solution, while the step control bounds the embedded estimate.
// The interpolant's error is of the size of that estimate (check 2), but
// the propagated solution at the step ends is often far more accurate than
// the tolerance asks, so the ratio of (1) drifts upward as the tolerance
// tightens: on this problem Dopri5 reaches 20x at 1e-7, Tsit5 27x and
// Dopri8 46x at 1e-8 (and torchdiffeq's sine problem, with large high
// derivatives, 170x for Dopri5 at 1e-10). A Hermite quintic through three
// consecutive step ends, which needs no extra evaluations, was measured and
// is worse (up to 10^5x for Dopri8, whose steps are long); a fifth-order
// Dopri5 interpolant needs extra stages per step. These are properties of
// the published interpolants, which the issue prescribes, not of the
// stepping; BENCHMARKS.md records the figures.
func TestDenseOutputBetweenSteps(t *testing.T) {
	p := convProblem
	// local is the exact solution of convProblem through (t0, y0).
	local := func(t0 float64, y0 []float64) func(t float64, y []float64) {
		c := 1/y0[0] + math.Sin(t0)
		k := (1/y0[1] - 1) * math.Exp(t0)
		return func(t float64, y []float64) {
			y[0] = 1 / (c - math.Sin(t))
			y[1] = 1 / (1 + k*math.Exp(-t))
		}
	}
	for _, m := range adaptiveMethods {
		for _, tol := range []float64{1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12} {
			if m == HeunEuler && tol < 1e-8 {
				continue // 10^5 steps and more: nothing new to learn
			}
			sol, err := Solve(p.f, p.y0, []float64{p.t0, p.T}, Options{Method: m, RTol: tol, ATol: tol, Dense: true})
			if err != nil {
				t.Fatal(err)
			}
			ex, got, loc := make([]float64, 2), make([]float64, 2), make([]float64, 2)
			endErr, midErr, scaled := 0.0, 0.0, 0.0
			n := 2
			for k, t0 := range sol.stepT {
				h := sol.stepH[k]
				off := k * (sol.nst + 1) * n
				lx := local(t0, sol.data[off:off+n])
				if err := sol.At(t0+h, got); err != nil {
					t.Fatal(err)
				}
				p.exact(t0+h, ex)
				endErr = math.Max(endErr, maxAbsDiff(got, ex))
				for _, th := range []float64{0.1, 0.25, 0.5, 0.75, 0.9} {
					tt := t0 + th*h
					if err := sol.At(tt, got); err != nil {
						t.Fatal(err)
					}
					p.exact(tt, ex)
					midErr = math.Max(midErr, maxAbsDiff(got, ex))
					lx(tt, loc)
					for j := range got {
						scaled = math.Max(scaled, math.Abs(got[j]-loc[j])/(tol+tol*math.Abs(loc[j])))
					}
				}
			}
			t.Logf("%-9s tol %.0e steps %5d step-end error %.2e, between steps %.2e (x%.1f), interpolant error %.1f tol",
				m.Name, tol, sol.NumSteps(), endErr, midErr, midErr/endErr, scaled)
			if tol >= 1e-6 && midErr > 10*endErr {
				t.Errorf("%s tol %g: dense error %.3g > 10 x step-end error %.3g", m.Name, tol, midErr, endErr)
			}
			if scaled > 20 {
				t.Errorf("%s tol %g: the interpolant's error is %.1f x the local tolerance", m.Name, tol, scaled)
			}
		}
	}
}

// TestOutputTimesCostNoNFE: 10^5 output times are interpolated, not forced
// steps: the evaluation count equals that of a solve with only the end
// point (Dopri8 adds its three extra stages once per step, at most; a
// non-FSAL Hermite method evaluates f(t1, y1) of the final step, once).
// The outputs must agree with Solution.At, which uses the same weights.
func TestOutputTimesCostNoNFE(t *testing.T) {
	p := convProblem
	n := 100000
	if testing.Short() {
		n = 10000
	}
	ts := make([]float64, n)
	for i := range ts {
		ts[i] = p.T * float64(i) / float64(n-1)
	}
	for _, m := range adaptiveMethods {
		few, err := Solve(p.f, p.y0, []float64{0, p.T}, Options{Method: m})
		if err != nil {
			t.Fatal(err)
		}
		many, err := Solve(p.f, p.y0, ts, Options{Method: m, Dense: true})
		if err != nil {
			t.Fatal(err)
		}
		extra := many.Stats.NFE - few.Stats.NFE
		limit := 0
		if !m.FSAL {
			limit = 1
		}
		if m == Dopri8 {
			limit = 3 * many.Stats.Accepted
		}
		if extra < 0 || extra > limit || many.Stats.Accepted != few.Stats.Accepted {
			t.Errorf("%s: NFE %d with %d outputs vs %d with 2 (accepted %d vs %d)", m.Name, many.Stats.NFE, n, few.Stats.NFE, many.Stats.Accepted, few.Stats.Accepted)
		}
		got := make([]float64, 2)
		for i := 0; i < n; i += 997 {
			if err := many.At(ts[i], got); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, many.Y[i]); d > 1e-14 {
				t.Errorf("%s: At(%g) differs from output by %g", m.Name, ts[i], d)
			}
		}
	}
}

// TestInterpWeightsConsistent: at theta = 1 the weights reproduce B (the
// continuous extension passes through y1), at 0 they vanish; a step's
// InterpWeights/StepInfo.K reconstruct the solver's own output.
func TestInterpWeightsConsistent(t *testing.T) {
	for _, m := range []*Method{Euler, Midpoint, Heun, RK4, HeunEuler, Bosh3, Dopri5, Tsit5, Dopri8} {
		w := make([]float64, m.NumStages())
		m.InterpWeights(1, w)
		for i := range w {
			b := 0.0
			if i < len(m.B) {
				b = m.B[i]
			}
			// Rounding of the polynomial evaluation only (coefficients up to ~1e3 for DOP853).
			if math.Abs(w[i]-b) > 1e-13 {
				t.Errorf("%s: w_%d(1) = %.17g, B = %.17g", m.Name, i, w[i], b)
			}
		}
		m.InterpWeights(0, w)
		for i := range w {
			if w[i] != 0 {
				t.Errorf("%s: w_%d(0) = %g", m.Name, i, w[i])
			}
		}
	}
	// Reconstruct an output from the steps recorded through OnStep.
	p := convProblem
	tq := 1.2345
	var fromSteps []float64
	opt := Options{Method: Dopri8, OnStep: func(s *StepInfo) error {
		if (tq-s.T0)*(tq-s.T1) <= 0 && fromSteps == nil {
			w := make([]float64, Dopri8.NumStages())
			Dopri8.InterpWeights((tq-s.T0)/s.H, w)
			fromSteps = append([]float64(nil), s.Y0...)
			for i, wi := range w {
				for j := range fromSteps {
					fromSteps[j] += s.H * wi * s.K[i][j]
				}
			}
		}
		return nil
	}}
	sol, err := Solve(p.f, p.y0, []float64{0, tq, p.T}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(fromSteps, sol.Y[1]); d > 1e-14 {
		t.Errorf("InterpWeights on StepInfo.K differs from the solver's output by %g", d)
	}
}

// TestInterpWeightsDeriv: the derivative weights are those of InterpWeights
// differentiated (against a central difference in theta, 1e-8: the
// difference's truncation error is ~1e-10 for these polynomials of degree <=
// 7 with coefficients up to ~1e3), pick k_0 at theta = 0, and at theta = 1
// reproduce f(t1, y1): the dense outputs are C1 across steps, to rounding.
func TestInterpWeightsDeriv(t *testing.T) {
	p := convProblem
	for _, m := range []*Method{Euler, Midpoint, Heun, RK4, HeunEuler, Bosh3, Dopri5, Tsit5, Dopri8} {
		S := m.NumStages()
		w, wp, wm, wd := make([]float64, S), make([]float64, S), make([]float64, S), make([]float64, S)
		for _, th := range []float64{0.1, 0.37, 0.8} {
			const e = 1e-5
			m.InterpWeights(th+e, wp)
			m.InterpWeights(th-e, wm)
			m.InterpWeightsDeriv(th, wd)
			for i := range w {
				if fd := (wp[i] - wm[i]) / (2 * e); math.Abs(fd-wd[i]) > 1e-8*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s theta %g: w'_%d = %.12g, central difference %.12g", m.Name, th, i, wd[i], fd)
				}
			}
		}
		m.InterpWeightsDeriv(0, wd)
		for i := range wd {
			want := 0.0
			if i == 0 {
				want = 1
			}
			if math.Abs(wd[i]-want) > 1e-12 {
				t.Errorf("%s: w'_%d(0) = %g, want %g", m.Name, i, wd[i], want)
			}
		}
		// One step of the method; its dense derivative at theta = 1 against f(t1, y1).
		var k [][]float64
		var t1 float64
		var y1 []float64
		opt := Options{Method: m, Step: 0.3, OnStep: func(s *StepInfo) error {
			if k == nil {
				for i := 0; i < S; i++ {
					k = append(k, append([]float64(nil), s.K[i]...))
				}
				t1, y1 = s.T1, append([]float64(nil), s.Y1...)
			}
			return nil
		}}
		if _, err := Solve(p.f, p.y0, []float64{0, 0.3, 0.6}, opt); err != nil {
			t.Fatal(err)
		}
		m.InterpWeightsDeriv(1, wd)
		got, f1 := make([]float64, 2), make([]float64, 2)
		for i := range wd {
			for j := range got {
				got[j] += wd[i] * k[i][j]
			}
		}
		_ = p.f(t1, y1, f1)
		// Rounding: DOP853's dense coefficients reach ~1e2-1e3, summed over 16
		// stages of O(1): 1e-11 (measured 1.4e-13; the others ~1e-16).
		if d := maxAbsDiff(got, f1); d > 1e-11 {
			t.Errorf("%s: dense derivative at theta = 1 is %v, f(t1, y1) = %v", m.Name, got, f1)
		}
	}
}
