package odeint

import (
	"math"
	"testing"
)

// TestDenseOutputBetweenSteps: at the same tolerance, the dense output
// between steps must be within 10x of the error at the step ends (measured
// against the exact solution): the interpolant must not be the weak link.
//
// Measured ratios on this problem: HeunEuler and Bosh3 ~1, Dopri5 1.8-6.6,
// Tsit5 4-9, Dopri8 2.6-2.9 at tolerances 1e-4..1e-6. The continuous
// extensions of Dopri5, Tsit5 (4th order) and DOP853 (7th) are one order
// below the propagated solution, so at tight tolerances on problems with
// large high derivatives the ratio grows (Tsit5 27x and Dopri8 46x here at
// 1e-8; Dopri5 up to ~170x on torchdiffeq's sine problem at 1e-10): a
// property of these published interpolants, not of the stepping.
func TestDenseOutputBetweenSteps(t *testing.T) {
	p := convProblem
	for _, m := range adaptiveMethods {
		for _, tol := range []float64{1e-4, 1e-5, 1e-6} {
			sol, err := Solve(p.f, p.y0, []float64{p.t0, p.T}, Options{Method: m, RTol: tol, ATol: tol, Dense: true})
			if err != nil {
				t.Fatal(err)
			}
			ex := make([]float64, 2)
			got := make([]float64, 2)
			endErr, midErr := 0.0, 0.0
			for k, t0 := range sol.stepT {
				h := sol.stepH[k]
				if err := sol.At(t0+h, got); err != nil && k < len(sol.stepT)-1 {
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
				}
			}
			t.Logf("%-9s tol %.0e steps %4d step-end error %.2e, between steps %.2e", m.Name, tol, sol.NumSteps(), endErr, midErr)
			if midErr > 10*endErr {
				t.Errorf("%s tol %g: dense error %.3g > 10 x step-end error %.3g", m.Name, tol, midErr, endErr)
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
