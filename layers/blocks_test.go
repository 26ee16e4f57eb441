package layers

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"gorgonia.org/tensor"
)

type blockCase struct {
	name  string
	layer Layer
	in    []int // per-sample input shape
	batch int
	timed bool // time-dependent: built as dynamics f(t, z) (output shape = input shape)
}

var blockCases = []blockCase{
	{"linear", Linear{Out: 3}, []int{4}, 3, false},
	{"linear-nobias", Linear{Out: 2, NoBias: true}, []int{5}, 2, false},
	{"conv-stride2-pad1", Conv2d{Out: 3, Kernel: 3, Stride: 2, Padding: 1}, []int{2, 5, 5}, 2, false},
	{"conv-1x1-nobias", Conv2d{Out: 2, Kernel: 1, NoBias: true}, []int{3, 3, 3}, 2, false},
	{"groupnorm", Sequential{Conv2d{Out: 4, Kernel: 1}, GroupNorm{Groups: 2}}, []int{2, 3, 3}, 2, false},
	{"groupnorm-vector", GroupNorm{Groups: 2}, []int{8}, 3, false},
	{"tanh", Tanh, []int{5}, 3, false},
	{"relu", ReLU, []int{5}, 3, false},
	{"softplus", Softplus, []int{5}, 3, false},
	{"elu", ELU, []int{5}, 3, false},
	{"sigmoid", Sigmoid, []int{5}, 3, false},
	{"pool-head", Sequential{GlobalAvgPool{}, Linear{Out: 2}}, []int{3, 2, 2}, 2, false},
	{"flatten-head", Sequential{Flatten{}, Linear{Out: 2}}, []int{2, 2, 2}, 2, false},
	{"concatlinear", ConcatLinear{Out: 4}, []int{4}, 3, true},
	{"concatsquash", Sequential{ConcatSquashLinear{Out: 5}, Softplus, ConcatSquashLinear{Out: 3}}, []int{3}, 3, true},
	{"concatconv", ConcatConv2d{Out: 2, Kernel: 3, Padding: 1}, []int{2, 4, 4}, 2, true},
	{"odefunc", Sequential{GroupNorm{Groups: 2}, ReLU, ConcatConv2d{Out: 4, Kernel: 3, Padding: 1},
		GroupNorm{Groups: 2}, ELU, ConcatConv2d{Out: 4, Kernel: 3, Padding: 1}, GroupNorm{Groups: 2}}, []int{4, 3, 3}, 2, true},
}

// evaluator is the common face of graph.Func and graph.Dynamics used by the tests.
type evaluator struct {
	params []*graph.Param
	nparam int
	outDim int
	eval   func(t float64, x, y []float64) error
	vjp    func(t float64, x, a, dx, dp []float64) (float64, error)
}

