package odeint

import (
	"math"
	"sort"

	"github.com/pkg/errors"
)

// Solve integrates y' = f(t, y) from ts[0], where y = y0, through the output
// times ts (strictly increasing, or strictly decreasing to integrate
// backwards) and returns the states at those times.
//
// Output times are interpolated on the dense output of the method, never
// forced steps, so they cost no evaluations of f (Dopri8 evaluates its three
// extra interpolation stages once on a step that contains output times).
// The final time ts[len(ts)-1] and Options.StopTimes/JumpTimes are stepped
// onto exactly. A single output time returns y0 without evaluating f.
//
// On ErrMaxSteps, ErrStepTooSmall, ErrNonFinite, or an error from f or
// OnStep, Solve returns the partial solution (the outputs reached so far,
// the statistics and, with Options.Dense, the recorded steps) together with
// the error. Bad input yields ErrInvalidOptions and a nil solution.
//
// Solve allocates its buffers once per call; the stepping loop itself does
// not allocate (except the amortised appends of Options.Dense and of event
// hits). Solve may be called concurrently if f is safe for concurrent use.
func Solve(f Func, y0, ts []float64, opt Options) (*Solution, error) {
	if f == nil {
		return nil, invalid("nil f")
	}
	if len(y0) == 0 {
		return nil, invalid("empty y0")
	}
	o, r, err := opt.resolve(ts)
	if err != nil {
		return nil, err
	}
	n := len(y0)
	sol := &Solution{
		T:      append([]float64(nil), ts...),
		Y:      make([][]float64, len(ts)),
		Method: o.Method,
		n:      n,
		nst:    r.nst,
		interp: r.interp,
		dense:  o.Dense,
		t0:     ts[0],
		tEnd:   ts[0],
	}
	block := make([]float64, len(ts)*n)
	for i := range sol.Y {
		sol.Y[i] = block[i*n : (i+1)*n : (i+1)*n]
	}
	if !allFinite(y0) {
		sol.T, sol.Y = sol.T[:0], sol.Y[:0]
		return sol, errors.Wrapf(ErrNonFinite, "y0 at t=%g", ts[0])
	}
	copy(sol.Y[0], y0)
	sol.yEnd = sol.Y[0]
	if len(ts) == 1 {
		return sol, nil
	}
	s := newSolver(f, o, r, n, sol)
	err = s.run(y0, ts)
	sol.Stats = s.stats
	return sol, err
}

// stop is a time the solver must step onto.
type stop struct {
	t    float64
	jump bool
}

type solver struct {
	f   Func
	o   *settings
	r   *rk
	n   int
	sol *Solution
	dir float64

	y, y1, ytmp []float64
	k           [][]float64 // stage derivatives, r.nst rows
	fnext       []float64   // f(t1, y1) for non-FSAL methods without an f1 extra stage
	sc, sc2     []float64   // scaled error vectors
	w           []float64   // interpolation weights
	gPrev, gNew []float64
	stops       []stop
	info        StepInfo
	stats       Stats

	// per accepted step
	t, h, t1     float64
	extrasDone   bool
	f1Done       bool
	reached      int
	terminalHit  bool
	terminalT    float64
	terminalY    []float64
	eventScratch []crossing
}

func newSolver(f Func, o *settings, r *rk, n int, sol *Solution) *solver {
	s := &solver{f: f, o: o, r: r, n: n, sol: sol}
	// One backing array for all state-sized buffers.
	nbuf := 5 + r.nst
	buf := make([]float64, nbuf*n)
	next := func() []float64 {
		v := buf[:n:n]
		buf = buf[n:]
		return v
	}
	s.y, s.y1, s.ytmp, s.sc, s.sc2 = next(), next(), next(), next(), next()
	s.k = make([][]float64, r.nst)
	for i := range s.k {
		s.k[i] = next()
	}
	if !o.Method.FSAL && r.f1Extra < 0 {
		s.fnext = make([]float64, n)
	}
	s.w = make([]float64, r.nst)
	if m := len(o.Events); m > 0 {
		s.gPrev = make([]float64, m)
		s.gNew = make([]float64, m)
		s.terminalY = make([]float64, n)
		s.eventScratch = make([]crossing, 0, m)
	}
	return s
}

