package odeint

import (
	"errors"
	"math"
	"testing"
)

func expDecay(t float64, y, dy []float64) error { dy[0] = -y[0]; return nil }

// TestErrors: every documented error comes from a bad input, with the right
// sentinel, and nothing panics.
func TestErrors(t *testing.T) {
	custom := errors.New("custom failure")
	nan := math.NaN()
	badRowSum := &Method{Name: "bad", A: [][]float64{nil, {0.4}}, B: []float64{0.5, 0.5}, C: []float64{0, 0.5}, Order: 2}
	upper := &Method{Name: "upper", A: [][]float64{{0, 1}, {1}}, B: []float64{0.5, 0.5}, C: []float64{0, 1}, Order: 2}
	sizes := &Method{Name: "sizes", A: [][]float64{nil}, B: []float64{0.5, 0.5}, C: []float64{0, 1}, Order: 2}
	badFSAL := &Method{Name: "fsal", A: [][]float64{nil, {1}}, B: []float64{0.5, 0.5}, C: []float64{0, 1}, Order: 2, FSAL: true}
	cases := []struct {
		name string
		f    Func
		y0   []float64
		ts   []float64
		opt  Options
		want error
	}{
		{"nil f", nil, []float64{1}, []float64{0, 1}, Options{}, ErrInvalidOptions},
		{"empty y0", expDecay, nil, []float64{0, 1}, Options{}, ErrInvalidOptions},
		{"no times", expDecay, []float64{1}, nil, Options{}, ErrInvalidOptions},
		{"non-monotone ts", expDecay, []float64{1}, []float64{0, 2, 1}, Options{}, ErrInvalidOptions},
		{"repeated ts", expDecay, []float64{1}, []float64{0, 1, 1}, Options{}, ErrInvalidOptions},
		{"NaN ts", expDecay, []float64{1}, []float64{0, nan}, Options{}, ErrInvalidOptions},
		{"negative rtol", expDecay, []float64{1}, []float64{0, 1}, Options{RTol: -1e-6}, ErrInvalidOptions},
		{"rtol zero, atol set", expDecay, []float64{1}, []float64{0, 1}, Options{RTol: 0, ATol: 1e-8}, ErrInvalidOptions},
		{"atol zero, rtol set", expDecay, []float64{1}, []float64{0, 1}, Options{RTol: 1e-6}, ErrInvalidOptions},
		{"negative atol", expDecay, []float64{1}, []float64{0, 1}, Options{ATol: -1}, ErrInvalidOptions},
		{"NaN rtol", expDecay, []float64{1}, []float64{0, 1}, Options{RTol: nan}, ErrInvalidOptions},
		{"Inf atol", expDecay, []float64{1}, []float64{0, 1}, Options{ATol: math.Inf(1)}, ErrInvalidOptions},
		{"fixed method without step", expDecay, []float64{1}, []float64{0, 1}, Options{Method: RK4}, ErrInvalidOptions},
		{"negative step", expDecay, []float64{1}, []float64{0, 1}, Options{Method: RK4, Step: -0.1}, ErrInvalidOptions},
		{"MinStep > MaxStep", expDecay, []float64{1}, []float64{0, 1}, Options{MinStep: 1, MaxStep: 0.1}, ErrInvalidOptions},
		{"safety > 1", expDecay, []float64{1}, []float64{0, 1}, Options{Safety: 2}, ErrInvalidOptions},
		{"MaxFactor < 1", expDecay, []float64{1}, []float64{0, 1}, Options{MaxFactor: 0.5}, ErrInvalidOptions},
		{"MinFactor >= 1", expDecay, []float64{1}, []float64{0, 1}, Options{MinFactor: 1}, ErrInvalidOptions},
		{"negative MaxSteps", expDecay, []float64{1}, []float64{0, 1}, Options{MaxSteps: -1}, ErrInvalidOptions},
		{"unknown controller", expDecay, []float64{1}, []float64{0, 1}, Options{Controller: 7}, ErrInvalidOptions},
		{"NaN stop time", expDecay, []float64{1}, []float64{0, 1}, Options{StopTimes: []float64{nan}}, ErrInvalidOptions},
		{"event without G", expDecay, []float64{1}, []float64{0, 1}, Options{Events: []Event{{}}}, ErrInvalidOptions},
		{"event direction 2", expDecay, []float64{1}, []float64{0, 1}, Options{Events: []Event{{G: func(float64, []float64) float64 { return 1 }, Direction: 2}}}, ErrInvalidOptions},
		{"tableau row sum", expDecay, []float64{1}, []float64{0, 1}, Options{Method: badRowSum, Step: 0.1}, ErrInvalidOptions},
		{"tableau upper triangle", expDecay, []float64{1}, []float64{0, 1}, Options{Method: upper, Step: 0.1}, ErrInvalidOptions},
		{"tableau sizes", expDecay, []float64{1}, []float64{0, 1}, Options{Method: sizes, Step: 0.1}, ErrInvalidOptions},
		{"tableau false FSAL", expDecay, []float64{1}, []float64{0, 1}, Options{Method: badFSAL, Step: 0.1}, ErrInvalidOptions},
		{"NaN y0", expDecay, []float64{nan}, []float64{0, 1}, Options{}, ErrNonFinite},
		{"NaN derivative", func(t float64, y, dy []float64) error { dy[0] = nan; return nil }, []float64{1}, []float64{0, 1}, Options{}, ErrNonFinite},
		{"NaN derivative later", func(t float64, y, dy []float64) error {
			dy[0] = 1
			if t > 0.5 {
				dy[0] = nan
			}
			return nil
		}, []float64{1}, []float64{0, 1}, Options{}, ErrNonFinite},
		{"overflow fixed step", func(t float64, y, dy []float64) error { dy[0] = y[0] * y[0]; return nil }, []float64{1}, []float64{0, 2}, Options{Method: RK4, Step: 0.1}, ErrNonFinite},
		{"blow-up with MinStep", func(t float64, y, dy []float64) error { dy[0] = y[0] * y[0]; return nil }, []float64{1}, []float64{0, 2}, Options{MinStep: 1e-4}, ErrStepTooSmall},
		{"blow-up", func(t float64, y, dy []float64) error { dy[0] = y[0] * y[0]; return nil }, []float64{1}, []float64{0, 2}, Options{}, ErrStepTooSmall},
		{"max steps", expDecay, []float64{1}, []float64{0, 0.5, 100}, Options{MaxSteps: 10, MaxStep: 0.1}, ErrMaxSteps},
		{"f error", func(t float64, y, dy []float64) error { return custom }, []float64{1}, []float64{0, 1}, Options{}, custom},
		{"OnStep error", expDecay, []float64{1}, []float64{0, 1}, Options{OnStep: func(*StepInfo) error { return custom }}, custom},
	}
	for _, c := range cases {
		sol, err := Solve(c.f, c.y0, c.ts, c.opt)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		t.Logf("%-26s %v", c.name, err)
		if errors.Is(err, ErrInvalidOptions) {
			if sol != nil {
				t.Errorf("%s: solution returned with invalid options", c.name)
			}
			continue
		}
		if sol == nil {
			t.Errorf("%s: no partial solution", c.name)
		}
	}
}

