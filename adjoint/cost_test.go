package adjoint

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/neuralode/neuralode/odeint"
)

// TestSeminormSavesBackwardSteps: on an MLP dynamics with over 10^4 parameters the
// seminorm (a_theta and a_t out of the backward error norm) cuts the backward NFE by at
// least 30 % (Kidger, Chen and Lyons report a median of 40 %), and the gradients stay
// within the accuracy of the full-norm ones: both are compared with a reference at a
// tolerance 1000 times tighter.
func TestSeminormSavesBackwardSteps(t *testing.T) {
	d, _ := newDyn(t, mlp(1700), []int{2}, 5)
	if d.NumParams() < 10000 {
		t.Fatalf("only %d parameters", d.NumParams())
	}
	y0 := []float64{1, -0.5}
	ts := []float64{0, 1, 2}
	c := [][]float64{nil, {0.3, -0.2}, {1, 0.7}}
	opt := odeint.Options{RTol: 1e-6, ATol: 1e-8}
	run := func(semi bool, o odeint.Options) *Gradients {
		return gradients(t, d, y0, ts, c, Options{Solver: o, Seminorm: semi})
	}
	full, semi := run(false, opt), run(true, opt)
	ref := run(false, odeint.Options{RTol: 1e-9, ATol: 1e-11})
	saving := 1 - float64(semi.Stats.BackwardNFE)/float64(full.Stats.BackwardNFE)
	t.Logf("backward NFE: full norm %d, seminorm %d (%.0f %% fewer)", full.Stats.BackwardNFE, semi.Stats.BackwardNFE, 100*saving)
	if saving < 0.30 {
		t.Errorf("seminorm saved %.0f %% of the backward NFE, want >= 30 %%", 100*saving)
	}
	ef := math.Max(relErr(full.Params, ref.Params), relErr(full.Y0, ref.Y0))
	es := math.Max(relErr(semi.Params, ref.Params), relErr(semi.Y0, ref.Y0))
	t.Logf("gradient error against the reference: full %.2g, seminorm %.2g", ef, es)
	// "Within the same tolerance": the seminorm's error stays at the level the
	// tolerance 1e-6 buys (the full norm's error times a small factor).
	if es > 10*ef+1e-6 {
		t.Errorf("seminorm gradient error %g, full norm %g", es, ef)
	}
}

// wideTanh is a 64-wide dynamics f(y) = tanh(W y)/2 written in Go (fast enough for 10^4
// steps in a test).
func wideTanh(n int, rng *rand.Rand) *goDyn {
	th := make([]float64, n*n)
	for i := range th {
		th[i] = rng.NormFloat64() / math.Sqrt(float64(n))
	}
	u := make([]float64, n)
	return &goDyn{theta: th,
		f: func(_ float64, y, th, d []float64) {
			for i := 0; i < n; i++ {
				s := 0.0
				for j := 0; j < n; j++ {
					s += th[i*n+j] * y[j]
				}
				d[i] = math.Tanh(s) / 2
			}
		},
		vjp: func(_ float64, y, th, a, dy, dp []float64) float64 {
			for i := 0; i < n; i++ {
				s := 0.0
				for j := 0; j < n; j++ {
					s += th[i*n+j] * y[j]
				}
				th := math.Tanh(s)
				u[i] = a[i] * (1 - th*th) / 2
			}
			for j := range dy {
				dy[j] = 0
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					dy[j] += th[i*n+j] * u[i]
					dp[i*n+j] = u[i] * y[j]
				}
			}
			return 0
		}}
}

