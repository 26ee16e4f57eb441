package mnist

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/neuralode/neuralode/graph"
)

// BenchmarkPaperStep times one training step (loss, backward, SGD step) of the paper's
// ODE-Net (64 channels, Dopri5 at rtol = atol = 1e-3, adjoint) on a batch of 128 real
// MNIST images, and reports the NFE (forward + backward) and the time per NFE, the
// figure compared with torchdiffeq's 1886 ms / 66 NFE in BENCHMARKS.md:
//
//	go test -run '^$' -bench PaperStep -benchtime 5x ./mnist/                       # pure Go, float64
//	OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$' -bench PaperStep -benchtime 5x ./mnist/
//
// The sub-benchmarks cover float64 and float32 graphs. The first step (graph building
// and compilation) is excluded.
func BenchmarkPaperStep(b *testing.B) {
	train, _, err := LoadDefault()
	if err != nil {
		b.Fatal(err)
	}
	for _, f32 := range []bool{false, true} {
		name := "float64"
		if f32 {
			name = "float32"
		}
		b.Run(name, func(b *testing.B) {
			cfg := PaperODENet()
			cfg.Float32 = f32
			m, err := NewModel(cfg, graph.NewParams(rand.New(rand.NewPCG(1, 1))), 0)
			if err != nil {
				b.Fatal(err)
			}
			opt, err := NewOptimizer(m, TrainConfig{Epochs: 1, BatchSize: 128, LR: 0.1, Schedule: "constant"}, 1)
			if err != nil {
				b.Fatal(err)
			}
			bt, err := NewBatcher(train, BatchOptions{BatchSize: 128, Shuffle: true, Rand: rand.New(rand.NewPCG(2, 2))})
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float64, 128*Rows*Cols)
			y := make([]int, 128)
			step := func() (int, time.Duration) {
				if _, err := bt.NextFloat64(x, y); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if _, _, err := m.Loss(x, y); err != nil {
					b.Fatal(err)
				}
				if err := m.Backward(); err != nil {
					b.Fatal(err)
				}
				if _, err := opt.Step(); err != nil {
					b.Fatal(err)
				}
				fw, bw := m.NFE()
				return fw + bw, time.Since(t0)
			}
			step() // builds and compiles the graphs
			b.ResetTimer()
			nfe, dur := 0, time.Duration(0)
			for i := 0; i < b.N; i++ {
				n, d := step()
				nfe += n
				dur += d
			}
			b.ReportMetric(float64(nfe)/float64(b.N), "NFE/step")
			b.ReportMetric(dur.Seconds()*1e3/float64(nfe), "ms/NFE")
			b.ReportMetric(dur.Seconds()*1e3/float64(b.N), "ms/step")
		})
	}
}