// TestPartialSolution: ErrMaxSteps returns the outputs reached so far.
func TestPartialSolution(t *testing.T) {
	sol, err := Solve(expDecay, []float64{1}, []float64{0, 0.5, 100}, Options{MaxSteps: 10, MaxStep: 0.1, Dense: true})
	if !errors.Is(err, ErrMaxSteps) {
		t.Fatal(err)
	}
	if len(sol.T) != 2 || len(sol.Y) != 2 || math.Abs(sol.Y[1][0]-math.Exp(-0.5)) > 1e-8 {
		t.Fatalf("partial solution T=%v Y=%v", sol.T, sol.Y)
	}
	if sol.Stats.Accepted != 10 {
		t.Errorf("accepted %d steps, want 10", sol.Stats.Accepted)
	}
	// At works on the part that was solved, and not beyond.
	_, tEnd := sol.Interval()
	var y [1]float64
	if err := sol.At(tEnd/2, y[:]); err != nil || math.Abs(y[0]-math.Exp(-tEnd/2)) > 1e-8 {
		t.Errorf("At inside the partial interval: %v %v", err, y)
	}
	if err := sol.At(tEnd+1, y[:]); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("At beyond the solved interval: %v", err)
	}
}

// TestAtErrors: At needs Dense, a right-sized dst and t inside.
func TestAtErrors(t *testing.T) {
	sol, err := Solve(expDecay, []float64{1}, []float64{0, 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var y [1]float64
	if err := sol.At(0.5, y[:]); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("At without Dense: %v", err)
	}
	sol, _ = Solve(expDecay, []float64{1}, []float64{0, 1}, Options{Dense: true})
	for _, c := range []struct {
		t   float64
		dst []float64
	}{{0.5, nil}, {-0.1, y[:]}, {1.1, y[:]}, {math.NaN(), y[:]}} {
		if err := sol.At(c.t, c.dst); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("At(%g, len %d): %v", c.t, len(c.dst), err)
		}
	}
	var nilSol *Solution
	if err := nilSol.At(0, y[:]); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("nil solution: %v", err)
	}
}

