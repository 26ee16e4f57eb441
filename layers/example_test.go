package layers_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
)

// twoMoons-like data: class 1 points lie above the curve y = sin(2x), class 0 below.
func data(rng *rand.Rand, n int) ([]float64, []int) {
	x, y := make([]float64, 2*n), make([]int, n)
	for i := range y {
		a, b := 3*rng.Float64()-1.5, 3*rng.Float64()-1.5
		x[2*i], x[2*i+1] = a, b
		if b > math.Sin(2*a) {
			y[i] = 1
		}
	}
	return x, y
}

// Example builds a model as a chain of stages (an input layer, a residual block whose f
// is the kind of dynamics an ODE block integrates, a linear head) and trains it with Adam.
func Example() {
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 2)))
	opt := graph.Options{} // float64 graphs, batches split across GOMAXPROCS workers
	in, err := layers.NewGraphStage(layers.Named{Name: "in", Layer: layers.Sequential{layers.Linear{Out: 32}, layers.Tanh}}, ps, []int{2}, opt)
	if err != nil {
		log.Fatal(err)
	}
	f := layers.Named{Name: "f", Layer: layers.Sequential{layers.ConcatSquashLinear{Out: 32}, layers.Softplus, layers.ConcatSquashLinear{Out: 32}}}
	res, err := layers.NewResBlock(f, ps, []int{32}, opt)
	if err != nil {
		log.Fatal(err)
	}
	head, err := layers.NewGraphStage(layers.Named{Name: "head", Layer: layers.Linear{Out: 2}}, ps, []int{32}, opt)
	if err != nil {
		log.Fatal(err)
	}
	model, err := layers.NewModel(ps, map[string]any{"hidden": 32}, in, res, head)
	if err != nil {
		log.Fatal(err)
	}
	adam, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 0.01, Schedule: layers.Cosine(400, 0.1)})
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var first, last float64
	for step := 0; step < 400; step++ {
		x, y := data(rng, 64)
		loss, _, err := model.Loss(x, y) // forward, cross-entropy, keeps the activations
		if err != nil {
			log.Fatal(err)
		}
		if err := model.Backward(); err != nil { // VJPs stage by stage into ps's gradients
			log.Fatal(err)
		}
		if _, err := adam.Step(); err != nil { // updates ps and zeroes the gradients
			log.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
	}
	x, y := data(rng, 1000)
	_, acc, err := model.Loss(x, y)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loss fell 3-fold:", last < first/3)
	fmt.Println("accuracy above 90%:", acc > 0.9)
	// Output:
	// loss fell 3-fold: true
	// accuracy above 90%: true
}

// ExampleNewODEBlock builds the continuous-depth version of Example: the residual block
// h + f(h) becomes an ODE block dh/dt = f(t, h) on [0, 1], solved by Dopri5 at
// rtol = atol = 1e-3 and trained through the paper's adjoint (backsolve), and reports
// what the solver spent per batch.
func ExampleNewODEBlock() {
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 2)))
	opt := graph.Options{Workers: 1}
	in, err := layers.NewGraphStage(layers.Named{Name: "in", Layer: layers.Sequential{layers.Linear{Out: 16}, layers.Tanh}}, ps, []int{2}, opt)
	if err != nil {
		log.Fatal(err)
	}
	f := layers.Named{Name: "f", Layer: layers.Sequential{layers.ConcatSquashLinear{Out: 16}, layers.Tanh, layers.ConcatSquashLinear{Out: 16}}}
	ode, err := layers.NewODEBlock(f, ps, []int{16}, opt, layers.ODEConfig{
		Solver:   odeint.Options{Method: odeint.Dopri5, RTol: 1e-3, ATol: 1e-3},
		Gradient: adjoint.Backsolve,
	})
	if err != nil {
		log.Fatal(err)
	}
	head, err := layers.NewGraphStage(layers.Named{Name: "head", Layer: layers.Linear{Out: 2}}, ps, []int{16}, opt)
	if err != nil {
		log.Fatal(err)
	}
	model, err := layers.NewModel(ps, map[string]any{"hidden": 16}, in, ode, head)
	if err != nil {
		log.Fatal(err)
	}
	adam, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 0.01, Schedule: layers.Cosine(300, 0.1)})
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var first, last float64
	fwdNFE, bwdNFE := 0, 0
	for step := 0; step < 300; step++ {
		x, y := data(rng, 64)
		loss, _, err := model.Loss(x, y) // forward: the ODE block solves and keeps its tape
		if err != nil {
			log.Fatal(err)
		}
		if err := model.Backward(); err != nil { // the adjoint solve backwards through the block
			log.Fatal(err)
		}
		if _, err := adam.Step(); err != nil {
			log.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
		fw, bw := ode.NFE()
		fwdNFE, bwdNFE = fwdNFE+fw, bwdNFE+bw
	}
	x, y := data(rng, 1000)
	_, acc, err := model.Loss(x, y)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loss fell 3-fold:", last < first/3)
	fmt.Println("accuracy above 90%:", acc > 0.9)
	fmt.Println("a few evaluations of f per batch each way:", fwdNFE/300 >= 6 && fwdNFE/300 < 100 && bwdNFE/300 >= 6 && bwdNFE/300 < 200)
	// Output:
	// loss fell 3-fold: true
	// accuracy above 90%: true
	// a few evaluations of f per batch each way: true
}

// ExampleModel_Save saves a model's parameters and configuration to a safetensors file
// and loads them into a second model built from the same configuration.
func ExampleModel_Save() {
	build := func(seed uint64) *layers.Model {
		ps := graph.NewParams(rand.New(rand.NewPCG(seed, 0)))
		st, err := layers.NewGraphStage(layers.Sequential{layers.Linear{Out: 8}, layers.ELU, layers.Linear{Out: 3}}, ps, []int{4}, graph.Options{})
		if err != nil {
			log.Fatal(err)
		}
		m, err := layers.NewModel(ps, map[string]int{"hidden": 8}, st)
		if err != nil {
			log.Fatal(err)
		}
		return m
	}
	dir, err := os.MkdirTemp("", "layers-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mlp.safetensors")

	a, b := build(1), build(2)
	if err := a.Save(path, layers.SaveOptions{}); err != nil {
		log.Fatal(err)
	}
	if err := b.Load(path); err != nil {
		log.Fatal(err)
	}
	x := []float64{0.1, -0.2, 0.3, 0.4}
	ya, _ := a.Forward(x)
	ya = append([]float64(nil), ya...)
	yb, _ := b.Forward(x)
	fmt.Println("identical outputs:", fmt.Sprint(ya) == fmt.Sprint(yb))
	fmt.Println("parameters:", b.Params.Names())
	// Output:
	// identical outputs: true
	// parameters: [0.bias 0.weight 2.bias 2.weight]
}
