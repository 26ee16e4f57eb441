package layers

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/neuralode/neuralode/graph"
)

// convResNet builds the three-stage model conv -> ResNet block -> pooled linear head on
// [1, 6, 6] images with 3 classes. The ResNet block's f is the torchdiffeq ODE-Net
// dynamics (norm, relu, time-concatenated convolutions), which an ODE block will integrate.
func convResNet(t testing.TB, ps *graph.Params, opt graph.Options) *Model {
	t.Helper()
	const ch = 4
	down, err := NewGraphStage(Named{"down", Sequential{Conv2d{Out: ch, Kernel: 3, Padding: 1}, GroupNorm{Groups: 2}, ReLU}}, ps, []int{1, 6, 6}, opt)
	if err != nil {
		t.Fatal(err)
	}
	f := Named{"f", Sequential{GroupNorm{Groups: 2}, ReLU, ConcatConv2d{Out: ch, Kernel: 3, Padding: 1},
		GroupNorm{Groups: 2}, ReLU, ConcatConv2d{Out: ch, Kernel: 3, Padding: 1}, GroupNorm{Groups: 2}}}
	res, err := NewResBlock(f, ps, []int{ch, 6, 6}, opt)
	if err != nil {
		t.Fatal(err)
	}
	res.T, res.H = 0.3, 0.7 // exercise the time input and the step scaling
	head, err := NewGraphStage(Named{"head", Sequential{GroupNorm{Groups: 2}, ReLU, GlobalAvgPool{}, Linear{Out: 3}}}, ps, []int{ch, 6, 6}, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ps, map[string]any{"model": "conv-resnet", "channels": ch}, down, res, head)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModelGradientsAgainstFiniteDifferences: Loss then Backward through conv -> ResNet
// block -> pooled head with cross-entropy gives every parameter's gradient and the input
// gradient of the mean loss, checked against central differences of Loss.
func TestModelGradientsAgainstFiniteDifferences(t *testing.T) {
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 1)))
	m := convResNet(t, ps, graph.Options{Workers: 1})
	rng := rand.New(rand.NewPCG(12, 13))
	for _, p := range ps.List() { // move GroupNorm's affine parameters off 1 and 0
		v := ps.Value(p)
		for i := range v {
			v[i] += 0.2 * rng.NormFloat64()
		}
	}
	const b = 3
	x := randVec(rng, b*m.InDim())
	labels := []int{2, 0, 1}
	if _, _, err := m.Loss(x, labels); err != nil {
		t.Fatal(err)
	}
	ps.ZeroGrad()
	if err := m.Backward(); err != nil {
		t.Fatal(err)
	}
	dp := append([]float64(nil), ps.FlatGrad()...)
	dx := append([]float64(nil), m.InputGrad()...)
	loss := func() float64 {
		l, _, err := m.Loss(x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if r := relErr(dp, fdGrad(ps.Flat(), loss)); r > fdTol {
		t.Errorf("parameter gradient (%d values): relative error %g", len(dp), r)
	}
	if r := relErr(dx, fdGrad(x, loss)); r > fdTol {
		t.Errorf("input gradient: relative error %g", r)
	}
	// Backward adds: a second pass doubles the accumulated gradient.
	if _, _, err := m.Loss(x, labels); err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(); err != nil {
		t.Fatal(err)
	}
	for i, g := range ps.FlatGrad() {
		if d := g - 2*dp[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("gradient %d: %g after two passes, %g after one", i, g, dp[i])
		}
	}
}

// TestModelWorkersAgree: a batch split across workers gives the single-worker loss and
// gradients (to rounding: the chunks' parameter gradients are summed in another order).
func TestModelWorkersAgree(t *testing.T) {
	run := func(workers int) (float64, []float64) {
		ps := graph.NewParams(rand.New(rand.NewPCG(1, 1)))
		m := convResNet(t, ps, graph.Options{Workers: workers, MinChunk: 4})
		rng := rand.New(rand.NewPCG(14, 15))
		x := randVec(rng, 16*m.InDim())
		labels := make([]int, 16)
		for i := range labels {
			labels[i] = i % 3
		}
		l, _, err := m.Loss(x, labels)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(); err != nil {
			t.Fatal(err)
		}
		return l, ps.FlatGrad()
	}
	l1, g1 := run(1)
	l2, g2 := run(2)
	if r := relErr([]float64{l2}, []float64{l1}); r > 1e-13 {
		t.Errorf("loss %g with 2 workers, %g with 1", l2, l1)
	}
	if r := relErr(g2, g1); r > 1e-12 {
		t.Errorf("gradients differ by %g between 1 and 2 workers", r)
	}
}

func TestModelErrors(t *testing.T) {
	ps := graph.NewParams(nil)
	a, err := NewGraphStage(Linear{Out: 3}, ps, []int{2}, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewGraphStage(Named{"b", Linear{Out: 2}}, ps, []int{4}, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewModel(ps, nil, a, b); err == nil {
		t.Error("stage shapes [3] -> [4]: no error")
	}
	m, err := NewModel(ps, nil, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(); err == nil {
		t.Error("Backward before Loss: no error")
	}
	if _, err := m.Forward(make([]float64, 3)); err == nil {
		t.Error("input of 3 values for samples of 2: no error")
	}
	if _, _, err := m.Loss(make([]float64, 4), []int{0}); err == nil {
		t.Error("one label for two samples: no error")
	}
	if _, _, err := m.Loss(make([]float64, 4), []int{0, 3}); err == nil {
		t.Error("label 3 of 3 classes: no error")
	}
	if err := m.BackwardFrom(make([]float64, 5)); err == nil {
		t.Error("cotangent of the wrong length: no error")
	}
}

// TestModelMemoryFlat: repeated training steps at one batch size do not grow the heap
// (buffers are reused; graph programs keep their own).
func TestModelMemoryFlat(t *testing.T) {
	ps := graph.NewParams(nil)
	m := convResNet(t, ps, graph.Options{Workers: 1})
	opt, err := NewOptimizer(ps, OptimConfig{Method: Adam})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 17))
	x := randVec(rng, 8*m.InDim())
	labels := []int{0, 1, 2, 0, 1, 2, 0, 1}
	step := func() {
		if _, _, err := m.Loss(x, labels); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(); err != nil {
			t.Fatal(err)
		}
		if _, err := opt.Step(); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for i := 0; i < 5; i++ {
		step()
	}
	before := heap()
	for i := 0; i < 100; i++ {
		step()
	}
	if after := heap(); after > before+256<<10 {
		t.Errorf("heap grew from %d to %d bytes over 100 steps", before, after)
	}
}