func (s *solver) norm(v []float64) float64 {
	if s.o.Norm != nil {
		return s.o.Norm(v)
	}
	sum := 0.0
	for _, x := range v {
		sum += x * x
	}
	return math.Sqrt(sum / float64(len(v)))
}

func (s *solver) eval(t float64, y, dydt []float64) error {
	s.stats.NFE++
	if err := s.f(t, y, dydt); err != nil {
		return errors.Wrapf(err, "odeint: f(t=%g)", t)
	}
	return nil
}

// combine writes y + h sum_j a_j k_j into dst. The axpy loops are written by
// hand: the rows are short and sparse, and a call per term into a BLAS-like
// helper costs more than the arithmetic for the small states that dominate
// the step overhead; reslicing to len(dst) lets the compiler drop bounds checks.
func combine(dst, y []float64, h float64, row []term, k [][]float64) {
	copy(dst, y)
	for _, tm := range row {
		c := h * tm.a
		kj := k[tm.j][:len(dst)]
		for i := range dst {
			dst[i] += c * kj[i]
		}
	}
}

// attempt computes the stages of a step from (t, y) with size h ending at
// t1, writes y1 and returns the error ratio (0 for fixed steps).
func (s *solver) attempt(t, h, t1 float64) (float64, error) {
	r := s.r
	last := r.s - 1
	fsal := s.o.Method.FSAL
	for i := 1; i < r.s; i++ {
		dst := s.ytmp
		if fsal && i == last {
			dst = s.y1
		}
		combine(dst, s.y, h, r.rows[i], s.k)
		ti := t + r.c[i]*h
		if r.c[i] == 1 {
			ti = t1
		}
		if err := s.eval(ti, dst, s.k[i]); err != nil {
			return 0, err
		}
	}
	if !fsal {
		combine(s.y1, s.y, h, r.b, s.k)
	}
	if s.o.fixed {
		return 0, nil
	}
	ratio := s.errRatio(h, r.e, s.sc)
	if r.e2 != nil {
		r2 := s.errRatio(h, r.e2, s.sc2)
		if ratio != 0 || r2 != 0 {
			ratio = ratio * ratio / math.Sqrt(ratio*ratio+0.01*r2*r2)
		}
	}
	return ratio, nil
}

// errRatio returns norm(h sum_j e_j k_j / (atol + rtol max(|y|, |y1|))).
func (s *solver) errRatio(h float64, e []term, sc []float64) float64 {
	for i := range sc {
		sc[i] = 0
	}
	for _, tm := range e {
		c := h * tm.a
		kj := s.k[tm.j][:len(sc)]
		for i := range sc {
			sc[i] += c * kj[i]
		}
	}
	atol, rtol := s.o.ATol, s.o.RTol
	y, y1 := s.y[:len(sc)], s.y1[:len(sc)]
	for i := range sc {
		a, b := math.Abs(y[i]), math.Abs(y1[i])
		if b > a {
			a = b
		}
		sc[i] /= atol + rtol*a
	}
	return s.norm(sc)
}

// f1Row returns the buffer that holds f(t1, y1) for the current step.
func (s *solver) f1Row() []float64 {
	switch {
	case s.o.Method.FSAL:
		return s.k[s.r.s-1]
	case s.r.f1Extra >= 0:
		return s.k[s.r.f1Extra]
	}
	return s.fnext
}

// ensureF1 evaluates f(t1, y1) once per accepted step (FSAL methods have it).
func (s *solver) ensureF1() error {
	if s.f1Done {
		return nil
	}
	s.f1Done = true
	row := s.f1Row()
	if err := s.eval(s.t1, s.y1, row); err != nil {
		return err
	}
	if !allFinite(row) {
		return errors.Wrapf(ErrNonFinite, "derivative at t=%g", s.t1)
	}
	return nil
}

