package main

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Data settings of torchdiffeq's latent_ode.py (generate_spiral2d as its main calls it).
const (
	nTotal  = 1000        // points of each of the two base spirals
	nWindow = 100         // points of a spiral's observation window
	nExtrap = 100         // points after the window to extrapolate to
	tStop   = 6 * math.Pi // the base spirals are parametrised by t in [0, 6 pi]
	spiralA = 0.0
	spiralB = 0.3
)

// gridDT is the spacing of the base spirals' time grid; a spiral's times are
// k*gridDT, k = 0 .. nWindow+nExtrap-1, relative to the start of its window.
var gridDT = tStop / float64(nTotal-1)

// spiral is one sequence: its noise-free trajectory over the observation window and the
// extrapolation points, and its own irregular noisy observations.
type spiral struct {
	Clockwise bool
	Truth     [][2]float64 // clean points at k*gridDT: the window and the nExtrap after it (see makeSpirals)
	ObsIdx    []int        // sorted grid indices of the observations, all < nWindow
	Obs       [][2]float64 // noisy observations at ObsIdx
}

// basePoint is the point of a base spiral at grid index i: the clockwise spiral
// r = a + 50b/z, z = 6pi + 1 - t, centred at (-5, 0), and the counter-clockwise
// r = a + b t centred at (5, 0), exactly as torchdiffeq generates them.
func basePoint(cw bool, i int) [2]float64 {
	t := tStop * float64(i) / float64(nTotal-1)
	if cw {
		z := tStop + 1 - t
		r := spiralA + spiralB*50/z
		return [2]float64{r*math.Cos(z) - 5, r * math.Sin(z)}
	}
	r := spiralA + spiralB*t
	return [2]float64{r*math.Cos(t) + 5, r * math.Sin(t)}
}

// Window start ranges (grid indices). Training windows start anywhere in
// [nWindow, nTotal-nWindow), as torchdiffeq's generator draws them, so that together they
// cover the base spirals up to their last point; held-out windows start at most at
// nTotal-nWindow-nExtrap, so that the nExtrap points to extrapolate to lie on the base
// spiral too, in a region that training windows cover. (Until 2026-12-04 training
// windows also stopped at nTotal-nWindow-nExtrap: nothing in training reached the last
// nExtrap points, where the clockwise spiral's radius grows from 5 to 15, and the
// held-out spirals that extrapolate into them made up 90-97 % of both models' squared
// extrapolation error; see BENCHMARKS.md.)
const (
	trainLastStart = nTotal - nWindow - 1
	testLastStart  = nTotal - nWindow - nExtrap
)

// makeSpirals draws n spirals, alternating clockwise and counter-clockwise (so exactly
// half of each), each starting at a uniformly random grid index in [nWindow, lastStart]
// and observed at its own random subset of obs of the window's nWindow times with
// N(0, noise^2) noise. Truth holds the nWindow+nExtrap points from the start, or as many
// as the base spiral has (at least the window: lastStart must be at most
// nTotal-nWindow).
func makeSpirals(rng *rand.Rand, n, obs int, noise float64, lastStart int) []spiral {
	out := make([]spiral, n)
	for s := range out {
		cw := s%2 == 0
		start := nWindow + rng.IntN(lastStart-nWindow+1)
		sp := spiral{Clockwise: cw, Truth: make([][2]float64, min(nWindow+nExtrap, nTotal-start))}
		for k := range sp.Truth {
			sp.Truth[k] = basePoint(cw, start+k)
		}
		sp.ObsIdx = rng.Perm(nWindow)[:obs]
		sort.Ints(sp.ObsIdx)
		sp.Obs = make([][2]float64, obs)
		for j, k := range sp.ObsIdx {
			sp.Obs[j] = [2]float64{sp.Truth[k][0] + noise*rng.NormFloat64(), sp.Truth[k][1] + noise*rng.NormFloat64()}
		}
		out[s] = sp
	}
	rng.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// withExtrapolation returns up to n of the spirals whose Truth covers the extrapolation
// points, in their order.
func withExtrapolation(data []spiral, n int) []spiral {
	var out []spiral
	for _, sp := range data {
		if len(out) < n && len(sp.Truth) == nWindow+nExtrap {
			out = append(out, sp)
		}
	}
	return out
}
