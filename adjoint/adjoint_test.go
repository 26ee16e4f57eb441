package adjoint

import (
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
)

type fdCase struct {
	name   string
	build  graph.BuildFunc
	sample []int
	y0     []float64
	ts     []float64
}

var fdCases = []fdCase{
	{"spiral", spiral, []int{2}, []float64{2, 0}, linspace(0, 25, 10)},
	{"mlp", mlp(16), []int{3}, []float64{0.5, -1, 0.3}, linspace(0, 2, 5)},
}

// fdGradients differentiates L(solve) by central differences in y0, the parameters and
// every output time, re-solving at tolerance opt each time.
func fdGradients(t *testing.T, d *graph.Dynamics, ps *graph.Params, y0, ts []float64, c [][]float64, opt odeint.Options, h float64) (dy0, dp, dt []float64) {
	loss := linearLoss(c)
	solve := func() float64 {
		sol, err := odeint.Solve(d.Eval, y0, ts, opt)
		if err != nil {
			t.Fatal(err)
		}
		return loss(sol.Y)
	}
	fd := func(x []float64) []float64 {
		g := make([]float64, len(x))
		for i := range x {
			x0 := x[i]
			x[i] = x0 + h
			fp := solve()
			x[i] = x0 - h
			fm := solve()
			x[i] = x0
			g[i] = (fp - fm) / (2 * h)
		}
		return g
	}
	dy0 = fd(y0)
	for _, p := range d.Params() {
		dp = append(dp, fd(ps.Value(p))...)
	}
	dt = fd(ts)
	return
}

// TestGradientsAgainstFiniteDifferences checks every method's dL/dz0, dL/dtheta and
// dL/dt_i against central differences of the whole solve, on the spiral y^3 A and an MLP.
//
// The forward solves run at rtol 1e-11, atol 1e-13 so that the solve is smooth enough in
// its inputs for differences with step 1e-5 (noise ~ 1e-11/1e-5 = 1e-6 of the solution
// scale, truncation ~ 1e-10). Backsolve integrates its backward state to the same
// tolerance; Direct and Checkpointed differentiate the discrete solve exactly, which
// differs from the exact flow's gradient by about the solver's error. 1e-5 relative
// covers all of these with margin.
func TestGradientsAgainstFiniteDifferences(t *testing.T) {
	sopt := odeint.Options{RTol: 1e-11, ATol: 1e-13}
	for _, fc := range fdCases {
		d, ps := newDyn(t, fc.build, fc.sample, 1)
		rng := rand.New(rand.NewPCG(7, 7))
		c := make([][]float64, len(fc.ts))
		for i := range c {
			c[i] = randVec(rng, len(fc.y0))
		}
		fy0, fdp, fdt := fdGradients(t, d, ps, append([]float64(nil), fc.y0...), append([]float64(nil), fc.ts...), c, sopt, 1e-5)
		for _, m := range []Method{Backsolve, Checkpointed, Direct} {
			t.Run(fc.name+"/"+m.String(), func(t *testing.T) {
				tp, err := Forward(d, fc.y0, fc.ts, Options{Method: m, Solver: sopt, CheckpointEvery: 3})
				if err != nil {
					t.Fatal(err)
				}
				g, err := tp.Backward(c)
				if err != nil {
					t.Fatal(err)
				}
				const tol = 1e-5
				if e := relErr(g.Y0, fy0); e > tol {
					t.Errorf("dL/dy0 %v, finite differences %v (rel %g)", g.Y0, fy0, e)
				}
				if e := relErr(g.Params, fdp); e > tol {
					t.Errorf("dL/dtheta rel error %g", e)
				}
				if e := relErr(g.T, fdt); e > tol {
					t.Errorf("dL/dt %v, finite differences %v (rel %g)", g.T, fdt, e)
				}
				t.Logf("forward NFE %d, backward NFE %d, steps %d, retained %d bytes", g.Stats.ForwardNFE, g.Stats.BackwardNFE, g.Stats.ForwardSteps, g.Stats.RetainedBytes)
			})
		}
	}
}
