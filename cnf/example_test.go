package cnf_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/neuralode/neuralode/cnf"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
	G "gorgonia.org/gorgonia"
)

// Train a small FFJORD flow on 8gaussians for a few Adam steps and evaluate its density.
func ExampleFlow_Gradient() {
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 2)))
	fl, err := cnf.New(cnf.ConcatSquashMLP{Hidden: []int{16, 16}}.Build, ps, cnf.Config{
		Dim: 2, Trace: graph.TraceHutchinson, Probe: cnf.Rademacher,
		Solver: odeint.Options{RTol: 1e-4, ATol: 1e-4},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	opt, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 1e-2})
	if err != nil {
		fmt.Println(err)
		return
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var first, last float64
	for i := 0; i < 20; i++ {
		x, _ := cnf.Toy2D("8gaussians", rng, 64)
		res, err := fl.Gradient(x) // adds the gradient of the mean NLL to ps
		if err != nil {
			fmt.Println(err)
			return
		}
		if _, err := opt.Step(); err != nil {
			fmt.Println(err)
			return
		}
		if i == 0 {
			first = res.NLL
		}
		last = res.NLL
	}
	fmt.Println("NLL decreased:", last < first)
	// Output: NLL decreased: true
}

// The density of a linear flow f = A z is known exactly: log p(x) = log p_base(z0) - T tr(A).
func ExampleFlow_LogDensity() {
	ps := graph.NewParams(nil)
	fl, err := cnf.New(func(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
		at, err := s.Param("AT", []int{2, 2}, graph.Values(-0.5, 0, 0, -0.25)) // A = diag(-0.5, -0.25)
		if err != nil {
			return nil, err
		}
		return G.Mul(z, at)
	}, ps, cnf.Config{Dim: 2, DataTime: 2, BaseTime: 0, Solver: odeint.Options{RTol: 1e-10, ATol: 1e-10}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := fl.LogDensity([]float64{0, 0})
	if err != nil {
		fmt.Println(err)
		return
	}
	// At the origin z0 = 0: log p = -log(2 pi) - T tr(A) = -1.837877 + 1.5.
	fmt.Printf("log p(0) = %.6f\n", r.LogP[0])
	// Output: log p(0) = -0.337877
}
