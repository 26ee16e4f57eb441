// Package odeint solves initial-value problems y' = f(t, y) for y in R^n
// with explicit Runge–Kutta methods: the black-box ODE solver of the Neural
// ODE library. It is pure numerics on []float64 and imports nothing of
// Gorgonia; a graph's dynamics plug in as a Func.
//
// The one call that matters:
//
//	sol, err := odeint.Solve(f, y0, []float64{0, 0.5, 1}, odeint.Options{RTol: 1e-6, ATol: 1e-8})
//	// sol.Y[i] is y(ts[i]); sol.Stats.NFE counts evaluations of f.
//
// Methods are Butcher-tableau data (Method) run by one generic stepper:
// fixed-step Euler, Midpoint, Heun and RK4; adaptive HeunEuler 2(1),
// Bosh3 3(2), Dopri5 5(4) (the default), Tsit5 5(4) and Dopri8 (DOP853).
// Adaptive steps use a PI controller (or the classical I-controller) with
// Hairer's initial step; output times are interpolated on each method's
// continuous extension, never forced steps. Options add stop and jump
// times, events located on the dense output, a pluggable error norm (the
// adjoint's seminorm), per-step callbacks with all stage derivatives, and
// dense output over the whole interval (Solution.At). Every continuous
// extension is linear in the stage derivatives (Method.InterpWeights), so
// gradients can be propagated through exactly the formulas used here.
//
// Errors wrap the sentinels ErrNonFinite, ErrStepTooSmall, ErrMaxSteps and
// ErrInvalidOptions (test with errors.Is); failed solves return the partial
// solution. Exported functions never panic on bad input.
package odeint
