package odeint

import "math"

// Func is the right-hand side of y' = f(t, y). It writes f(t, y) into dydt
// (len(dydt) = len(y)) and must not keep y or dydt after returning: both are
// solver buffers. A non-nil error aborts Solve, which returns it wrapped.
type Func func(t float64, y, dydt []float64) error

// Controller selects the step-size controller of the adaptive methods.
type Controller int

const (
	// PIController is the default: a proportional-integral controller with
	// Hairer, Gustafsson and Söderlind's gains beta1 = 0.7/k, beta2 = 0.4/k
	// (k = ErrorOrder+1): h_new = h * Safety * r^(-beta1) * r_prev^(beta2),
	// where r is the error ratio of this step and r_prev of the last accepted
	// one. It damps the accept/reject oscillation of the I-controller.
	PIController Controller = iota
	// IController is the classical controller h_new = h * Safety * r^(-1/k)
	// (torchdiffeq's and SciPy's).
	IController
)

// Event describes an event function g(t, y): an event happens where g
// crosses zero. Roots are located on the dense output to 1e-12 relative in t.
// Only one crossing per event function per step is detected.
type Event struct {
	// G is the event function. It must not keep y.
	G func(t float64, y []float64) float64
	// Direction selects crossings: +1 only upward (g from negative to
	// non-negative), -1 only downward, 0 both. Up and down are along the
	// solve: in reverse time an upward crossing is one where g increases as
	// t decreases.
	Direction int
	// Terminal stops the solve at the first such crossing.
	Terminal bool
}

// EventHit is a located event.
type EventHit struct {
	Index int       // index into Options.Events
	T     float64   // time of the crossing
	Y     []float64 // state at T (dense output)
}

// StepInfo describes one accepted step to Options.OnStep. Its slices are
// solver buffers, valid only during the call: copy what you keep.
type StepInfo struct {
	T0, T1, H float64   // the step, T1 = T0 + H (H < 0 in reverse time)
	Y0, Y1    []float64 // the states at T0 and T1
	// K holds all stage derivatives of the step, including the extra stages
	// of the dense output (Method.NumStages() rows), so that
	// y(T0 + theta H) = Y0 + H sum_i w_i(theta) K[i] with the weights of
	// Method.InterpWeights.
	K [][]float64
	// Err is the error ratio of the step (accepted iff <= 1); 0 for fixed steps.
	Err float64
	// Step counts accepted steps from 1.
	Step int
}

// Options configures Solve. The zero value is valid for adaptive methods
// and selects Dopri5 with RTol 1e-7 and ATol 1e-9.
type Options struct {
	// Method is the Runge–Kutta method; nil means Dopri5.
	Method *Method
	// RTol and ATol are the relative and absolute tolerances of the local
	// error test: accept iff Norm(err_i / (ATol + RTol*max(|y0_i|,|y1_i|))) <= 1.
	// Both zero select the defaults (1e-7, 1e-9); one zero and the other not,
	// or a negative or non-finite value, is ErrInvalidOptions for an adaptive
	// solve. Fixed-step solves ignore them.
	RTol, ATol float64
	// Norm is the error norm applied to the scaled error vector; nil means
	// the root mean square. A norm that ignores components gives a seminorm
	// (the adjoint's). It must not keep its argument.
	Norm func(scaled []float64) float64
	// Controller selects the step-size controller (PIController default).
	Controller Controller
	// Safety (default 0.9), MinFactor (default 0.2) and MaxFactor (default
	// 10) bound the step-size change: h_new/h in [MinFactor, MaxFactor],
	// and no growth right after a rejection.
	Safety, MinFactor, MaxFactor float64
	// Step is the step size of a fixed-step method (required for those).
	// Set for an adaptive method, it forces fixed steps with its main weights.
	// The last step before a stop, jump or the final time is shortened to land on it.
	Step float64
	// FirstStep is the initial step size; zero selects Hairer's algorithm
	// (one extra evaluation).
	FirstStep float64
	// MinStep: an adaptive step that must shrink below it is ErrStepTooSmall.
	// MaxStep (zero: unbounded) bounds every step.
	MinStep, MaxStep float64
	// MaxSteps caps the step attempts (accepted + rejected) of the whole
	// solve; zero means 100000. Hitting it returns ErrMaxSteps with the
	// partial solution.
	MaxSteps int
	// StopTimes are times the solver must step exactly onto (for example
	// where f has a kink). Times outside the interval are ignored.
	StopTimes []float64
	// JumpTimes are discontinuities of f: the solver steps onto them and
	// restarts after them (f re-evaluated just past the jump, no FSAL reuse,
	// controller memory cleared).
	JumpTimes []float64
	// Events are located on the dense output after every accepted step.
	Events []Event
	// Dense records every accepted step so that Solution.At works anywhere
	// in the solved interval. It costs one amortised append per step.
	Dense bool
	// OnStep, if set, is called after every accepted step; a non-nil error
	// aborts the solve and is returned wrapped, with the partial solution.
	OnStep func(s *StepInfo) error
}

