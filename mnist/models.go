package mnist

import (
	"fmt"
	"strings"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
	"gorgonia.org/tensor"
)

// Rows and Cols are the MNIST image size.
const (
	Rows = 28
	Cols = 28
)

// Architectures of ModelConfig.Arch.
const (
	ArchODENet = "odenet" // downsampling, one ODE block, head (the paper's ODE-Net)
	ArchResNet = "resnet" // downsampling, ResBlocks residual blocks, head
	ArchRKNet  = "rknet"  // the ODE-Net's dynamics on a fixed Runge-Kutta grid, backpropagated through
	ArchMLP    = "mlp"    // one hidden layer
)

// Downsampling stems of ModelConfig.Stem.
const (
	// StemPaper is the paper's: Conv(1->C, 3x3) -> GN -> ReLU -> Conv(C->C, 4x4, s2, p1)
	// -> GN -> ReLU -> Conv(C->C, 4x4, s2, p1); 28x28 -> 26 -> 13 -> 6x6.
	StemPaper = "paper"
	// StemFast is two strided convolutions, Conv(1->C, 4x4, s2, p1) -> GN -> ReLU ->
	// Conv(C->C, 4x4, s2, p1); 28x28 -> 14 -> 7x7: the paper's stem costs 26x26 and
	// 13x13 maps, which dominate a small model's time in pure Go.
	StemFast = "fast"
)

// ModelConfig describes an MNIST classifier. It is stored in checkpoints, so its fields
// are plain values.
type ModelConfig struct {
	Arch     string `json:"arch"`
	Stem     string `json:"stem"`
	Channels int    `json:"channels"`
	// ResBlocks is the number of residual blocks of the ResNet (the paper's 6).
	ResBlocks int `json:"res_blocks,omitempty"`
	// Hidden is the MLP's hidden width.
	Hidden int `json:"hidden,omitempty"`
	// Float32 builds float32 graphs (faster convolutions); the API stays float64.
	Float32 bool `json:"float32,omitempty"`

	// ODE block (odenet, rknet): interval [0, T], solver, tolerances or step.
	T        float64 `json:"t,omitempty"`
	Method   string  `json:"method,omitempty"` // odeint method name: dopri5, rk4, ...
	RTol     float64 `json:"rtol,omitempty"`
	ATol     float64 `json:"atol,omitempty"`
	Step     float64 `json:"step,omitempty"`     // fixed-step methods
	Gradient string  `json:"gradient,omitempty"` // backsolve, seminorm, checkpointed, direct
}

// PaperODENet returns the configuration of the paper's ODE-Net: 64 channels, the paper's
// stem, Dopri5 at rtol = atol = 1e-3 with the adjoint; 208,266 parameters.
func PaperODENet() ModelConfig {
	return ModelConfig{Arch: ArchODENet, Stem: StemPaper, Channels: 64, T: 1, Method: "dopri5", RTol: 1e-3, ATol: 1e-3, Gradient: "backsolve"}
}

// PaperResNet returns the paper's comparison ResNet: the same stem and head around 6
// residual blocks GN -> ReLU -> Conv3x3 -> GN -> ReLU -> Conv3x3 (no conv bias, as
// torchdiffeq's ResBlock); 576,778 parameters.
func PaperResNet() ModelConfig {
	return ModelConfig{Arch: ArchResNet, Stem: StemPaper, Channels: 64, ResBlocks: 6}
}

// PaperRKNet returns the RK-Net: the ODE-Net's dynamics on a fixed RK4 grid (step 0.25)
// backpropagated through the solver's steps.
func PaperRKNet() ModelConfig {
	return ModelConfig{Arch: ArchRKNet, Stem: StemPaper, Channels: 64, T: 1, Method: "rk4", Step: 0.25, Gradient: "direct"}
}

// PaperMLP returns a one-hidden-layer MLP (784 -> 300 -> 10).
func PaperMLP() ModelConfig { return ModelConfig{Arch: ArchMLP, Hidden: 300} }

// Methods maps odeint method names (as flags spell them) to methods.
var Methods = map[string]*odeint.Method{
	"euler": odeint.Euler, "midpoint": odeint.Midpoint, "heun": odeint.Heun, "rk4": odeint.RK4,
	"heuneuler": odeint.HeunEuler, "bosh3": odeint.Bosh3, "dopri5": odeint.Dopri5, "tsit5": odeint.Tsit5, "dopri8": odeint.Dopri8,
}

// odeConfig turns the configuration's solver fields into an ODE block configuration.
func (c ModelConfig) odeConfig() (layers.ODEConfig, error) {
	m, ok := Methods[strings.ToLower(c.Method)]
	if !ok {
		return layers.ODEConfig{}, errors.Errorf("mnist: unknown ODE method %q", c.Method)
	}
	t := c.T
	if t == 0 {
		t = 1
	}
	cfg := layers.ODEConfig{T0: 0, T1: t, Solver: odeint.Options{Method: m, RTol: c.RTol, ATol: c.ATol, Step: c.Step}}
	if !m.Adaptive() && c.Step <= 0 {
		return cfg, errors.Errorf("mnist: fixed-step method %q needs a step", c.Method)
	}
	switch strings.ToLower(c.Gradient) {
	case "", "backsolve", "adjoint":
		cfg.Gradient = adjoint.Backsolve
	case "seminorm":
		cfg.Gradient, cfg.Seminorm = adjoint.Backsolve, true
	case "checkpointed":
		cfg.Gradient = adjoint.Checkpointed
	case "direct", "backprop":
		cfg.Gradient = adjoint.Direct
	default:
		return cfg, errors.Errorf("mnist: unknown gradient method %q", c.Gradient)
	}
	return cfg, nil
}

