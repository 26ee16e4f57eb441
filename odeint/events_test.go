package odeint

import (
	"math"
	"testing"
)

// TestBouncingBall: dropped from 10 with g = 9.8, restitution 0.8. The
// terminal event "height crosses 0 downward" stops each flight, and the
// solve restarts with v -> -0.8 v. Closed form: first impact at
// sqrt(2h/g), then the flight times shrink by 0.8. The motion is quadratic,
// which Dopri5 and its interpolant integrate exactly, so the 1e-9 relative
// tolerance bounds accumulated rounding and the root finder (1e-12).
func TestBouncingBall(t *testing.T) {
	const g, h0, e = 9.8, 10.0, 0.8
	f := func(t float64, y, dy []float64) error { dy[0], dy[1] = y[1], -g; return nil }
	ev := []Event{{G: func(t float64, y []float64) float64 { return y[0] }, Direction: -1, Terminal: true}}
	for _, m := range adaptiveMethods {
		y := []float64{h0, 0}
		t0 := 0.0
		want := math.Sqrt(2 * h0 / g)
		v := g * want // impact speed
		for bounce := 0; bounce < 12; bounce++ {
			sol, err := Solve(f, y, []float64{t0, t0 + 100}, Options{Method: m, Events: ev})
			if err != nil {
				t.Fatal(err)
			}
			if len(sol.Events) != 1 {
				t.Fatalf("%s bounce %d: %d events", m.Name, bounce, len(sol.Events))
			}
			hit := sol.Events[0]
			if rel := math.Abs(hit.T-want) / want; rel > 1e-9 {
				t.Errorf("%s bounce %d: t = %.15g, closed form %.15g (rel %.2g)", m.Name, bounce, hit.T, want, rel)
			}
			if _, tEnd := sol.Interval(); tEnd != hit.T {
				t.Errorf("%s: solve did not stop at the terminal event", m.Name)
			}
			y = []float64{hit.Y[0], -e * hit.Y[1]}
			t0 = hit.T
			v *= e
			want += 2 * v / g
		}
	}
}

// TestEventsDirectionAndNonTerminal: sin t crosses zero at k pi; upward
// crossings at even k, downward at odd; non-terminal events do not stop the
// solve. In reverse time the sense of "upward" follows g along the solve.
func TestEventsDirectionAndNonTerminal(t *testing.T) {
	f := func(t float64, y, dy []float64) error { dy[0] = math.Cos(t); return nil }
	g := func(t float64, y []float64) float64 { return y[0] }
	for _, dir := range []int{-1, 0, 1} {
		sol, err := Solve(f, []float64{0}, []float64{0, 20}, Options{RTol: 1e-10, ATol: 1e-12, Events: []Event{{G: g, Direction: dir}}})
		if err != nil {
			t.Fatal(err)
		}
		var want []float64
		for k := 1; float64(k)*math.Pi < 20; k++ {
			if dir == 0 || (dir == 1) == (k%2 == 0) {
				want = append(want, float64(k)*math.Pi)
			}
		}
		if len(sol.Events) != len(want) {
			t.Fatalf("direction %d: %d events, want %d", dir, len(sol.Events), len(want))
		}
		for i, h := range sol.Events {
			// Solution accuracy ~1e-10 bounds the root (|g'| = 1).
			if math.Abs(h.T-want[i]) > 1e-9 {
				t.Errorf("direction %d: event %d at %.12g, want %.12g", dir, i, h.T, want[i])
			}
			// The root finder itself: g on the dense output at the reported time
			// (h.Y is that state) is zero to 1e-12 relative in t, |g'| being 1.
			if math.Abs(h.Y[0]) > 1e-12*math.Max(1, math.Abs(h.T)) {
				t.Errorf("direction %d: g = %g at the reported event %d: the root is not located to 1e-12", dir, h.Y[0], i)
			}
		}
		if len(sol.T) != 2 {
			t.Errorf("non-terminal events stopped the solve")
		}
	}
	// Reverse time from 20 to 0, terminal: the first zero met going back is 6 pi,
	// where sin increases in t, so g decreases along the (backward) solve. With
	// Direction -1 (g decreasing along the solve) it is found; with +1 the solve
	// passes it and stops at 5 pi, where g increases along the solve.
	for _, c := range []struct {
		dir  int
		want float64
	}{{0, 6 * math.Pi}, {-1, 6 * math.Pi}, {1, 5 * math.Pi}} {
		sol, err := Solve(f, []float64{math.Sin(20)}, []float64{20, 0}, Options{RTol: 1e-10, ATol: 1e-12, Events: []Event{{G: g, Direction: c.dir, Terminal: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sol.Events) != 1 || math.Abs(sol.Events[0].T-c.want) > 1e-9 {
			t.Fatalf("reverse, direction %d: events %+v, want one at %.12g", c.dir, sol.Events, c.want)
		}
		if _, tEnd := sol.Interval(); tEnd != sol.Events[0].T {
			t.Errorf("reverse, direction %d: the solve ended at %g, not at the terminal event", c.dir, tEnd)
		}
	}
}

// TestStopAndJumpTimes: a right-hand side with a jump at t = 1 (f = 1 before,
// f = -2 after). Without help the solver smears the kink; with JumpTimes it
// steps onto 1 and restarts, and the answer is exact to rounding.
func TestStopAndJumpTimes(t *testing.T) {
	f := func(t float64, y, dy []float64) error {
		if t <= 1 {
			dy[0] = 1
		} else {
			dy[0] = -2
		}
		return nil
	}
	var steps []float64
	rec := func(s *StepInfo) error { steps = append(steps, s.T1); return nil }
	sol, err := Solve(f, []float64{0}, []float64{0, 0.5, 3}, Options{JumpTimes: []float64{1}, StopTimes: []float64{2.5}, OnStep: rec})
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(sol.Y[2][0] - (1 - 4)); d > 1e-13 {
		t.Errorf("y(3) off by %g with the jump declared", d)
	}
	if math.Abs(sol.Y[1][0]-0.5) > 1e-14 {
		t.Errorf("y(0.5) = %g", sol.Y[1][0])
	}
	found := map[float64]bool{}
	for _, s := range steps {
		found[s] = true
	}
	if !found[1] || !found[2.5] {
		t.Errorf("steps %v do not land on the jump 1 and the stop 2.5", steps)
	}
}