// ensureExtras evaluates the dense-output stages of the current step.
func (s *solver) ensureExtras() error {
	if s.extrasDone {
		return nil
	}
	s.extrasDone = true
	r := s.r
	for i := r.s; i < r.nst; i++ {
		if i == r.f1Extra {
			if err := s.ensureF1(); err != nil {
				return err
			}
			continue
		}
		combine(s.ytmp, s.y, s.h, r.rows[i], s.k)
		if err := s.eval(s.t+r.c[i]*s.h, s.ytmp, s.k[i]); err != nil {
			return err
		}
	}
	return nil
}

// interpAt writes the dense output of the current step at theta into dst.
func (s *solver) interpAt(theta float64, dst []float64) error {
	if theta == 1 {
		copy(dst, s.y1)
		return nil
	}
	if err := s.ensureExtras(); err != nil {
		return err
	}
	hornerWeights(s.r.interp, theta, s.w, false)
	copy(dst, s.y)
	for i, wi := range s.w {
		if wi == 0 {
			continue
		}
		c := s.h * wi
		ki := s.k[i][:len(dst)]
		for j := range dst {
			dst[j] += c * ki[j]
		}
	}
	return nil
}

func (s *solver) collectStops(t0, tEnd float64) {
	add := func(v []float64, jump bool) {
		for _, x := range v {
			if s.dir*(x-t0) > 0 && s.dir*(x-tEnd) < 0 {
				s.stops = append(s.stops, stop{x, jump})
			}
		}
	}
	add(s.o.StopTimes, false)
	add(s.o.JumpTimes, true)
	sort.Slice(s.stops, func(i, j int) bool { return s.dir*(s.stops[i].t-s.stops[j].t) < 0 })
}

// initialStep is Hairer, Nørsett and Wanner's algorithm (II.4): it costs
// one evaluation of f. It returns a positive magnitude.
func (s *solver) initialStep(t0, span float64) (float64, error) {
	y, f0 := s.y, s.k[0]
	sc, tmp := s.sc, s.sc2
	atol, rtol := s.o.ATol, s.o.RTol
	for i := range sc {
		sc[i] = y[i] / (atol + math.Abs(y[i])*rtol)
	}
	d0 := s.norm(sc)
	for i := range sc {
		sc[i] = f0[i] / (atol + math.Abs(y[i])*rtol)
	}
	d1 := s.norm(sc)
	h0 := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h0 = 0.01 * d0 / d1
	}
	h0 = math.Min(h0, math.Min(span, s.o.MaxStep))
	for i := range tmp {
		s.ytmp[i] = y[i] + s.dir*h0*f0[i]
	}
	if err := s.eval(t0+s.dir*h0, s.ytmp, tmp); err != nil {
		return 0, err
	}
	for i := range sc {
		sc[i] = (tmp[i] - f0[i]) / (atol + math.Abs(y[i])*rtol)
	}
	d2 := s.norm(sc) / h0
	dm := math.Max(d1, d2)
	var h1 float64
	switch {
	case !finite(d2):
		h1 = h0 // the trial point is non-finite: keep the cautious h0
	case dm <= 1e-15:
		h1 = math.Max(1e-6, h0*1e-3)
	default:
		h1 = math.Pow(0.01/dm, 1/float64(s.r.errOrder+1))
	}
	return math.Min(math.Min(100*h0, h1), math.Min(span, s.o.MaxStep)), nil
}

// partial finalises the solution after an error at time t, where the state
// is s.y.
func (s *solver) partial(t float64, err error) error {
	return s.partialAt(t, s.y, err)
}

// partialAt finalises the solution after an error at time t with state y.
func (s *solver) partialAt(t float64, y []float64, err error) error {
	s.sol.T = s.sol.T[:s.reached]
	s.sol.Y = s.sol.Y[:s.reached]
	s.sol.tEnd = t
	s.sol.yEnd = append([]float64(nil), y...)
	return err
}

