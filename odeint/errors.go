package odeint

import "github.com/pkg/errors"

// Sentinel errors. Solve and Solution.At wrap them with context (the time,
// the offending option) using github.com/pkg/errors, so test them with
// errors.Is, never with ==.
var (
	// ErrNonFinite reports a NaN or Inf in the state or in a derivative
	// returned by the right-hand side. The wrapped message carries the time.
	ErrNonFinite = errors.New("odeint: non-finite state or derivative")
	// ErrStepTooSmall reports that the step size fell below Options.MinStep
	// or below the floating-point resolution of the current time.
	ErrStepTooSmall = errors.New("odeint: step size too small")
	// ErrMaxSteps reports that Options.MaxSteps step attempts (accepted and
	// rejected, over the whole solve) were used up before the last output time.
	ErrMaxSteps = errors.New("odeint: maximum number of steps reached")
	// ErrInvalidOptions reports bad input: tolerances, times, step sizes,
	// tableaus, events, or a dense-output query outside the solved interval.
	ErrInvalidOptions = errors.New("odeint: invalid options")
)
