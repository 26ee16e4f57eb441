package odeint

import (
	"math"
	"testing"
)

// TestConvergenceOrder measures the global order of every method, and of
// every embedded solution run on its own with fixed steps, as the slope of
// log(error at the final time) against log(h) over a window of step counts
// (doubling). Each
// window starts where the error is past the pre-asymptotic regime (local
// slopes settled) and ends above the double-precision floor (error > ~1e-13):
// outside it the slope measures something else. A wrong tableau coefficient
// drops the order by at least one, far outside the ±0.2 tolerance.
//
// Problem choice: conv (two nonlinear equations) serves most methods. Tsit5's
// embedded solution and DOP853 were optimised for tiny principal error
// coefficients, so on conv their next-order terms dominate all the way down
// to the rounding floor (measured slopes ~4.5 and ~9); on runge (Tsit5
// embedded) and gompertz (DOP853, whose solution grows to 2^54 so the
// relative floor is reached late) the asymptotic slope shows.
func TestConvergenceOrder(t *testing.T) {
	pow2 := func(lo, hi int) []int {
		var ns []int
		for n := lo; n <= hi; n *= 2 {
			ns = append(ns, n)
		}
		return ns
	}
	cases := []struct {
		m     *Method
		p     problem
		ns    []int
		order float64
	}{
		{Euler, convProblem, pow2(256, 8192), 1},
		{Midpoint, convProblem, pow2(512, 8192), 2},
		{Heun, convProblem, pow2(512, 8192), 2},
		{RK4, convProblem, pow2(128, 1024), 4},
		{HeunEuler, convProblem, pow2(512, 8192), 2},
		{Bosh3, convProblem, pow2(64, 1024), 3},
		{Dopri5, convProblem, pow2(64, 512), 5},
		{Tsit5, convProblem, pow2(64, 512), 5},
		{Dopri8, gompertzProblem, pow2(64, 256), 8},
		{embedded(HeunEuler, HeunEuler.BHat, 1), convProblem, pow2(256, 8192), 1},
		{embedded(Bosh3, Bosh3.BHat, 2), convProblem, pow2(1024, 8192), 2},
		{embedded(Dopri5, Dopri5.BHat, 4), convProblem, pow2(128, 1024), 4},
		{embedded(Tsit5, Tsit5.BHat, 4), rungeProblem, pow2(32, 512), 4},
		{embedded(Dopri8, Dopri8.BHat, 5), convProblem, pow2(64, 512), 5},
		{embedded(Dopri8, Dopri8.BHat2, 3), convProblem, pow2(256, 8192), 3},
	}
	for _, c := range cases {
		var hs, es []float64
		for _, n := range c.ns {
			e, err := fixedError(c.p, c.m, n)
			if err != nil {
				t.Fatalf("%s n=%d: %v", c.m.Name, n, err)
			}
			hs = append(hs, (c.p.T-c.p.t0)/float64(n))
			es = append(es, e)
		}
		p := slope(hs, es)
		t.Logf("%-20s order %.0f on %-8s slope %.3f  errors %.2e .. %.2e", c.m.Name, c.order, c.p.name, p, es[0], es[len(es)-1])
		if math.Abs(p-c.order) > 0.2 {
			t.Errorf("%s (%s): slope %.3f, want %.0f ± 0.2 (errors %v)", c.m.Name, c.p.name, p, c.order, es)
		}
	}
}