// TestRetainedMemoryAgainstSteps is the paper's central claim in numbers: the bytes a
// method keeps for the backward pass, against the number of RK4 steps (10 to 10^4) of a
// 64-wide state. Backsolve stays flat (within 10 %), Checkpointed every 100 steps grows
// with the number of checkpoints only (plus 24 bytes of step bookkeeping per step),
// Direct grows linearly with the steps.
func TestRetainedMemoryAgainstSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("10^4-step solves")
	}
	const n = 64
	f := wideTanh(n, rand.New(rand.NewPCG(4, 4)))
	y0 := randVec(rand.New(rand.NewPCG(5, 5)), n)
	c := [][]float64{nil, randVec(rand.New(rand.NewPCG(6, 6)), n)}
	retained, held := map[Method][]int64{}, map[Method][]int64{}
	steps := []int{10, 100, 1000, 10000}
	for _, m := range []Method{Backsolve, Checkpointed, Direct} {
		for _, ns := range steps {
			before := liveHeap()
			tp, err := Forward(f, y0, []float64{0, 1}, Options{Method: m, Solver: odeint.Options{Method: odeint.RK4, Step: 1 / float64(ns)}, CheckpointEvery: 100})
			if err != nil {
				t.Fatal(err)
			}
			held[m] = append(held[m], int64(liveHeap())-int64(before))
			g, err := tp.Backward(c)
			if err != nil {
				t.Fatal(err)
			}
			if g.Stats.ForwardSteps != ns {
				t.Fatalf("%d steps, want %d", g.Stats.ForwardSteps, ns)
			}
			retained[m] = append(retained[m], g.Stats.RetainedBytes)
		}
		t.Logf("%-12s retained bytes at %v steps: %v; measured heap held by the tape: %v", m, steps, retained[m], held[m])
	}
	// The same claims measured: the live heap the tape holds between Forward and
	// Backward (after a full GC). Backsolve's may move only by GC bookkeeping (a few
	// KiB; its tape is the solution's outputs and a few fixed buffers); Direct's and
	// Checkpointed's growth from 10^3 to 10^4 steps must be what RetainedBytes says, up
	// to the spare capacity that append leaves (Go grows slices by 1.25-2x): 0.95-1.6x.
	hb := held[Backsolve]
	lo, hi := hb[0], hb[0]
	for _, v := range hb {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo > 16<<10 {
		t.Errorf("backsolve's measured tape ranges over %d .. %d bytes across %v steps", lo, hi, steps)
	}
	for _, m := range []Method{Direct, Checkpointed} {
		grow := float64(held[m][3] - held[m][2])
		want := float64(retained[m][3] - retained[m][2])
		if grow < 0.95*want || grow > 1.6*want {
			t.Errorf("%v: measured tape grew %.0f bytes from 10^3 to 10^4 steps, RetainedBytes %.0f", m, grow, want)
		}
	}
	b := retained[Backsolve]
	if float64(b[3]) > 1.1*float64(b[0]) {
		t.Errorf("backsolve grew from %d to %d bytes", b[0], b[3])
	}
	d := retained[Direct]
	if r := float64(d[3]) / float64(d[2]); r < 9 || r > 11 {
		t.Errorf("direct: 10x the steps gave %.2fx the bytes, want ~10x", r)
	}
	// Checkpointed: 1000 -> 10000 steps adds 90 checkpoints of n floats and 24 bytes a step.
	ck := retained[Checkpointed]
	want := int64(90*n*8 + 9000*24)
	if got := ck[3] - ck[2]; got != want {
		t.Errorf("checkpointed grew by %d bytes from 1000 to 10000 steps, want %d", got, want)
	}
	if ck[3] > d[3]/10 {
		t.Errorf("checkpointed kept %d bytes, direct %d: not an order of magnitude less", ck[3], d[3])
	}
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestBadInputs(t *testing.T) {
	d, _ := newDyn(t, spiral, []int{2}, 1)
	y0, ts := []float64{2, 0}, []float64{0, 1, 2}
	tp, err := Forward(d, y0, ts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
		is   error
	}{
		{"cotangent of the wrong length", func() error { _, err := tp.Backward([][]float64{nil, {1}, nil}); return err }, nil},
		{"too few cotangents", func() error { _, err := tp.Backward([][]float64{nil, nil}); return err }, nil},
		{"non-finite cotangent", func() error { _, err := tp.Backward([][]float64{nil, {math.NaN(), 0}, nil}); return err }, odeint.ErrNonFinite},
		{"output times out of order", func() error { _, err := Forward(d, y0, []float64{0, 2, 1}, Options{}); return err }, odeint.ErrInvalidOptions},
		{"non-finite initial state", func() error { _, err := Forward(d, []float64{math.Inf(1), 0}, ts, Options{}); return err }, odeint.ErrNonFinite},
		{"failed solve", func() error {
			_, err := Forward(d, y0, ts, Options{Solver: odeint.Options{MaxSteps: 3}})
			return err
		}, odeint.ErrMaxSteps},
		{"state of the wrong length", func() error { _, err := Forward(d, []float64{1, 2, 3}, ts, Options{}); return err }, nil},
		{"invalid method", func() error { _, err := Forward(d, y0, ts, Options{Method: Method(7)}); return err }, nil},
		{"events", func() error {
			_, err := Forward(d, y0, ts, Options{Solver: odeint.Options{Events: []odeint.Event{{G: func(float64, []float64) float64 { return 1 }}}}})
			return err
		}, nil},
		{"nil dynamics", func() error { _, err := Forward(nil, y0, ts, Options{}); return err }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestNoTimeGradients: skipping the time gradients leaves the other gradients unchanged
// (bit for bit for the discrete methods) and saves what they cost: one evaluation per
// output time for Backsolve; for the discrete methods one per output that falls exactly
// on a step end before t_N (interpolated outputs and t_N come from the stages already
// at hand). Both a Dopri5 solve (outputs interpolated) and an RK4 grid whose steps land
// on every output are run.
func TestNoTimeGradients(t *testing.T) {
	d, _ := newDyn(t, spiral, []int{2}, 1)
	y0, ts := []float64{2, 0}, linspace(0, 5, 6)
	c := make([][]float64, len(ts))
	for i := range c {
		c[i] = []float64{1, -0.5}
	}
	for _, sc := range []struct {
		m      Method
		solver odeint.Options
	}{{Backsolve, odeint.Options{}}, {Checkpointed, odeint.Options{}}, {Direct, odeint.Options{}},
		{Checkpointed, odeint.Options{Method: odeint.RK4, Step: 0.0625}}, {Direct, odeint.Options{Method: odeint.RK4, Step: 0.0625}}} {
		m := sc.m
		var gs [2]*Gradients
		var tape *Tape
		for k, skip := range []bool{false, true} {
			tp, err := Forward(d, y0, ts, Options{Method: m, Solver: sc.solver, NoTimeGradients: skip})
			if err != nil {
				t.Fatal(err)
			}
			if gs[k], err = tp.Backward(c); err != nil {
				t.Fatal(err)
			}
			tape = tp
		}
		// Backsolve's full error norm sees a_t, whose start value changes when the time
		// gradients are skipped, so its steps (not its accuracy) change: the gradients
		// then agree to the backward solve's tolerance (rtol 1e-7 by default).
		tol := 0.0
		if m == Backsolve {
			tol = 1e-6
		}
		if relErr(gs[1].Y0, gs[0].Y0) > tol || relErr(gs[1].Params, gs[0].Params) > tol {
			t.Errorf("%v: skipping time gradients changed the others by %g, %g", m, relErr(gs[1].Y0, gs[0].Y0), relErr(gs[1].Params, gs[0].Params))
		}
		saved := gs[0].Stats.BackwardNFE - gs[1].Stats.BackwardNFE
		want := len(ts) - 1
		if m != Backsolve {
			want = 0
			for i := 1; i < len(ts)-1; i++ {
				for _, t1 := range tape.rec.t1 {
					if t1 == ts[i] {
						want++
					}
				}
			}
			if sc.solver.Method == odeint.RK4 && want != len(ts)-2 {
				t.Fatalf("%v: %d outputs on step ends of the RK4 grid, want %d", m, want, len(ts)-2)
			}
		}
		if saved != want {
			t.Errorf("%v %v: saved %d evaluations, want %d", m, sc.solver.Method, saved, want)
		}
		for _, v := range gs[1].T {
			if v != 0 {
				t.Errorf("%v: time gradients %v, want zeros", m, gs[1].T)
				break
			}
		}
	}
}

// TestBackwardOptions: Options.Backward sets Backsolve's backward solve on its own. A
// tolerance 1000x tighter than the forward's makes the backward solve take more
// evaluations and bring the gradient closer to a tight reference (the forward solve is
// the same, so its own error, ~1e-9 at rtol 1e-8, is the floor both share); a fixed-step
// RK4 backward solve takes exactly its grid's steps over each output interval.
func TestBackwardOptions(t *testing.T) {
	d, _ := newDyn(t, mlp(16), []int{3}, 2)
	y0, ts := []float64{0.5, -1, 0.3}, []float64{0, 1, 2}
	c := [][]float64{nil, {1, 0.5, -0.2}, {0.3, -1, 2}}
	run := func(fwd odeint.Options, bwd *odeint.Options) *Gradients {
		return gradients(t, d, y0, ts, c, Options{Solver: fwd, Backward: bwd})
	}
	fwd := odeint.Options{RTol: 1e-8, ATol: 1e-10}
	ref := run(odeint.Options{RTol: 1e-12, ATol: 1e-14}, nil)
	loose := run(fwd, &odeint.Options{RTol: 1e-4, ATol: 1e-6})
	tight := run(fwd, &odeint.Options{RTol: 1e-10, ATol: 1e-12})
	el, et := relErr(loose.Params, ref.Params), relErr(tight.Params, ref.Params)
	t.Logf("backward rtol 1e-4: %d backward NFE, error %.2g; rtol 1e-10: %d, error %.2g", loose.Stats.BackwardNFE, el, tight.Stats.BackwardNFE, et)
	if tight.Stats.BackwardNFE <= loose.Stats.BackwardNFE || tight.Stats.ForwardNFE != loose.Stats.ForwardNFE {
		t.Errorf("backward NFE %d (tight) vs %d (loose), forward %d vs %d: the backward options were not used", tight.Stats.BackwardNFE, loose.Stats.BackwardNFE, tight.Stats.ForwardNFE, loose.Stats.ForwardNFE)
	}
	if et*10 > el {
		t.Errorf("a tighter backward tolerance gave error %g, the loose one %g", et, el)
	}
	rk := run(fwd, &odeint.Options{Method: odeint.RK4, Step: 0.125})
	if want := 2 * 8; rk.Stats.BackwardSteps != want {
		t.Errorf("RK4 backward with step 1/8 over two unit intervals took %d steps, want %d", rk.Stats.BackwardSteps, want)
	}
	if e := relErr(rk.Params, ref.Params); e > 1e-3 {
		t.Errorf("RK4 backward gradient error %g", e)
	}
}