// TestSingleTimeAndReverse: one output time returns y0 without evaluating
// f; decreasing ts integrates backwards.
func TestSingleTimeAndReverse(t *testing.T) {
	calls := 0
	f := func(t float64, y, dy []float64) error { calls++; dy[0] = -y[0]; return nil }
	sol, err := Solve(f, []float64{3}, []float64{5}, Options{})
	if err != nil || len(sol.Y) != 1 || sol.Y[0][0] != 3 || calls != 0 || sol.Stats.NFE != 0 {
		t.Fatalf("single time: %v %v calls=%d", err, sol, calls)
	}
	for _, m := range []*Method{Dopri5, Dopri8, RK4} {
		sol, err = Solve(expDecay, []float64{math.Exp(-2)}, []float64{2, 1, 0}, Options{Method: m, Step: 0.01 * b2f(m == RK4), RTol: 1e-10, ATol: 1e-12, Dense: true})
		if err != nil {
			t.Fatal(err)
		}
		// Tolerance 1e-10 (RK4 at h = 0.01: error ~ h^4 = 1e-8).
		if d := math.Abs(sol.Y[2][0] - 1); d > 1e-8 {
			t.Errorf("%s reverse: y(0) off by %g", m.Name, d)
		}
		var y [1]float64
		if err := sol.At(0.5, y[:]); err != nil || math.Abs(y[0]-math.Exp(-0.5)) > 1e-8 {
			t.Errorf("%s reverse At(0.5) = %v, %v", m.Name, y[0], err)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// FuzzOptions: arbitrary option values never panic, and every error is one
// of the sentinels.
func FuzzOptions(f *testing.F) {
	f.Add(1e-6, 1e-9, 0.0, 0.0, 0.0, 0.0, 1.0, 0, 0.9, 0.2, 10.0, int8(0))
	f.Add(-1.0, 0.0, 0.1, 1e-3, 1e-9, 0.5, -1.0, 5, 0.5, 0.5, 2.0, int8(3))
	f.Fuzz(func(t *testing.T, rtol, atol, step, first, minStep, maxStep, t1 float64, maxSteps int, safety, minF, maxF float64, mi int8) {
		methods := []*Method{nil, Euler, Midpoint, Heun, RK4, HeunEuler, Bosh3, Dopri5, Tsit5, Dopri8}
		m := methods[int(uint8(mi))%len(methods)]
		if maxSteps > 2000 || maxSteps < -10 {
			maxSteps = 2000
		}
		if maxSteps == 0 {
			maxSteps = 2000
		}
		opt := Options{Method: m, RTol: rtol, ATol: atol, Step: step, FirstStep: first, MinStep: minStep, MaxStep: maxStep,
			MaxSteps: maxSteps, Safety: safety, MinFactor: minF, MaxFactor: maxF}
		sol, err := Solve(expDecay, []float64{1}, []float64{0, t1}, opt)
		if err != nil {
			ok := errors.Is(err, ErrInvalidOptions) || errors.Is(err, ErrMaxSteps) || errors.Is(err, ErrStepTooSmall) || errors.Is(err, ErrNonFinite)
			if !ok {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(sol.Y) != 2 {
			t.Fatalf("no output")
		}
	})
}