func (s *solver) run(y0, ts []float64) error {
	o, r := s.o, s.r
	t0, tEnd := ts[0], ts[len(ts)-1]
	s.dir = 1
	if tEnd < t0 {
		s.dir = -1
	}
	dir := s.dir
	s.collectStops(t0, tEnd)
	copy(s.y, y0)
	s.reached = 1
	t := t0
	if err := s.eval(t, s.y, s.k[0]); err != nil {
		return s.partial(t, err)
	}
	if !allFinite(s.k[0]) {
		return s.partial(t, errors.Wrapf(ErrNonFinite, "derivative at t=%g", t))
	}
	var h float64 // signed proposal
	switch {
	case o.fixed:
		h = dir * o.Step
	case o.FirstStep > 0:
		h = dir * math.Min(o.FirstStep, o.MaxStep)
	default:
		a, err := s.initialStep(t, math.Abs(tEnd-t0))
		if err != nil {
			return s.partial(t, err)
		}
		h = dir * math.Max(a, o.MinStep)
	}
	for i, e := range o.Events {
		s.gPrev[i] = e.G(t, s.y)
	}
	k := float64(r.errOrder + 1)
	beta1, beta2 := 1/k, 0.0
	if o.Controller == PIController {
		beta1, beta2 = 0.7/k, 0.4/k
	}
	rPrev := 1.0
	lastRejected := false
	attempts := 0
	stopIdx := 0
	fixedBase, fixedCount := t, 0 // fixed steps: t = base + count*h limits drift
	for {
		target, isJump := tEnd, false
		if stopIdx < len(s.stops) {
			target, isJump = s.stops[stopIdx].t, s.stops[stopIdx].jump
		}
		if attempts >= o.MaxSteps {
			return s.partial(t, errors.Wrapf(ErrMaxSteps, "%d steps at t=%g", o.MaxSteps, t))
		}
		hTry := h
		if math.Abs(hTry) > o.MaxStep {
			hTry = dir * o.MaxStep
		}
		tNext := t + hTry
		if o.fixed {
			tNext = fixedBase + float64(fixedCount+1)*hTry
		}
		// Land on the target when this step reaches it, or falls short of
		// it by less than 1e-9 of the step (avoids a sliver step).
		landing := dir*(tNext-target) >= -1e-9*math.Abs(hTry)
		if landing {
			tNext = target
			hTry = target - t
		}
		if !landing && math.Abs(hTry) <= 10*math.Abs(math.Nextafter(t, math.Inf(int(dir)))-t) {
			return s.partial(t, errors.Wrapf(ErrStepTooSmall, "h=%g at t=%g", hTry, t))
		}
		ratio, err := s.attempt(t, hTry, tNext)
		attempts++
		if err != nil {
			return s.partial(t, err)
		}
		if !o.fixed {
			bad := !finite(ratio)
			if bad || ratio > 1 {
				s.stats.Rejected++
				fac := o.MinFactor
				if !bad {
					fac = math.Max(o.MinFactor, o.Safety*math.Pow(ratio, -1/k))
				}
				h = hTry * fac
				lastRejected = true
				if math.Abs(h) < o.MinStep || math.Abs(h) <= 10*math.Abs(math.Nextafter(t, math.Inf(int(dir)))-t) {
					if bad {
						return s.partial(t, errors.Wrapf(ErrNonFinite, "state or derivative in the step from t=%g", t))
					}
					return s.partial(t, errors.Wrapf(ErrStepTooSmall, "h=%g below MinStep=%g at t=%g (error ratio %g)", h, o.MinStep, t, ratio))
				}
				continue
			}
		}
		if !allFinite(s.y1) {
			return s.partial(t, errors.Wrapf(ErrNonFinite, "state at t=%g", tNext))
		}
		// Accepted.
		s.stats.Accepted++
		s.t, s.h, s.t1 = t, hTry, tNext
		s.extrasDone = r.nst == r.s
		s.f1Done = o.Method.FSAL
		if s.f1Done && !allFinite(s.k[r.s-1]) {
			return s.partial(t, errors.Wrapf(ErrNonFinite, "derivative at t=%g", tNext))
		}
		reached0, events0 := s.reached, len(s.sol.Events)
		if err := s.acceptStep(ratio, ts); err != nil {
			// The solution ends at t, where this step started: drop what the
			// step had already contributed past t (outputs, event hits), so
			// that T, Events and Interval agree.
			s.reached, s.sol.Events = reached0, s.sol.Events[:events0]
			return s.partial(t, err)
		}
		if s.terminalHit {
			s.sol.T = s.sol.T[:s.reached]
			s.sol.Y = s.sol.Y[:s.reached]
			s.sol.tEnd = s.terminalT
			s.sol.yEnd = append([]float64(nil), s.terminalY...)
			return nil
		}
		if landing && stopIdx >= len(s.stops) {
			s.sol.tEnd = tEnd
			s.sol.yEnd = s.sol.Y[len(ts)-1]
			return nil
		}
		if err := s.ensureF1(); err != nil {
			// The step to tNext was accepted (its outputs are in the solution) but
			// y has not advanced yet: the state at tNext is y1.
			return s.partialAt(tNext, s.y1, err)
		}
		// Next proposal.
		if o.fixed {
			h = dir * o.Step
			fixedCount++
		} else {
			fac := o.MaxFactor
			if ratio > 0 {
				fac = o.Safety * math.Pow(ratio, -beta1) * math.Pow(rPrev, beta2)
			}
			fac = math.Min(o.MaxFactor, math.Max(o.MinFactor, fac))
			if lastRejected {
				fac = math.Min(fac, 1)
			}
			h = hTry * fac
			if math.Abs(h) < o.MinStep {
				h = dir * o.MinStep
			}
			rPrev = math.Max(ratio, 1e-4)
			lastRejected = false
		}
		// Advance: y <- y1, k0 <- f(t1, y1).
		s.y, s.y1 = s.y1, s.y
		f1 := s.f1Row()
		switch {
		case o.Method.FSAL:
			s.k[0], s.k[r.s-1] = f1, s.k[0]
		case r.f1Extra >= 0:
			s.k[0], s.k[r.f1Extra] = f1, s.k[0]
		default:
			s.k[0], s.fnext = f1, s.k[0]
		}
		copy(s.gPrev, s.gNew)
		t = tNext
		if landing {
			stopIdx++
			fixedBase, fixedCount = t, 0
			if isJump {
				// Restart past the discontinuity: f from the right, no
				// controller memory.
				tr := math.Nextafter(t, math.Inf(int(dir)))
				if err := s.eval(tr, s.y, s.k[0]); err != nil {
					return s.partial(t, err)
				}
				if !allFinite(s.k[0]) {
					return s.partial(t, errors.Wrapf(ErrNonFinite, "derivative after jump at t=%g", t))
				}
				rPrev, lastRejected = 1, false
			}
		}
	}
}