func build(t *testing.T, c blockCase, dt tensor.Dtype, seed uint64) (*evaluator, *graph.Params) {
	t.Helper()
	ps := graph.NewParams(rand.New(rand.NewPCG(seed, 11)))
	opt := graph.Options{Dtype: dt, Workers: 1}
	if c.timed {
		d, err := graph.NewDynamics(DynamicsOf(c.layer), ps, c.in, opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		return &evaluator{d.Params(), d.NumParams(), d.SampleDim(), d.Eval,
			func(tt float64, x, a, dx, dp []float64) (float64, error) { return d.VJP(tt, x, a, nil, dx, dp) }}, ps
	}
	f, err := graph.NewFunc(FuncOf(c.layer), ps, c.in, opt)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return &evaluator{f.Params(), f.NumParams(), f.OutDim(),
		func(_ float64, x, y []float64) error { return f.Forward(x, y) },
		func(_ float64, x, a, dx, dp []float64) (float64, error) { return 0, f.VJP(x, a, nil, dx, dp) }}, ps
}

// TestBlockVJPAgainstFiniteDifferences checks, for every block, the gradient of a^T y
// with respect to the input, every parameter and (time-dependent blocks) t against
// central differences of the forward program.
func TestBlockVJPAgainstFiniteDifferences(t *testing.T) {
	for _, c := range blockCases {
		t.Run(c.name, func(t *testing.T) {
			e, ps := build(t, c, tensor.Float64, 1)
			rng := rand.New(rand.NewPCG(2, 3))
			// Move every parameter off its initial value (GroupNorm's start at 1 and 0,
			// where a gradient term that multiplies the bias would vanish unseen).
			for _, p := range e.params {
				v := ps.Value(p)
				for i := range v {
					v[i] += 0.3 * rng.NormFloat64()
				}
			}
			n := c.batch * size(c.in)
			m := c.batch * e.outDim
			x, a := randVec(rng, n), randVec(rng, m)
			tt := 0.4
			dx, dp := make([]float64, n), make([]float64, e.nparam)
			dt, err := e.vjp(tt, x, a, dx, dp)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float64, m)
			ts := []float64{tt}
			loss := func() float64 {
				if err := e.eval(ts[0], x, y); err != nil {
					t.Fatal(err)
				}
				return dot(a, y)
			}
			if r := relErr(dx, fdGrad(x, loss)); r > fdTol {
				t.Errorf("input gradient: relative error %g", r)
			}
			var fdp []float64
			for _, p := range e.params {
				fdp = append(fdp, fdGrad(ps.Value(p), loss)...)
			}
			if r := relErr(dp, fdp); r > fdTol {
				t.Errorf("parameter gradient: relative error %g", r)
			}
			if c.timed {
				fdt := fdGrad(ts, loss)
				if r := relErr([]float64{dt}, fdt); r > fdTol {
					t.Errorf("time derivative %g, finite differences %g", dt, fdt[0])
				}
			}
		})
	}
}

// TestBlockFloat32MatchesFloat64 builds every block in float32 and float64 graphs over
// identically initialised parameters. float32 carries 24 bits (6e-8 relative); sums of a
// few dozen terms and the normalisations lose at most a couple of digits, so 1e-5
// relative separates rounding from a dtype bug (a float64 constant in a float32 graph
// fails to build; a wrong cast is O(1)).
func TestBlockFloat32MatchesFloat64(t *testing.T) {
	for _, c := range blockCases {
		t.Run(c.name, func(t *testing.T) {
			e64, _ := build(t, c, tensor.Float64, 1)
			e32, _ := build(t, c, tensor.Float32, 1)
			rng := rand.New(rand.NewPCG(4, 5))
			n, m := c.batch*size(c.in), c.batch*e64.outDim
			x, a := randVec(rng, n), randVec(rng, m)
			y64, y32 := make([]float64, m), make([]float64, m)
			if err := e64.eval(0.3, x, y64); err != nil {
				t.Fatal(err)
			}
			if err := e32.eval(0.3, x, y32); err != nil {
				t.Fatal(err)
			}
			if r := relErr(y32, y64); r > 1e-5 {
				t.Errorf("forward: float32 differs from float64 by %g relative", r)
			}
			dx64, dp64 := make([]float64, n), make([]float64, e64.nparam)
			dx32, dp32 := make([]float64, n), make([]float64, e32.nparam)
			if _, err := e64.vjp(0.3, x, a, dx64, dp64); err != nil {
				t.Fatal(err)
			}
			if _, err := e32.vjp(0.3, x, a, dx32, dp32); err != nil {
				t.Fatal(err)
			}
			if r := relErr(dx32, dx64); r > 1e-5 {
				t.Errorf("input gradient: float32 differs from float64 by %g relative", r)
			}
			if r := relErr(dp32, dp64); r > 1e-5 {
				t.Errorf("parameter gradient: float32 differs from float64 by %g relative", r)
			}
		})
	}
}

