package odeint

import (
	"math"
	"testing"
)

// TestInitialStepHairer: the first step of every adaptive method is the one
// Hairer, Nørsett and Wanner's algorithm (Solving ODEs I, II.4) gives,
// recomputed here from the book's formulas: d0 = ||y0/sc||, d1 = ||f0/sc||,
// h0 = 0.01 d0/d1 (1e-6 if either is below 1e-5), d2 = ||(f(t0+h0,
// y0+h0 f0) - f0)/sc|| / h0, h1 = (0.01/max(d1,d2))^(1/(q+1)) with q the
// error order, h = min(100 h0, h1), sc = atol + rtol |y0|, RMS norms. The
// tolerances are loose enough that the first attempt is accepted, so the
// first accepted step is that h (checked: no evaluation beyond the step's
// own). The arithmetic is the same up to the order of a few roundings: 1e-13
// relative. Both time directions.
func TestInitialStepHairer(t *testing.T) {
	p := convProblem
	rms := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s / float64(len(v)))
	}
	for _, m := range adaptiveMethods {
		for _, dir := range []float64{1, -1} {
			const rtol, atol = 1e-4, 1e-6
			y0 := p.y0
			n := len(y0)
			f0, f1, y1, v := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			_ = p.f(0, y0, f0)
			for i := range v {
				v[i] = y0[i] / (atol + rtol*math.Abs(y0[i]))
			}
			d0 := rms(v)
			for i := range v {
				v[i] = f0[i] / (atol + rtol*math.Abs(y0[i]))
			}
			d1 := rms(v)
			h0 := 1e-6
			if d0 >= 1e-5 && d1 >= 1e-5 {
				h0 = 0.01 * d0 / d1
			}
			for i := range y1 {
				y1[i] = y0[i] + dir*h0*f0[i]
			}
			_ = p.f(dir*h0, y1, f1)
			for i := range v {
				v[i] = (f1[i] - f0[i]) / (atol + rtol*math.Abs(y0[i]))
			}
			d2 := rms(v) / h0
			q := m.ErrorOrder
			if q == 0 {
				q = m.EmbeddedOrder
			}
			h1 := math.Pow(0.01/math.Max(d1, d2), 1/float64(q+1))
			want := math.Min(100*h0, h1)

			steps, _ := recordSteps(t, problem{f: p.f, y0: y0, t0: 0, T: dir * p.T}, Options{Method: m, RTol: rtol, ATol: atol})
			first := steps[0]
			if first.rejectedBefore {
				t.Fatalf("%s dir %g: the first attempt was rejected; loosen the tolerances of the test", m.Name, dir)
			}
			if math.Abs(first.h-dir*want) > 1e-13*want {
				t.Errorf("%s dir %g: first step %.17g, Hairer's algorithm gives %.17g", m.Name, dir, first.h, dir*want)
			}
		}
	}
}

// TestMaxStepBoundsEveryStep: with MaxStep set, no accepted step is longer,
// in either direction, and a bound far below the natural step size forces
// at least span/MaxStep steps; FirstStep is honoured exactly.
func TestMaxStepBoundsEveryStep(t *testing.T) {
	p := convProblem
	for _, m := range []*Method{Dopri5, Dopri8, Bosh3} {
		for _, dir := range []float64{1, -1} {
			const maxStep = 0.01
			steps, sol := recordSteps(t, problem{f: p.f, y0: p.y0, t0: 0, T: dir * p.T}, Options{Method: m, MaxStep: maxStep, FirstStep: 0.003})
			if got := steps[0].h; got != dir*0.003 {
				t.Errorf("%s dir %g: first step %g, FirstStep 0.003", m.Name, dir, got)
			}
			for i, s := range steps {
				if math.Abs(s.h) > maxStep*(1+1e-15) || s.h*dir <= 0 {
					t.Fatalf("%s dir %g: step %d has h = %g (MaxStep %g)", m.Name, dir, i, s.h, maxStep)
				}
			}
			if min := int(p.T / maxStep); sol.Stats.Accepted < min {
				t.Errorf("%s dir %g: %d steps over a span of %g with MaxStep %g", m.Name, dir, sol.Stats.Accepted, p.T, maxStep)
			}
		}
	}
}

// TestNormIsPluggable: a seminorm that ignores a component leaves it out of
// the step control. The problem pairs a slowly varying component with a
// fast oscillating one (y1' = cos(20 t), exact sin(20 t)/20); controlling
// only the slow one takes far fewer steps and lets the fast one's error
// grow well past the tolerance, while the slow one stays accurate. The norm
// receives the scaled error vector of the state's length.
func TestNormIsPluggable(t *testing.T) {
	f := func(t float64, y, dy []float64) error {
		dy[0] = -0.5 * y[0]
		dy[1] = math.Cos(20 * t)
		return nil
	}
	y0 := []float64{1, 0}
	const T, tol = 5.0, 1e-8
	full, err := Solve(f, y0, []float64{0, T}, Options{RTol: tol, ATol: tol})
	if err != nil {
		t.Fatal(err)
	}
	badLen := 0
	semi, err := Solve(f, y0, []float64{0, T}, Options{RTol: tol, ATol: tol, Norm: func(sc []float64) float64 {
		if len(sc) != 2 {
			badLen++
		}
		return math.Abs(sc[0])
	}})
	if err != nil {
		t.Fatal(err)
	}
	if badLen > 0 {
		t.Errorf("the norm received %d vectors of the wrong length", badLen)
	}
	errOf := func(s *Solution) (slow, fast float64) {
		return math.Abs(s.Y[1][0] - math.Exp(-0.5*T)), math.Abs(s.Y[1][1] - math.Sin(20*T)/20)
	}
	fs, ff := errOf(full)
	ss, sf := errOf(semi)
	t.Logf("full norm: %d steps, errors %.2g (slow) %.2g (fast); seminorm: %d steps, errors %.2g %.2g",
		full.Stats.Accepted, fs, ff, semi.Stats.Accepted, ss, sf)
	// The fast component needs ~4x the steps of the slow one at this tolerance.
	if semi.Stats.Accepted*2 > full.Stats.Accepted {
		t.Errorf("seminorm took %d steps, full norm %d: the ignored component still controls the step", semi.Stats.Accepted, full.Stats.Accepted)
	}
	// The slow component is still solved to the tolerance (10 units: a
	// global error over a few dozen steps); the fast one is not.
	if ss > 10*tol {
		t.Errorf("slow component error %g with the seminorm", ss)
	}
	if sf < 10*ff || sf < 10*tol {
		t.Errorf("fast component error %g with the seminorm, %g with the full norm: not left out of the control", sf, ff)
	}
}
