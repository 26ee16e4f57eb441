package mnist

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
)

// TestParameterCounts asserts the paper's ODE-Net count (208,266: Chen et al. report
// 0.22M) and prints the others. The ResNet's 576,778 is torchdiffeq's 6 ResBlocks
// (bias-free convolutions) between the same stem and head (the paper reports 0.60M).
func TestParameterCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ModelConfig
		want int
	}{
		{"odenet", PaperODENet(), 208266},
		{"resnet", PaperResNet(), 576778},
		{"rknet", PaperRKNet(), 208266},
		{"mlp", PaperMLP(), 784*300 + 300 + 300*10 + 10},
	} {
		m, err := NewModel(tc.cfg, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Params.Len()
		t.Logf("%s: %d parameters", tc.name, got)
		if got != tc.want {
			t.Errorf("%s: %d parameters, want %d", tc.name, got, tc.want)
		}
	}
}

func TestModelConfigErrors(t *testing.T) {
	bad := []ModelConfig{
		{Arch: "transformer", Channels: 8},
		{Arch: ArchODENet, Channels: 0},
		{Arch: ArchODENet, Channels: 4, Stem: "huge", Method: "dopri5"},
		{Arch: ArchODENet, Channels: 4, Method: "magic"},
		{Arch: ArchODENet, Channels: 4, Method: "rk4"},
		{Arch: ArchODENet, Channels: 4, Method: "dopri5", Gradient: "guess"},
		{Arch: ArchRKNet, Channels: 4, Method: "dopri5"},
		{Arch: ArchResNet, Channels: 4},
		{Arch: ArchMLP},
	}
	for _, c := range bad {
		if _, err := NewModel(c, nil, 1); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestSmallModelsRun: every architecture at a small width runs a loss and a backward
// pass on a batch of images, and its loss starts near log(10) (a fresh classifier's
// predictions are close to uniform).
func TestSmallModelsRun(t *testing.T) {
	cfgs := []ModelConfig{
		{Arch: ArchODENet, Stem: StemFast, Channels: 4, Method: "rk4", Step: 0.5, Gradient: "backsolve"},
		{Arch: ArchODENet, Stem: StemPaper, Channels: 4, Method: "dopri5", RTol: 1e-3, ATol: 1e-3, Gradient: "seminorm", Float32: true},
		{Arch: ArchRKNet, Stem: StemFast, Channels: 4, Method: "rk4", Step: 0.5, Gradient: "direct"},
		{Arch: ArchResNet, Stem: StemFast, Channels: 4, ResBlocks: 2},
		{Arch: ArchMLP, Hidden: 16},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 3*Rows*Cols)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	for _, c := range cfgs {
		m, err := NewModel(c, graph.NewParams(rand.New(rand.NewPCG(3, 4))), 1)
		if err != nil {
			t.Fatal(err)
		}
		loss, _, err := m.Loss(x, []int{1, 5, 9})
		if err != nil {
			t.Fatalf("%s: %v", c.Arch, err)
		}
		if math.Abs(loss-math.Log(10)) > 1 {
			t.Errorf("%s: initial loss %g, want about log 10 = 2.30", c.Arch, loss)
		}
		if err := m.Backward(); err != nil {
			t.Fatalf("%s: %v", c.Arch, err)
		}
	}
}
