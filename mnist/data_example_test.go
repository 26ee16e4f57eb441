package mnist_test

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"

	"github.com/neuralode/neuralode/mnist"
)

// Example loads MNIST from the GoMNIST module, takes a class-balanced subset for a quick run and cuts it into
// shuffled, normalised, randomly cropped batches in NCHW layout, epoch after epoch.
func Example() {
	train, _, err := mnist.LoadDefault()
	if err != nil {
		log.Fatal(err)
	}
	small, err := train.Balanced(1000)
	if err != nil {
		log.Fatal(err)
	}
	const batch = 128
	b, err := mnist.NewBatcher(small, mnist.BatchOptions{
		BatchSize: batch, Shuffle: true, CropPad: 4, Rand: rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		log.Fatal(err)
	}
	x := make([]float32, batch*1*28*28) // [B, 1, 28, 28]
	y := make([]int, batch)
	for epoch := 1; epoch <= 2; epoch++ {
		seen := 0
		for {
			n, err := b.NextFloat32(x, y)
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			seen += n // a model would train on x[:n*784] and y[:n] here
		}
		fmt.Printf("epoch %d: %d examples in %d batches\n", epoch, seen, b.BatchesPerEpoch())
	}
	fmt.Printf("a black pixel is %.4f after normalisation\n", mnist.Normalize(0))
	// Output:
	// epoch 1: 1000 examples in 8 batches
	// epoch 2: 1000 examples in 8 batches
	// a black pixel is -0.4242 after normalisation
}