// acceptStep handles events, outputs, the callback and dense recording of
// the accepted step (s.t, s.h, s.t1).
func (s *solver) acceptStep(ratio float64, ts []float64) error {
	limit := s.t1
	if len(s.o.Events) > 0 {
		if err := s.events(); err != nil {
			return err
		}
		if s.terminalHit {
			limit = s.terminalT
		}
	}
	dir := s.dir
	for s.reached < len(ts) && dir*(ts[s.reached]-limit) <= 0 {
		tr := ts[s.reached]
		dst := s.sol.Y[s.reached]
		if tr == s.t1 {
			copy(dst, s.y1)
		} else if err := s.interpAt((tr-s.t)/s.h, dst); err != nil {
			return err
		}
		s.reached++
	}
	if s.o.OnStep != nil {
		if err := s.ensureExtras(); err != nil {
			return err
		}
		s.info = StepInfo{T0: s.t, T1: s.t1, H: s.h, Y0: s.y, Y1: s.y1, K: s.k, Err: ratio, Step: s.stats.Accepted}
		if err := s.o.OnStep(&s.info); err != nil {
			return errors.Wrapf(err, "odeint: OnStep at t=%g", s.t1)
		}
	}
	if s.o.Dense {
		if err := s.ensureExtras(); err != nil {
			return err
		}
		sol := s.sol
		sol.stepT = append(sol.stepT, s.t)
		sol.stepH = append(sol.stepH, s.h)
		sol.data = append(sol.data, s.y...)
		for _, k := range s.k {
			sol.data = append(sol.data, k...)
		}
	}
	return nil
}
