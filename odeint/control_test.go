package odeint

import (
	"math"
	"testing"
)

// stepRecord is what the controller tests observe of one accepted step.
type stepRecord struct {
	t0, h, err     float64
	rejectedBefore bool // a rejected attempt preceded this step
}

// recordSteps solves p with opt (its OnStep replaced) and returns the accepted
// steps. Rejections are detected by counting evaluations of f between
// callbacks: with OnStep set, every accepted step evaluates all NumStages()
// stages (the dense-output extras included) except stage 0, which is the
// previous step's f(t1, y1); more evaluations mean rejected attempts came
// first. The first step also pays f(t0) and, unless FirstStep is set, the one
// evaluation of the initial-step algorithm.
func recordSteps(t *testing.T, p problem, opt Options) ([]stepRecord, *Solution) {
	t.Helper()
	perStep := opt.Method.NumStages() - 1
	calls := 0
	f := func(tt float64, y, dy []float64) error { calls++; return p.f(tt, y, dy) }
	var steps []stepRecord
	last := 0
	opt.OnStep = func(s *StepInfo) error {
		want := perStep
		if len(steps) == 0 {
			want++ // f(t0)
			if opt.FirstStep == 0 {
				want++ // the initial-step trial evaluation
			}
		}
		steps = append(steps, stepRecord{t0: s.T0, h: s.H, err: s.Err, rejectedBefore: calls-last > want})
		last = calls
		return nil
	}
	sol, err := Solve(f, p.y0, []float64{p.t0, p.T}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return steps, sol
}

// scaledGlobalError is max_j |y_j(T) - exact_j| / (atol + rtol |exact_j|): the
// global error in units of the tolerance.
func scaledGlobalError(p problem, y []float64, rtol, atol float64) float64 {
	ex := make([]float64, len(y))
	p.exact(p.T, ex)
	e := 0.0
	for j := range y {
		e = math.Max(e, math.Abs(y[j]-ex[j])/(atol+rtol*math.Abs(ex[j])))
	}
	return e
}

// TestControllers: the I- and PI-controllers follow their documented laws
// step by step, differ from each other, and both solve a problem with a known
// exact solution to its tolerance.
//
// The laws, recomputed here from the documentation of Controller with
// k = ErrorOrder + 1 (5 for Dopri5, 8 for DOP853's combined estimator):
// after an accepted step with error ratio r (previous accepted ratio r_prev,
// 1 before the first), the next step is h * clamp(0.9 r^-b1 r_prev^b2, 0.2,
// 10), at most h right after a rejection, with (b1, b2) = (1/k, 0) for the
// I-controller and (0.7/k, 0.4/k) for PI. The check covers every step that
// follows an accepted step with no rejection in between and is not shortened
// to land on the final time; the only difference from the solver's own
// arithmetic is the order of a few roundings, hence 1e-14 relative.
func TestControllers(t *testing.T) {
	p := convProblem
	const rtol, atol = 1e-6, 1e-6
	for _, m := range []*Method{Dopri5, Dopri8} {
		k := 5.0
		if m == Dopri8 {
			k = 8
		}
		hs := map[Controller][]stepRecord{}
		for _, c := range []struct {
			name   string
			ctrl   Controller
			b1, b2 float64
		}{{"I", IController, 1 / k, 0}, {"PI", PIController, 0.7 / k, 0.4 / k}} {
			steps, sol := recordSteps(t, p, Options{Method: m, RTol: rtol, ATol: atol, Controller: c.ctrl})
			hs[c.ctrl] = steps
			checked := 0
			rPrev := 1.0
			for n := 0; n+1 < len(steps); n++ {
				cur, next := steps[n], steps[n+1]
				landed := n+2 == len(steps)
				if !next.rejectedBefore && !landed {
					fac := 10.0
					if cur.err > 0 {
						fac = 0.9 * math.Pow(cur.err, -c.b1) * math.Pow(rPrev, c.b2)
					}
					fac = math.Min(10, math.Max(0.2, fac))
					if cur.rejectedBefore {
						fac = math.Min(fac, 1)
					}
					if want := cur.h * fac; math.Abs(next.h-want) > 1e-14*math.Abs(want) {
						t.Errorf("%s %s step %d: h = %.17g, the %s law gives %.17g", m.Name, c.name, n+2, next.h, c.name, want)
					}
					checked++
				}
				rPrev = math.Max(cur.err, 1e-4)
			}
			// Global error against the exact solution, in units of the local
			// tolerance: each accepted step's local error is at most ~1 unit and
			// over these 10-50 steps they add up (the logistic component is
			// contractive, the other grows by at most 16x over a period), so 10
			// units is a firm bound; measured 0.2-0.4 for Dopri5 and 1-3 for DOP853.
			ge := scaledGlobalError(p, sol.Y[1], rtol, atol)
			t.Logf("%s %-2s: %d accepted, %d rejected, NFE %d, law checked on %d steps, global error %.2f tol", m.Name, c.name, sol.Stats.Accepted, sol.Stats.Rejected, sol.Stats.NFE, checked, ge)
			if checked < len(steps)/2 {
				t.Errorf("%s %s: the law was checked on only %d of %d steps", m.Name, c.name, checked, len(steps))
			}
			if ge > 10 {
				t.Errorf("%s %s: global error %.3g x tolerance", m.Name, c.name, ge)
			}
		}
		// The option is honoured: the two controllers take different steps, and
		// PI, whose purpose is to damp the I-controller's accept/reject cycle,
		// rejects no more often (measured: Dopri5 0 vs 6, DOP853 3 vs 3).
		a, b := hs[IController], hs[PIController]
		if ra, rb := rejections(a), rejections(b); rb > ra {
			t.Errorf("%s: PI rejected before %d steps, the I-controller before %d", m.Name, rb, ra)
		}
		same := len(a) == len(b)
		for i := 0; same && i < len(a); i++ {
			same = a[i].h == b[i].h
		}
		if same {
			t.Errorf("%s: the I- and PI-controllers took identical steps", m.Name)
		}
	}
}

// rejections counts the steps preceded by at least one rejected attempt.
func rejections(steps []stepRecord) int {
	n := 0
	for _, s := range steps {
		if s.rejectedBefore {
			n++
		}
	}
	return n
}