const (
	defaultRTol     = 1e-7
	defaultATol     = 1e-9
	defaultSafety   = 0.9
	defaultMinFac   = 0.2
	defaultMaxFac   = 10
	defaultMaxSteps = 100000
)

// settings are Options with defaults applied and validated.
type settings struct {
	Options
	fixed bool
}

func (o Options) resolve(ts []float64) (*settings, *rk, error) {
	s := &settings{Options: o}
	if s.Method == nil {
		s.Method = Dopri5
	}
	r, err := s.Method.prepare()
	if err != nil {
		return nil, nil, err
	}
	checks := []struct {
		name string
		v    float64
	}{{"RTol", s.RTol}, {"ATol", s.ATol}, {"Step", s.Step}, {"FirstStep", s.FirstStep},
		{"MinStep", s.MinStep}, {"MaxStep", s.MaxStep}, {"Safety", s.Safety},
		{"MinFactor", s.MinFactor}, {"MaxFactor", s.MaxFactor}}
	for _, c := range checks {
		if !finite(c.v) || c.v < 0 {
			return nil, nil, invalid("%s=%g must be finite and non-negative", c.name, c.v)
		}
	}
	if (s.RTol == 0) != (s.ATol == 0) && s.Step == 0 && s.Method.Adaptive() {
		// One tolerance left at zero is most likely a request for pure relative or
		// pure absolute control, which a zero tolerance cannot give (a component at
		// zero would have a zero error scale); quietly substituting the default would
		// solve another problem than the one asked.
		return nil, nil, invalid("RTol=%g, ATol=%g: set both tolerances, or neither for the defaults (%g, %g)", s.RTol, s.ATol, defaultRTol, defaultATol)
	}
	if s.RTol == 0 {
		s.RTol = defaultRTol
	}
	if s.ATol == 0 {
		s.ATol = defaultATol
	}
	if s.Safety == 0 {
		s.Safety = defaultSafety
	}
	if s.MinFactor == 0 {
		s.MinFactor = defaultMinFac
	}
	if s.MaxFactor == 0 {
		s.MaxFactor = defaultMaxFac
	}
	if s.Safety > 1 || s.MinFactor >= 1 || s.MaxFactor <= 1 {
		return nil, nil, invalid("need Safety in (0,1], MinFactor in (0,1), MaxFactor > 1; got %g, %g, %g", s.Safety, s.MinFactor, s.MaxFactor)
	}
	if s.MaxStep == 0 {
		s.MaxStep = math.Inf(1)
	}
	if s.MinStep > s.MaxStep {
		return nil, nil, invalid("MinStep=%g > MaxStep=%g", s.MinStep, s.MaxStep)
	}
	if s.MaxSteps < 0 {
		return nil, nil, invalid("MaxSteps=%d < 0", s.MaxSteps)
	}
	if s.MaxSteps == 0 {
		s.MaxSteps = defaultMaxSteps
	}
	if s.Controller != PIController && s.Controller != IController {
		return nil, nil, invalid("unknown controller %d", s.Controller)
	}
	s.fixed = s.Step > 0 || !s.Method.Adaptive()
	if s.fixed && s.Step == 0 {
		return nil, nil, invalid("fixed-step method %q needs Options.Step > 0", s.Method.Name)
	}
	for _, v := range [][]float64{s.StopTimes, s.JumpTimes} {
		for _, x := range v {
			if !finite(x) {
				return nil, nil, invalid("non-finite stop or jump time %g", x)
			}
		}
	}
	for i, e := range s.Events {
		if e.G == nil {
			return nil, nil, invalid("event %d has nil G", i)
		}
		if e.Direction < -1 || e.Direction > 1 {
			return nil, nil, invalid("event %d: direction %d not in {-1, 0, 1}", i, e.Direction)
		}
	}
	if len(ts) == 0 {
		return nil, nil, invalid("no output times")
	}
	for i, t := range ts {
		if !finite(t) {
			return nil, nil, invalid("ts[%d]=%g is not finite", i, t)
		}
	}
	if len(ts) > 1 {
		dir := ts[1] - ts[0]
		for i := 1; i < len(ts); i++ {
			if d := ts[i] - ts[i-1]; d == 0 || (d > 0) != (dir > 0) {
				return nil, nil, invalid("ts not strictly monotone at index %d", i)
			}
		}
	}
	return s, r, nil
}