// stem returns the downsampling layers and the per-sample shape they produce.
func (c ModelConfig) stem() (layers.Layer, []int, error) {
	ch := c.Channels
	switch c.Stem {
	case StemPaper, "":
		return layers.Sequential{
			layers.Conv2d{Out: ch, Kernel: 3},
			layers.GroupNorm{}, layers.ReLU,
			layers.Conv2d{Out: ch, Kernel: 4, Stride: 2, Padding: 1},
			layers.GroupNorm{}, layers.ReLU,
			layers.Conv2d{Out: ch, Kernel: 4, Stride: 2, Padding: 1},
		}, []int{ch, 6, 6}, nil
	case StemFast:
		return layers.Sequential{
			layers.Conv2d{Out: ch, Kernel: 4, Stride: 2, Padding: 1},
			layers.GroupNorm{}, layers.ReLU,
			layers.Conv2d{Out: ch, Kernel: 4, Stride: 2, Padding: 1},
		}, []int{ch, 7, 7}, nil
	}
	return nil, nil, errors.Errorf("mnist: unknown stem %q", c.Stem)
}

// ODEFunc is the paper's ODE-Net dynamics on C channels:
// GN -> ReLU -> ConcatConv(C+1 -> C, 3x3) -> GN -> ReLU -> ConcatConv -> GN.
func ODEFunc(ch int) layers.Layer {
	return layers.Sequential{
		layers.GroupNorm{}, layers.ReLU, layers.ConcatConv2d{Out: ch, Kernel: 3, Padding: 1},
		layers.GroupNorm{}, layers.ReLU, layers.ConcatConv2d{Out: ch, Kernel: 3, Padding: 1},
		layers.GroupNorm{},
	}
}

// resFunc is torchdiffeq's ResBlock body: GN -> ReLU -> Conv3x3 -> GN -> ReLU -> Conv3x3
// (no convolution bias).
func resFunc(ch int) layers.Layer {
	return layers.Sequential{
		layers.GroupNorm{}, layers.ReLU, layers.Conv2d{Out: ch, Kernel: 3, Padding: 1, NoBias: true},
		layers.GroupNorm{}, layers.ReLU, layers.Conv2d{Out: ch, Kernel: 3, Padding: 1, NoBias: true},
	}
}

// head is GN -> ReLU -> global average pool -> Linear(C, 10).
func head() layers.Layer {
	return layers.Sequential{layers.GroupNorm{}, layers.ReLU, layers.GlobalAvgPool{}, layers.Linear{Out: NumClasses}}
}

// NewModel builds the classifier described by cfg over a new parameter set drawn from
// ps (nil: a fixed seed). Inputs are batches of normalised 1x28x28 images.
func NewModel(cfg ModelConfig, ps *graph.Params, workers int) (*layers.Model, error) {
	if ps == nil {
		ps = graph.NewParams(nil)
	}
	opt := graph.Options{Workers: workers}
	if cfg.Float32 {
		opt.Dtype = tensor.Float32
	}
	in := []int{1, Rows, Cols}
	if cfg.Arch == ArchMLP {
		if cfg.Hidden <= 0 {
			return nil, errors.Errorf("mnist: MLP with %d hidden units", cfg.Hidden)
		}
		st, err := layers.NewGraphStage(layers.Named{Name: "mlp", Layer: layers.Sequential{
			layers.Flatten{}, layers.Linear{Out: cfg.Hidden}, layers.ReLU, layers.Linear{Out: NumClasses},
		}}, ps, in, opt)
		if err != nil {
			return nil, err
		}
		return layers.NewModel(ps, cfg, st)
	}
	if cfg.Channels <= 0 {
		return nil, errors.Errorf("mnist: %d channels", cfg.Channels)
	}
	stemLayer, shape, err := cfg.stem()
	if err != nil {
		return nil, err
	}
	down, err := layers.NewGraphStage(layers.Named{Name: "downsampling", Layer: stemLayer}, ps, in, opt)
	if err != nil {
		return nil, err
	}
	stages := []layers.Stage{down}
	switch cfg.Arch {
	case ArchODENet, ArchRKNet:
		oc, err := cfg.odeConfig()
		if err != nil {
			return nil, err
		}
		if cfg.Arch == ArchRKNet && oc.Solver.Method.Adaptive() && oc.Solver.Step == 0 {
			return nil, errors.New("mnist: an RK-Net integrates on a fixed grid: give a fixed-step method and step")
		}
		ode, err := layers.NewODEBlock(layers.Named{Name: "odefunc", Layer: ODEFunc(cfg.Channels)}, ps, shape, opt, oc)
		if err != nil {
			return nil, err
		}
		stages = append(stages, ode)
	case ArchResNet:
		if cfg.ResBlocks <= 0 {
			return nil, errors.Errorf("mnist: ResNet with %d blocks", cfg.ResBlocks)
		}
		for i := 0; i < cfg.ResBlocks; i++ {
			rb, err := layers.NewResBlock(layers.Named{Name: fmt.Sprintf("res%d", i), Layer: resFunc(cfg.Channels)}, ps, shape, opt)
			if err != nil {
				return nil, err
			}
			stages = append(stages, rb)
		}
	default:
		return nil, errors.Errorf("mnist: unknown architecture %q", cfg.Arch)
	}
	h, err := layers.NewGraphStage(layers.Named{Name: "head", Layer: head()}, ps, shape, opt)
	if err != nil {
		return nil, err
	}
	return layers.NewModel(ps, cfg, append(stages, h)...)
}
