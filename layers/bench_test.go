package layers

import (
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
)

// BenchmarkTrainStep measures one Loss + Backward + Adam step of the test models at
// batch 64: the conv -> ResNet block -> head model on 6x6 images (4 channels) and the
// residual MLP of the training test.
func BenchmarkTrainStep(b *testing.B) {
	for _, c := range []struct {
		name  string
		build func(testing.TB, *graph.Params) *Model
	}{
		{"conv-resnet-6x6", func(tb testing.TB, ps *graph.Params) *Model { return convResNet(tb, ps, graph.Options{}) }},
		{"ringnet-mlp", ringNet},
	} {
		b.Run(c.name, func(b *testing.B) {
			ps := graph.NewParams(nil)
			m := c.build(b, ps)
			opt, err := NewOptimizer(ps, OptimConfig{Method: Adam})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x := randVec(rng, 64*m.InDim())
			labels := make([]int, 64)
			for i := range labels {
				labels[i] = i % 3
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.Loss(x, labels); err != nil {
					b.Fatal(err)
				}
				if err := m.Backward(); err != nil {
					b.Fatal(err)
				}
				if _, err := opt.Step(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
