package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
)

func TestQuick(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-quick", "-json", "-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out.String())
	}
	if rep.Latent == nil || rep.RNN == nil {
		t.Fatalf("missing model reports: %s", lines[len(lines)-1])
	}
	for _, v := range []float64{rep.Latent.ReconRMSE, rep.Latent.ExtrapRMSE, rep.RNN.ExtrapRMSE,
		rep.Latent.TrainReconRMSE, rep.Latent.TrainExtrapRMSE, rep.RNN.TrainExtrapRMSE} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Fatalf("bad RMSE in %s", lines[len(lines)-1])
		}
	}
	if st, err := os.Stat(rep.PNG); err != nil || st.Size() == 0 {
		t.Fatalf("PNG %q missing or empty: %v", rep.PNG, err)
	}
}

// checkGrad compares the gradient accumulated by lossGrad with central finite
// differences of the loss on a sample of parameters. With float64 graphs, a fixed-step
// solver (so the discrete solve is the same function on both sides of the difference)
// and h = 1e-6, the central difference's truncation error (h^2 times the third
// derivative) is below 1e-8 relative; its rounding error is about the loss's own
// rounding, a few ulps of |L| summed over the batch, divided by h: we allow 10 ulps,
// 10 * 2.2e-16 |L| / h (3e-6 for the L ~ 1.5e3 of spirals reaching radius 15 with
// sigma 0.3). On top of that 1e-5 relative leaves a wide margin, while any chaining
// mistake (a dropped term, a wrong sign or step) shows as O(1) relative.
func checkGrad(t *testing.T, ps *graph.Params, loss func() (float64, error)) {
	t.Helper()
	ps.ZeroGrad()
	l0, err := loss()
	if err != nil {
		t.Fatal(err)
	}
	grad := append([]float64(nil), ps.FlatGrad()...)
	w := ps.Flat()
	rng := rand.New(rand.NewPCG(7, 7))
	const h = 1e-6
	checked := 0
	for _, i := range rng.Perm(len(w))[:min(len(w), 60)] {
		old := w[i]
		w[i] = old + h
		lp, err := loss()
		if err != nil {
			t.Fatal(err)
		}
		w[i] = old - h
		lm, err := loss()
		if err != nil {
			t.Fatal(err)
		}
		w[i] = old
		fd := (lp - lm) / (2 * h)
		if math.Abs(fd-grad[i]) > 1e-5*math.Abs(fd)+1e-7+10*2.2e-16*math.Abs(l0)/h {
			t.Errorf("parameter %d: gradient %.10g, finite difference %.10g", i, grad[i], fd)
		}
		checked++
	}
	ps.ZeroGrad()
	t.Logf("%d parameters checked", checked)
}

// TestBadSettings: every invalid setting is an error before any work, never a panic;
// the solver's tolerances are checked by odeint when the first solve starts.
func TestBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"-obs", "1"}, {"-obs", "101"}, {"-iters", "0"}, {"-batch", "0"}, {"-train", "10", "-batch", "11"},
		{"-lr", "0"}, {"-lr", "NaN"}, {"-sigma", "-1"}, {"-noise", "-0.1"}, {"-latent", "0"}, {"-hidden", "0"},
		{"-nhidden", "0"}, {"-ode-hidden", "0"}, {"-rnn-hidden", "0"}, {"-pos-unit", "0"}, {"-schedule", "step"},
		{"-clip", "-1"}, {"-models", "lstm"}, {"-cell", "lstm"}, {"-no-such-flag"}, {"-rtol", "-1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			err := run(append([]string{"-quick", "-out", dir}, args...), &out)
			if err == nil {
				t.Fatalf("no error for %v", args)
			}
			if !strings.HasPrefix(err.Error(), "latent-ode") && !strings.Contains(err.Error(), "tol") {
				t.Errorf("error does not say where it comes from: %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("%d files written for a run that failed", len(entries))
			}
		})
	}
}

