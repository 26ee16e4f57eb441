package odeint

import (
	"math"
	"sort"
)

// crossing is an event function that changed sign in the current step.
type crossing struct {
	idx   int
	theta float64
}

// eventRelTol is the relative accuracy of located event times.
const eventRelTol = 1e-12

// events evaluates the event functions at the end of the accepted step,
// locates the crossings on the dense output, records the hits in time order
// and stops at the first terminal one.
func (s *solver) events() error {
	evs := s.o.Events
	s.eventScratch = s.eventScratch[:0]
	for i, e := range evs {
		g0 := s.gPrev[i]
		g1 := e.G(s.t1, s.y1)
		s.gNew[i] = g1
		up := g0 < 0 && g1 >= 0
		down := g0 > 0 && g1 <= 0
		if (up && e.Direction >= 0) || (down && e.Direction <= 0) {
			theta, err := s.locate(e.G, g0)
			if err != nil {
				return err
			}
			s.eventScratch = append(s.eventScratch, crossing{i, theta})
		}
	}
	if len(s.eventScratch) == 0 {
		return nil
	}
	cs := s.eventScratch
	if len(cs) > 1 {
		sort.SliceStable(cs, func(a, b int) bool { return cs[a].theta < cs[b].theta })
	}
	for _, c := range cs {
		y := make([]float64, s.n)
		if err := s.interpAt(c.theta, y); err != nil {
			return err
		}
		t := s.t + c.theta*s.h
		if c.theta == 1 {
			t = s.t1
		}
		s.sol.Events = append(s.sol.Events, EventHit{Index: c.idx, T: t, Y: y})
		if evs[c.idx].Terminal {
			s.terminalHit = true
			s.terminalT = t
			copy(s.terminalY, y)
			return nil
		}
	}
	return nil
}

// locate finds theta in (0, 1] where g(t + theta h, y(theta)) crosses zero,
// given g at theta = 0 (g0, nonzero) and a crossing at theta = 1. It keeps a
// bracket [a, b] with g(a) on the side of g0 and g(b) crossed, shrinks it by
// the Illinois variant of regula falsi (bisecting when that stalls), and
// returns the crossed end b once the bracket is within eventRelTol of
// max(|t|, |h|): the returned state is just past the event.
func (s *solver) locate(g func(float64, []float64) float64, g0 float64) (float64, error) {
	tol := eventRelTol * math.Max(math.Max(math.Abs(s.t), math.Abs(s.t1)), math.Abs(s.h)) / math.Abs(s.h)
	tol = math.Max(tol, 4e-16)
	a, b := 0.0, 1.0
	ga := g0
	gb := g(s.t1, s.y1)
	if gb == 0 {
		// Look for an earlier exact touch is not possible without a sign
		// change; the crossing happens at or before theta = 1.
		gb = -math.Copysign(math.SmallestNonzeroFloat64, ga)
	}
	y := s.sc2 // scratch: not in use after the error estimate
	side := 0
	for iter := 0; iter < 200 && b-a > tol; iter++ {
		m := b - gb*(b-a)/(gb-ga)
		// Bisect when the secant step lands outside or at the ends, or
		// every few iterations to guarantee convergence.
		if !(m > a && m < b) || iter%4 == 3 {
			m = 0.5 * (a + b)
		}
		if err := s.interpAt(m, y); err != nil {
			return 0, err
		}
		gm := g(s.t+m*s.h, y)
		if gm == 0 || math.Signbit(gm) != math.Signbit(ga) {
			b, gb = m, gm
			if gm == 0 {
				break
			}
			if side == -1 {
				ga /= 2
			}
			side = -1
		} else {
			a, ga = m, gm
			if side == 1 {
				gb /= 2
			}
			side = 1
		}
	}
	return b, nil
}
