package cnf

import (
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
)

// paperFlow is the paper's CNF setting as torchdiffeq's cnf.py runs it (the reference of the
// speed floor): HyperFlow in TorchdiffeqForm with M = 64,
// base N(0, 0.1^2 I) at t = 0, data at t = 10, dopri5 at rtol = atol = 1e-5, exact trace,
// backsolve adjoint.
func paperFlow(tb testing.TB, seed uint64) (*Flow, *graph.Params) {
	ps := graph.NewParams(rand.New(rand.NewPCG(seed, 1)))
	fl, err := New(HyperFlow{Width: 64, Form: TorchdiffeqForm}.Build, ps, Config{Dim: 2, DataTime: 10, BaseTime: 0, BaseStd: 0.1})
	if err != nil {
		tb.Fatal(err)
	}
	return fl, ps
}

// BenchmarkPaperIteration is one training iteration of the paper's CNF: 512 samples of
// the two-circles target, forward solve, adjoint backward solve, Adam step. It reports
// ms/iter and the forward and backward NFE. PyTorch 1.13 with torchdiffeq takes 1938 ms
// and 81 function evaluations per iteration on this machine kind.
func BenchmarkPaperIteration(b *testing.B) {
	fl, ps := paperFlow(b, 1)
	opt, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 1e-3})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var fnfe, bnfe int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x, err := Toy2D("twocircles", rng, 512)
		if err != nil {
			b.Fatal(err)
		}
		r, err := fl.Gradient(x)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := opt.Step(); err != nil {
			b.Fatal(err)
		}
		fnfe += r.Stats.ForwardNFE
		bnfe += r.Stats.BackwardNFE
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/iter")
	b.ReportMetric(float64(fnfe)/float64(b.N), "fwdNFE/iter")
	b.ReportMetric(float64(bnfe)/float64(b.N), "bwdNFE/iter")
}