func TestLatentODEGradient(t *testing.T) {
	for _, cell := range []string{cellGRU, cellRNN} {
		t.Run(cell, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			data := makeSpirals(rng, 3, 5, 0.1, trainLastStart)
			ps := graph.NewParams(rng)
			// Fixed RK4 steps: the direct gradient is exact for the discrete solve.
			m, err := newLatentODE(ps, cell, 6, 3, 4, 5, 0.3, odeint.Options{Method: odeint.RK4, Step: 0.05}, graph.Options{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			eps := make([]float64, 3*3)
			for i := range eps {
				eps[i] = rng.NormFloat64()
			}
			checkGrad(t, ps, func() (float64, error) { return m.lossGrad(data, nil, eps) })
		})
	}
}

func TestRNNBaselineGradient(t *testing.T) {
	for _, cell := range []string{cellGRU, cellRNN} {
		t.Run(cell, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			data := makeSpirals(rng, 4, 6, 0.1, trainLastStart)
			ps := graph.NewParams(rng)
			r, err := newRNNBaseline(ps, cell, 7, 5, graph.Options{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			checkGrad(t, ps, func() (float64, error) { return r.lossGrad(data) })
		})
	}
}

func TestSpiralData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	data := makeSpirals(rng, 10, 30, 0, testLastStart)
	cw := 0
	for _, sp := range data {
		if sp.Clockwise {
			cw++
		}
		if len(sp.ObsIdx) != 30 || len(sp.Truth) != nWindow+nExtrap {
			t.Fatalf("bad sizes %d %d", len(sp.ObsIdx), len(sp.Truth))
		}
		for j, k := range sp.ObsIdx {
			if j > 0 && k <= sp.ObsIdx[j-1] || k >= nWindow {
				t.Fatalf("observation indices not sorted, distinct and inside the window: %v", sp.ObsIdx)
			}
			if sp.Obs[j] != sp.Truth[k] { // noise 0: observations are the clean points
				t.Fatalf("observation %d differs from the truth", j)
			}
		}
	}
	if cw != 5 {
		t.Fatalf("%d clockwise spirals of 10, want 5", cw)
	}
	// Every spiral is observed at its own times: no two of the ten share their subset
	// (30 of 100: a collision has probability ~1e-25).
	for i := range data {
		for j := i + 1; j < len(data); j++ {
			if fmt.Sprint(data[i].ObsIdx) == fmt.Sprint(data[j].ObsIdx) {
				t.Fatalf("spirals %d and %d share their observation times %v", i, j, data[i].ObsIdx)
			}
		}
	}
	// The encoder reads each spiral backwards: step k holds observation N-1-k, with
	// its own time, and the gap to the next observation (0 after the last).
	xs := encoderInputs(data, 1)
	N := len(data[0].ObsIdx)
	for b, sp := range data {
		for k, x := range xs {
			j := N - 1 - k
			row := x[b*encFeatures : (b+1)*encFeatures]
			gap := 0.0
			if j+1 < N {
				gap = float64(sp.ObsIdx[j+1]-sp.ObsIdx[j]) * gridDT / gapUnit
			}
			if row[0] != sp.Obs[j][0] || row[1] != sp.Obs[j][1] || math.Abs(row[2]-float64(sp.ObsIdx[j])*gridDT/timeUnit) > 1e-15 || math.Abs(row[3]-gap) > 1e-12 {
				t.Fatalf("spiral %d, encoder step %d: %v, want observation %d (%v at grid %d)", b, k, row, j, sp.Obs[j], sp.ObsIdx[j])
			}
		}
	}
	// The counter-clockwise base spiral r = 0.3 t about (5, 0): at grid index 999 (t = 6 pi).
	p := basePoint(false, nTotal-1)
	if math.Abs(p[0]-(5+0.3*6*math.Pi)) > 1e-9 || math.Abs(p[1]) > 1e-9 {
		t.Fatalf("basePoint = %v", p)
	}
}

// TestSpiralStarts checks the window start ranges: training windows reach the base
// spirals' last point (torchdiffeq's range), held-out windows keep their extrapolation
// points on the base spiral, and withExtrapolation keeps exactly the spirals that have
// them.
func TestSpiralStarts(t *testing.T) {
	startOf := func(sp spiral) int {
		for i := 0; i < nTotal; i++ {
			if basePoint(sp.Clockwise, i) == sp.Truth[0] {
				return i
			}
		}
		return -1
	}
	for _, tc := range []struct {
		last      int
		wantShort bool // some spirals without extrapolation points
	}{{trainLastStart, true}, {testLastStart, false}} {
		data := makeSpirals(rand.New(rand.NewPCG(2, 3)), 2000, 5, 0, tc.last)
		lo, hi, short := nTotal, -1, 0
		for _, sp := range data {
			s := startOf(sp)
			lo, hi = min(lo, s), max(hi, s)
			if want := min(nWindow+nExtrap, nTotal-s); len(sp.Truth) != want {
				t.Fatalf("last start %d: spiral at %d has %d truth points, want %d", tc.last, s, len(sp.Truth), want)
			}
			if len(sp.Truth) < nWindow+nExtrap {
				short++
			}
		}
		// 2000 uniform draws from 701 or 800 values hit both ends with probability at
		// least 1 - 2 (1 - 1/800)^2000 > 0.83; with this fixed seed they do.
		if lo != nWindow || hi != tc.last {
			t.Errorf("last start %d: starts in [%d, %d], want [%d, %d]", tc.last, lo, hi, nWindow, tc.last)
		}
		if (short > 0) != tc.wantShort {
			t.Errorf("last start %d: %d spirals without extrapolation points", tc.last, short)
		}
		kept := withExtrapolation(data, len(data))
		if len(kept) != len(data)-short {
			t.Errorf("last start %d: withExtrapolation kept %d of %d, want %d", tc.last, len(kept), len(data), len(data)-short)
		}
		if n := len(withExtrapolation(data, 7)); n != 7 {
			t.Errorf("withExtrapolation(data, 7) kept %d", n)
		}
	}
}

// TestLatentScores checks that the reconstruction RMSE covers the window only and the
// extrapolation RMSE the points after it: predictions off by a constant in x only have
// RMSE |offset|/sqrt(2) over the two coordinates, exactly up to rounding.
func TestLatentScores(t *testing.T) {
	data := makeSpirals(rand.New(rand.NewPCG(1, 2)), 4, 10, 0.1, testLastStart)
	for _, tc := range []struct{ window, after float64 }{{0, 0}, {0.3, 0}, {0, 0.5}, {0.2, -0.7}} {
		pred := make([][][2]float64, len(data))
		for i, sp := range data {
			pred[i] = make([][2]float64, len(sp.Truth))
			for k, p := range sp.Truth {
				off := tc.window
				if k >= nWindow {
					off = tc.after
				}
				pred[i][k] = [2]float64{p[0] + off, p[1]}
			}
		}
		recon, extrap := latentScores(data, pred)
		if want := math.Abs(tc.window) / math.Sqrt2; math.Abs(recon-want) > 1e-12 {
			t.Errorf("offsets %+v: reconstruction RMSE %g, want %g", tc, recon, want)
		}
		if want := math.Abs(tc.after) / math.Sqrt2; math.Abs(extrap-want) > 1e-12 {
			t.Errorf("offsets %+v: extrapolation RMSE %g, want %g", tc, extrap, want)
		}
	}
}

func TestByDirection(t *testing.T) {
	data := makeSpirals(rand.New(rand.NewPCG(1, 2)), 6, 10, 0.1, testLastStart)
	// Offsets 0.3 on clockwise spirals and 0.8 on the others after the window: the split
	// gives each, and the two mean squares, weighted by the spirals' counts, give the whole.
	after := make([][][2]float64, len(data))
	ncw := 0
	for i, sp := range data {
		off := 0.8
		if sp.Clockwise {
			off, ncw = 0.3, ncw+1
		}
		for _, p := range sp.Truth[nWindow:] {
			after[i] = append(after[i], [2]float64{p[0], p[1] + off})
		}
	}
	if ncw == 0 || ncw == len(data) {
		t.Fatalf("%d of %d spirals clockwise: both directions needed", ncw, len(data))
	}
	cw, ccw := byDirection(data, after, nWindow)
	if math.Abs(cw-0.3/math.Sqrt2) > 1e-12 || math.Abs(ccw-0.8/math.Sqrt2) > 1e-12 {
		t.Errorf("by direction %g, %g; want %g, %g", cw, ccw, 0.3/math.Sqrt2, 0.8/math.Sqrt2)
	}
	whole := rmse(data, after, nWindow)
	n := float64(len(data))
	if got := math.Sqrt((float64(ncw)*cw*cw + (n-float64(ncw))*ccw*ccw) / n); math.Abs(got-whole) > 1e-12 {
		t.Errorf("directions recombine to %g, whole %g", got, whole)
	}
	if cw, ccw := byDirection(data[:0], nil, nWindow); cw != 0 || ccw != 0 {
		t.Errorf("no spirals: %g, %g", cw, ccw)
	}
}
