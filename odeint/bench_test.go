package odeint

import (
	"testing"
)

// trivial is a 2-dimensional right-hand side that costs almost nothing, so
// timings measure the solver: y” = -y.
func trivial(t float64, y, dy []float64) error {
	dy[0] = y[1]
	dy[1] = -y[0]
	return nil
}

// TestZeroAllocsPerStep: the allocations of a solve do not depend on the
// number of steps (they are all per call), with and without events and an
// OnStep callback: the stepping loop itself allocates nothing.
func TestZeroAllocsPerStep(t *testing.T) {
	g := []Event{{G: func(t float64, y []float64) float64 { return y[0] - 5 }}} // never fires
	onStep := func(*StepInfo) error { return nil }
	for _, m := range adaptiveMethods {
		for _, opt := range []Options{{Method: m, RTol: 1e-6, ATol: 1e-8}, {Method: m, RTol: 1e-6, ATol: 1e-8, Events: g, OnStep: onStep}, {Method: RK4, Step: 0.01}} {
			y0 := []float64{1, 0}
			count := func(tEnd float64) (float64, int) {
				var steps int
				a := testing.AllocsPerRun(5, func() {
					sol, err := Solve(trivial, y0, []float64{0, tEnd}, opt)
					if err != nil {
						t.Fatal(err)
					}
					steps = sol.Stats.Accepted
				})
				return a, steps
			}
			aShort, sShort := count(5)
			aLong, sLong := count(60)
			if sLong < 5*sShort {
				t.Fatalf("%s: steps %d vs %d", m.Name, sShort, sLong)
			}
			if aLong != aShort {
				t.Errorf("%s: %v allocations for %d steps, %v for %d steps", opt.Method.Name, aShort, sShort, aLong, sLong)
			}
		}
	}
}

// BenchmarkOverhead reports the solver overhead per evaluation of f on a
// trivial 2-D problem (ns/NFE) with -benchmem; allocs/op are the per-Solve
// allocations (TestZeroAllocsPerStep shows none are per step).
func BenchmarkOverhead(b *testing.B) {
	cases := []struct {
		name string
		opt  Options
	}{
		{"Dopri5", Options{Method: Dopri5}},
		{"Tsit5", Options{Method: Tsit5}},
		{"Dopri8", Options{Method: Dopri8}},
		{"Bosh3", Options{Method: Bosh3}},
		{"HeunEuler", Options{Method: HeunEuler, RTol: 1e-4, ATol: 1e-6}},
		{"RK4", Options{Method: RK4, Step: 0.01}},
		{"Euler", Options{Method: Euler, Step: 0.001}},
		{"Dopri5-dense", Options{Method: Dopri5, Dense: true}},
	}
	y0 := []float64{1, 0}
	ts := []float64{0, 100}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			nfe, steps := 0, 0
			for i := 0; i < b.N; i++ {
				sol, err := Solve(trivial, y0, ts, c.opt)
				if err != nil {
					b.Fatal(err)
				}
				nfe += sol.Stats.NFE
				steps += sol.Stats.Accepted + sol.Stats.Rejected
			}
			ns := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(ns/float64(nfe), "ns/NFE")
			b.ReportMetric(ns/float64(steps), "ns/step")
		})
	}
}
