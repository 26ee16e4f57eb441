package mnist_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/mnist"
)

// ExampleNewModel builds the paper's ODE-Net (the ODE block solved by Dopri5 at
// rtol = atol = 1e-3, gradients by the adjoint method) and takes one training step on a
// batch of real images: forward loss, backward pass through the adjoint, SGD step.
// mnist.Train runs this loop over epochs with a schedule; examples/odenet-mnist is the
// whole program.
func ExampleNewModel() {
	train, _, err := mnist.LoadDefault()
	if err != nil {
		log.Fatal(err)
	}
	m, err := mnist.NewModel(mnist.PaperODENet(), graph.NewParams(rand.New(rand.NewPCG(1, 1))), 0)
	if err != nil {
		log.Fatal(err)
	}
	const batch = 32
	opt, err := mnist.NewOptimizer(m, mnist.TrainConfig{Epochs: 1, BatchSize: batch, LR: 0.1, Schedule: "constant"}, 1)
	if err != nil {
		log.Fatal(err)
	}
	b, err := mnist.NewBatcher(train, mnist.BatchOptions{BatchSize: batch})
	if err != nil {
		log.Fatal(err)
	}
	x, y := make([]float64, batch*mnist.Rows*mnist.Cols), make([]int, batch)
	if _, err := b.NextFloat64(x, y); err != nil {
		log.Fatal(err)
	}
	loss, _, err := m.Loss(x, y)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Backward(); err != nil {
		log.Fatal(err)
	}
	if _, err := opt.Step(); err != nil {
		log.Fatal(err)
	}
	fw, bw := m.NFE()
	fmt.Printf("%d parameters\n", m.Params.Len())
	// An untrained classifier's cross-entropy is near ln 10 = 2.30.
	fmt.Printf("initial loss within 0.5 of ln 10: %v; f evaluated forward and backward: %v\n", math.Abs(loss-math.Log(10)) < 0.5, fw > 0 && bw > 0)
	// Output:
	// 208266 parameters
	// initial loss within 0.5 of ln 10: true; f evaluated forward and backward: true
}
