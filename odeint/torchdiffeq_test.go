package odeint

import (
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// torchdiffeq's four test problems (tests/problems.py), t in [1, 8] at ten
// points, y0 the exact solution at the first time.
func torchProblems() []struct {
	name  string
	f     Func
	exact func(t float64, y []float64)
	bound float64 // torchdiffeq's asserted relative error (3e-4, linear 2e-3, exp 5e-2)
} {
	const dim = 10
	rng := rand.New(rand.NewSource(1))
	a := mat.NewDense(dim, dim, nil)
	for i := 0; i < dim; i++ {
		for j := 0; j < i; j++ {
			v := 0.1 * rng.NormFloat64()
			a.Set(i, j, v)
			a.Set(j, i, -v) // skew-symmetric: |y| is conserved
		}
	}
	u := make([]float64, dim)
	for i := range u {
		u[i] = 1 + float64(i)/dim
	}
	var e mat.Dense
	linExact := func(t float64, y []float64) {
		var at mat.Dense
		at.Scale(t, a)
		e.Exp(&at)
		out := mat.NewVecDense(dim, y)
		out.MulVec(&e, mat.NewVecDense(dim, u))
	}
	return []struct {
		name  string
		f     Func
		exact func(t float64, y []float64)
		bound float64
	}{
		{"constant", func(t float64, y, dy []float64) error {
			dy[0] = 0.2 + math.Pow(y[0]-(0.2*t+3), 5)
			return nil
		}, func(t float64, y []float64) { y[0] = 0.2*t + 3 }, 3e-4},
		{"sine", func(t float64, y, dy []float64) error {
			dy[0] = 2*y[0]/t + t*t*t*t*math.Sin(2*t) - t*t + 4*t*t*t
			return nil
		}, func(t float64, y []float64) {
			s, c := math.Sin(2*t), math.Cos(2*t)
			y[0] = -t*t*t*t*c/2 + t*t*t*s/2 + t*t*c/4 - t*t*t + 2*t*t*t*t + (math.Pi-0.25)*t*t
		}, 3e-4},
		{"linear", func(t float64, y, dy []float64) error {
			mat.NewVecDense(dim, dy).MulVec(a, mat.NewVecDense(dim, y))
			return nil
		}, linExact, 2e-3},
		{"exp", func(t float64, y, dy []float64) error {
			dy[0] = -0.1 * math.Exp(-0.1*t)
			return nil
		}, func(t float64, y []float64) { y[0] = math.Exp(-0.1 * t) }, 5e-2},
	}
}

// TestTorchdiffeqProblems: every adaptive method, both time directions, at
// rtol 1e-7 / atol 1e-9, must reach 1/10 of the relative error torchdiffeq
// asserts for its own solvers (their bosh3/adaptive_heun bound 4e-3 is
// looser; we hold every method to the 3e-4 class). The exact solutions are
// closed forms or expm (gonum), independent of the solver.
func TestTorchdiffeqProblems(t *testing.T) {
	ts := make([]float64, 10)
	for i := range ts {
		ts[i] = 1 + 7*float64(i)/9
	}
	rev := make([]float64, len(ts))
	for i := range ts {
		rev[i] = ts[len(ts)-1-i]
	}
	for _, p := range torchProblems() {
		for _, m := range adaptiveMethods {
			for _, times := range [][]float64{ts, rev} {
				dim := 1
				if p.name == "linear" {
					dim = 10
				}
				y0 := make([]float64, dim)
				p.exact(times[0], y0)
				sol, err := Solve(p.f, y0, times, Options{Method: m, RTol: 1e-7, ATol: 1e-9})
				if err != nil {
					t.Fatalf("%s %s: %v", p.name, m.Name, err)
				}
				worst := 0.0
				ex := make([]float64, dim)
				for i, tt := range times {
					p.exact(tt, ex)
					worst = math.Max(worst, relErr(ex, sol.Y[i]))
				}
				dir := "forward"
				if times[0] > times[1] {
					dir = "reverse"
				}
				t.Logf("%-8s %-9s %s rel.err %.2e (bound %.0e) NFE %d", p.name, m.Name, dir, worst, p.bound/10, sol.Stats.NFE)
				if !(worst <= p.bound/10) {
					t.Errorf("%s %s %s: relative error %.3g > %.3g", p.name, m.Name, dir, worst, p.bound/10)
				}
			}
		}
	}
}
