package odeint_test

import (
	"fmt"
	"math"

	"github.com/neuralode/neuralode/odeint"
)

// Solve y' = -y from y(0) = 1 and read the solution at three times.
func ExampleSolve() {
	f := func(t float64, y, dydt []float64) error {
		dydt[0] = -y[0]
		return nil
	}
	sol, err := odeint.Solve(f, []float64{1}, []float64{0, 1, 2}, odeint.Options{RTol: 1e-8, ATol: 1e-10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, t := range sol.T {
		fmt.Printf("y(%g) = %.6f (exact %.6f)\n", t, sol.Y[i][0], math.Exp(-t))
	}
	// Output:
	// y(0) = 1.000000 (exact 1.000000)
	// y(1) = 0.367879 (exact 0.367879)
	// y(2) = 0.135335 (exact 0.135335)
}

// Dense output: record the steps once, then evaluate anywhere in between.
func ExampleSolution_At() {
	f := func(t float64, y, dydt []float64) error {
		dydt[0], dydt[1] = y[1], -y[0] // harmonic oscillator
		return nil
	}
	sol, err := odeint.Solve(f, []float64{1, 0}, []float64{0, 10}, odeint.Options{Method: odeint.Tsit5, Dense: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	y := make([]float64, 2)
	for _, t := range []float64{2.5, 7.25} {
		if err := sol.At(t, y); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("cos(%g) = %.6f, solver %.6f\n", t, math.Cos(t), y[0])
	}
	// Output:
	// cos(2.5) = -0.801144, solver -0.801144
	// cos(7.25) = 0.567924, solver 0.567924
}

// Events: stop when a falling ball reaches the ground.
func ExampleEvent() {
	f := func(t float64, y, dydt []float64) error {
		dydt[0], dydt[1] = y[1], -9.8 // height, velocity
		return nil
	}
	ground := odeint.Event{
		G:         func(t float64, y []float64) float64 { return y[0] },
		Direction: -1, // falling through zero
		Terminal:  true,
	}
	sol, err := odeint.Solve(f, []float64{10, 0}, []float64{0, 100}, odeint.Options{Events: []odeint.Event{ground}})
	if err != nil {
		fmt.Println(err)
		return
	}
	hit := sol.Events[0]
	fmt.Printf("impact at t = %.9f (exact %.9f), speed %.6f\n", hit.T, math.Sqrt(2*10/9.8), -hit.Y[1])
	// Output:
	// impact at t = 1.428571429 (exact 1.428571429), speed 14.000000
}
