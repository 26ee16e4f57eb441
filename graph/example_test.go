package graph_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/neuralode/neuralode/graph"
	G "gorgonia.org/gorgonia"
)

// A linear right-hand side f(t, z) = z A with A a parameter, evaluated and
// differentiated for a batch of two states.
func ExampleNewDynamics() {
	build := func(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
		a, err := s.Param("A", []int{2, 2}, graph.Values(0, 1, -1, 0))
		if err != nil {
			return nil, err
		}
		return G.Mul(z, a)
	}
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 1)))
	f, err := graph.NewDynamics(build, ps, []int{2}, graph.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	y := []float64{1, 0, 0, 2} // two samples: (1, 0) and (0, 2)
	dydt := make([]float64, 4)
	if err := f.Eval(0, y, dydt); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("f:", dydt)

	// a^T df/dz and a^T df/dA for the cotangent a = (1, 1) on the first sample.
	a := []float64{1, 1, 0, 0}
	dy, dp := make([]float64, 4), make([]float64, f.NumParams())
	if _, err := f.VJP(0, y, a, nil, dy, dp); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a^T df/dz:", dy)
	fmt.Println("a^T df/dA:", dp)
	// Output:
	// f: [0 1 -2 0]
	// a^T df/dz: [1 -1 0 0]
	// a^T df/dA: [1 1 0 0]
}

// The exact trace of df/dz for each sample, as a continuous normalizing flow needs it.
func ExampleDynamics_Trace() {
	build := func(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
		a, err := s.Param("A", []int{2, 2}, graph.Values(0.5, 1, -1, 0.25))
		if err != nil {
			return nil, err
		}
		return G.Mul(z, a)
	}
	f, err := graph.NewDynamics(build, graph.NewParams(nil), []int{2}, graph.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := make([]float64, 2)
	if err := f.Trace(graph.TraceExact, 0, []float64{1, 2, 3, 4}, &graph.TraceIO{Tr: tr}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr) // tr(A) = 0.75 for every sample of a linear flow
	// Output: [0.75 0.75]
}
