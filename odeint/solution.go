package odeint

import (
	"sort"

	"github.com/pkg/errors"
)

// Stats counts the work of a solve.
type Stats struct {
	NFE      int // evaluations of f, including the initial-step estimate and dense-output extra stages
	Accepted int // accepted steps
	Rejected int // rejected step attempts
}

// Solution is the result of Solve.
type Solution struct {
	// T holds the output times reached (all of ts unless an error or a
	// terminal event stopped the solve early).
	T []float64
	// Y[i] is the state at T[i].
	Y [][]float64
	// Stats counts evaluations and steps.
	Stats Stats
	// Events lists the located events in order of time.
	Events []EventHit
	// Method is the method that produced the solution.
	Method *Method

	n      int
	nst    int
	interp [][]float64
	dense  bool
	t0     float64   // start of the solved interval
	tEnd   float64   // end of the solved interval (last time reached)
	stepT  []float64 // start time of each recorded step
	stepH  []float64 // step size of each recorded step
	data   []float64 // per step: y0, then nst stage rows, each n long
	yEnd   []float64 // state at tEnd
}

// Interval returns the solved interval [t0, tEnd] (t0 > tEnd in reverse
// time): where At may be called when dense output was recorded.
func (s *Solution) Interval() (t0, tEnd float64) { return s.t0, s.tEnd }

// NumSteps returns the number of recorded steps (0 without Options.Dense).
func (s *Solution) NumSteps() int { return len(s.stepT) }

// At writes the dense-output state at time t into dst (len(dst) = len(y0)).
// It needs Options.Dense and t inside the solved interval; otherwise it
// returns ErrInvalidOptions, as it does when the solve failed before it had
// any state (a non-finite y0): dst is then left unchanged. It evaluates the method's own continuous
// extension on the recorded step containing t (the weights of
// Method.InterpWeights) and returns the recorded step-end states exactly at
// step boundaries. It does not allocate for methods of up to 32 stages and is
// safe for concurrent use.
func (s *Solution) At(t float64, dst []float64) error {
	if s == nil || !s.dense {
		return errors.Wrap(ErrInvalidOptions, "Solution.At: dense output not recorded (set Options.Dense)")
	}
	if len(dst) != s.n {
		return errors.Wrapf(ErrInvalidOptions, "Solution.At: len(dst)=%d, want %d", len(dst), s.n)
	}
	if s.yEnd == nil {
		return errors.Wrapf(ErrInvalidOptions, "Solution.At: the solve failed before any state at t=%g was accepted: nothing to interpolate", s.t0)
	}
	dir := 1.0
	if s.tEnd < s.t0 {
		dir = -1
	}
	if !finite(t) || dir*(t-s.t0) < 0 || dir*(t-s.tEnd) > 0 {
		return errors.Wrapf(ErrInvalidOptions, "Solution.At: t=%g outside the solved interval [%g, %g]", t, s.t0, s.tEnd)
	}
	if t == s.tEnd {
		copy(dst, s.yEnd)
		return nil
	}
	nsteps := len(s.stepT)
	// The last step whose start is at or before t (in the direction of time).
	k := sort.Search(nsteps, func(i int) bool { return dir*(s.stepT[i]-t) > 0 }) - 1
	if k < 0 {
		k = 0
	}
	rec := s.data[k*(s.nst+1)*s.n : (k+1)*(s.nst+1)*s.n]
	y0 := rec[:s.n]
	if t == s.stepT[k] {
		copy(dst, y0)
		return nil
	}
	var buf [32]float64
	var w []float64
	if s.nst <= len(buf) {
		w = buf[:s.nst]
	} else {
		w = make([]float64, s.nst)
	}
	h := s.stepH[k]
	hornerWeights(s.interp, (t-s.stepT[k])/h, w, false)
	interpolate(dst, y0, h, w, rec[s.n:], s.n)
	return nil
}

// interpolate writes y0 + h sum_i w_i k_i into dst, where the stage rows
// are stored contiguously in ks.
func interpolate(dst, y0 []float64, h float64, w, ks []float64, n int) {
	copy(dst, y0)
	for i, wi := range w {
		if wi == 0 {
			continue
		}
		c := h * wi
		k := ks[i*n : (i+1)*n]
		for j := range dst {
			dst[j] += c * k[j]
		}
	}
}