// TestGroupNormDirect compares GroupNorm with a direct Go computation of its definition.
func TestGroupNormDirect(t *testing.T) {
	const b, c, h, w, groups = 2, 6, 3, 2, 3
	ps := graph.NewParams(nil)
	f, err := graph.NewFunc(FuncOf(GroupNorm{Groups: groups}), ps, []int{c, h, w}, graph.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 7))
	wt, bs := ps.Value(ps.Lookup("weight")), ps.Value(ps.Lookup("bias"))
	for i := range wt {
		wt[i], bs[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	x := randVec(rng, b*c*h*w)
	for i := range x {
		x[i] = 3*x[i] + 5 // a large mean: the centring matters
	}
	got := make([]float64, len(x))
	if err := f.Forward(x, got); err != nil {
		t.Fatal(err)
	}
	per := c / groups * h * w
	want := make([]float64, len(x))
	for s := 0; s < b; s++ {
		for g := 0; g < groups; g++ {
			off := s*c*h*w + g*per
			mean, vr := 0.0, 0.0
			for _, v := range x[off : off+per] {
				mean += v
			}
			mean /= float64(per)
			for _, v := range x[off : off+per] {
				vr += (v - mean) * (v - mean)
			}
			vr /= float64(per)
			for i := off; i < off+per; i++ {
				ch := (i / (h * w)) % c
				want[i] = (x[i]-mean)/math.Sqrt(vr+1e-5)*wt[ch] + bs[ch]
			}
		}
	}
	if r := relErr(got, want); r > 1e-13 {
		t.Errorf("GroupNorm differs from its definition by %g relative", r)
	}
	if _, err := graph.NewFunc(FuncOf(GroupNorm{Groups: 4}), graph.NewParams(nil), []int{c, h, w}, graph.Options{}); err == nil {
		t.Error("6 channels in 4 groups: no error")
	}
}

// TestActivationValues checks the activations against their definitions, including
// softplus and ELU far into both tails.
func TestActivationValues(t *testing.T) {
	x := []float64{-800, -30, -2, -0.5, 0.25, 3, 40, 800}
	defs := map[Activation]func(float64) float64{
		Tanh:     math.Tanh,
		ReLU:     func(v float64) float64 { return math.Max(v, 0) },
		Softplus: func(v float64) float64 { return math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))) },
		ELU: func(v float64) float64 {
			if v > 0 {
				return v
			}
			return math.Expm1(v)
		},
		Sigmoid: func(v float64) float64 { return 1 / (1 + math.Exp(-v)) },
	}
	for a, def := range defs {
		f, err := graph.NewFunc(FuncOf(a), graph.NewParams(nil), []int{len(x)}, graph.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float64, len(x))
		if err := f.Forward(x, y); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			// 1e-12 absolute plus relative: softplus switches to x above 16 (error
			// exp(-16) ~ 1e-7 relative to x there is Gorgonia's choice, so allow it).
			want := def(v)
			tol := 1e-12 + 1e-12*math.Abs(want)
			if a == Softplus && v > 16 {
				tol = 1e-6 * math.Abs(want)
			}
			if math.Abs(y[i]-want) > tol || math.IsNaN(y[i]) {
				t.Errorf("%v(%g) = %g, want %g", a, v, y[i], want)
			}
		}
	}
}

func TestBlockErrors(t *testing.T) {
	cases := []struct {
		name  string
		layer Layer
		in    []int
	}{
		{"linear on images", Linear{Out: 2}, []int{1, 2, 2}},
		{"conv on vectors", Conv2d{Out: 2, Kernel: 3}, []int{4}},
		{"kernel larger than image", Conv2d{Out: 2, Kernel: 5}, []int{1, 3, 3}},
		{"concatlinear without time", ConcatLinear{Out: 2}, []int{2}},
		{"concatconv without time", ConcatConv2d{Out: 2, Kernel: 1}, []int{1, 2, 2}},
		{"squash without time", ConcatSquashLinear{Out: 2}, []int{2}},
		{"unknown activation", Activation(99), []int{2}},
		{"empty sequential", Sequential{}, []int{2}},
	}
	for _, c := range cases {
		if _, err := graph.NewFunc(FuncOf(c.layer), graph.NewParams(nil), c.in, graph.Options{}); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestParameterNamesAndInit checks PyTorch's names, shapes and default initialisation bounds.
func TestParameterNamesAndInit(t *testing.T) {
	ps := graph.NewParams(nil)
	l := Sequential{Conv2d{Out: 8, Kernel: 3, Padding: 1}, GroupNorm{}, ReLU, Named{"head", Sequential{GlobalAvgPool{}, Linear{Out: 10}}}}
	if _, err := graph.NewFunc(FuncOf(l), ps, []int{3, 5, 5}, graph.Options{}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"0.weight": {8, 3, 3, 3}, "0.bias": {8}, "1.weight": {8}, "1.bias": {8}, "3.head.1.weight": {10, 8}, "3.head.1.bias": {10}}
	if len(ps.List()) != len(want) {
		t.Fatalf("parameters %v, want %v", ps.Names(), want)
	}
	for name, shape := range want {
		p := ps.Lookup(name)
		if p == nil || !equalInts(p.Shape, shape) {
			t.Fatalf("parameter %s: %v, want shape %v", name, p, shape)
		}
	}
	bound := map[string]float64{"0.weight": 1 / math.Sqrt(27), "0.bias": 1 / math.Sqrt(27), "3.head.1.weight": 1 / math.Sqrt(8)}
	for name, b := range bound {
		mx := 0.0
		for _, v := range ps.Value(ps.Lookup(name)) {
			mx = math.Max(mx, math.Abs(v))
		}
		if mx > b || mx < b/3 {
			t.Errorf("%s: largest |value| %g, want U(-%g, %g)", name, mx, b, b)
		}
	}
	for i, v := range ps.Value(ps.Lookup("1.weight")) {
		if v != 1 || ps.Value(ps.Lookup("1.bias"))[i] != 0 {
			t.Fatal("GroupNorm's affine parameters must start at 1 and 0")
		}
	}
}

// TestConcatLayersInit: the t-conditioned layers initialise like PyTorch's layers they
// are made of: every weight U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the product of
// its shape after the first axis (the input with t appended for ConcatLinear and
// ConcatConv2d; 1 for ConcatSquashLinear's hypernetworks of t), every bias with the bound
// of its layer's weight. With 16 or more values per tensor, the largest |value| falls
// below a third of the bound with probability at most (1/3)^16: a check that cannot
// flake but catches a fan-in wrong by more than 3x.
func TestConcatLayersInit(t *testing.T) {
	for _, c := range []struct {
		name  string
		layer Layer
		in    []int
	}{
		{"ConcatLinear", ConcatLinear{Out: 16}, []int{16}},
		{"ConcatSquashLinear", ConcatSquashLinear{Out: 16}, []int{16}},
		{"ConcatConv2d", ConcatConv2d{Out: 16, Kernel: 3, Padding: 1}, []int{16, 4, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := graph.NewParams(rand.New(rand.NewPCG(3, 3)))
			if _, err := graph.NewDynamics(DynamicsOf(c.layer), ps, c.in, graph.Options{}); err != nil {
				t.Fatal(err)
			}
			bounds := map[string]float64{} // scope -> 1/sqrt(fan_in) of its weight
			for _, p := range ps.List() {
				if strings.HasSuffix(p.Name, "weight") {
					fan := 1
					for _, d := range p.Shape[1:] {
						fan *= d
					}
					bounds[strings.TrimSuffix(p.Name, "weight")] = 1 / math.Sqrt(float64(fan))
				}
			}
			for _, p := range ps.List() {
				b, ok := bounds[strings.TrimSuffix(strings.TrimSuffix(p.Name, "weight"), "bias")]
				if !ok {
					t.Fatalf("parameter %s has no weight in its scope", p.Name)
				}
				mx := 0.0
				for _, v := range ps.Value(p) {
					mx = math.Max(mx, math.Abs(v))
				}
				t.Logf("%-24s %v: largest |value| %.3f, bound %.3f", p.Name, p.Shape, mx, b)
				if mx > b || mx < b/3 {
					t.Errorf("%s: largest |value| %g, want U(-%g, %g)", p.Name, mx, b, b)
				}
			}
		})
	}
}
