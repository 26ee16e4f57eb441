package layers

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
)

// convODENet is convResNet with the residual block replaced by an ODE block over [0, 1]
// integrating the same dynamics, with tanh in place of the ReLUs inside f: the gradient
// tests need a smooth vector field (a ReLU kink on the trajectory caps every solver's
// order and makes a gradient reference converge slowly).
func convODENet(t testing.TB, ps *graph.Params, cfg ODEConfig) (*Model, *ODEBlock) {
	return convODENetWorkers(t, ps, cfg, 1)
}

func convODENetWorkers(t testing.TB, ps *graph.Params, cfg ODEConfig, workers int) (*Model, *ODEBlock) {
	t.Helper()
	const ch = 4
	opt := graph.Options{Workers: workers, MinChunk: 2}
	down, err := NewGraphStage(Named{"down", Sequential{Conv2d{Out: ch, Kernel: 3, Padding: 1}, GroupNorm{Groups: 2}, ReLU}}, ps, []int{1, 6, 6}, opt)
	if err != nil {
		t.Fatal(err)
	}
	f := Named{"f", Sequential{GroupNorm{Groups: 2}, Tanh, ConcatConv2d{Out: ch, Kernel: 3, Padding: 1},
		GroupNorm{Groups: 2}, Tanh, ConcatConv2d{Out: ch, Kernel: 3, Padding: 1}, GroupNorm{Groups: 2}}}
	ode, err := NewODEBlock(f, ps, []int{ch, 6, 6}, opt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	head, err := NewGraphStage(Named{"head", Sequential{GroupNorm{Groups: 2}, ReLU, GlobalAvgPool{}, Linear{Out: 3}}}, ps, []int{ch, 6, 6}, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ps, map[string]any{"model": "conv-odenet", "channels": ch}, down, ode, head)
	if err != nil {
		t.Fatal(err)
	}
	return m, ode
}

// TestODENetGradientsAgainstFiniteDifferences: conv -> ODE block -> pooled linear head with
// cross-entropy, for every gradient method of the ODE block; parameter and input gradients
// of the mean loss against central differences of the loss.
//
// The fixed-step RK4 rows (RK-Net: the gradient of the discrete solve, which is exactly
// smooth in its inputs) are held to the finite-difference bar of the other layer tests,
// 1e-6, along four random directions each for the parameters and the input. An adaptive
// solve is smooth in its inputs only to about its tolerance (its steps change with
// them), which makes finite differences a poor reference for it; the adaptive rows
// (rtol = atol = 1e-8) are instead compared in full, every parameter and every input
// component, with the exact gradient of a fine fixed-step solve (RK4, h = 1/64, Direct:
// the kind of gradient the RK-Net rows check against finite differences; its
// discretisation error is ~1e-8). The bar, 1e-6 relative in the 2-norm, is ~13x the
// largest measured difference (7.6e-8, the input gradient) and far below what a
// wiring mistake gives (O(1)).
func TestODENetGradientsAgainstFiniteDifferences(t *testing.T) {
	tight := odeint.Options{RTol: 1e-8, ATol: 1e-8}
	rk4 := odeint.Options{Method: odeint.RK4, Step: 0.25}
	cases := []struct {
		name string
		cfg  ODEConfig
		tol  float64
		h    float64
	}{
		{"rknet-direct", ODEConfig{Solver: rk4, Gradient: adjoint.Direct}, fdTol, 1e-5},
		{"rknet-checkpointed", ODEConfig{Solver: rk4, Gradient: adjoint.Checkpointed, CheckpointEvery: 3}, fdTol, 1e-5},
		{"backsolve", ODEConfig{Solver: tight, Gradient: adjoint.Backsolve}, 1e-6, 0},
		{"backsolve-seminorm", ODEConfig{Solver: tight, Gradient: adjoint.Backsolve, Seminorm: true}, 1e-6, 0},
		{"checkpointed", ODEConfig{Solver: tight, Gradient: adjoint.Checkpointed, CheckpointEvery: 2}, 1e-6, 0},
		{"direct", ODEConfig{Solver: tight, Gradient: adjoint.Direct}, 1e-6, 0},
	}
	// gradients returns the loss gradient with respect to the parameters and the input.
	gradients := func(t *testing.T, cfg ODEConfig) (m *Model, ode *ODEBlock, ps *graph.Params, x, dp, dx []float64) {
		ps = graph.NewParams(rand.New(rand.NewPCG(1, 1)))
		m, ode = convODENet(t, ps, cfg)
		rng := rand.New(rand.NewPCG(12, 13))
		for _, p := range ps.List() {
			v := ps.Value(p)
			for i := range v {
				v[i] += 0.2 * rng.NormFloat64()
			}
		}
		x = randVec(rng, 2*m.InDim())
		if _, _, err := m.Loss(x, []int{2, 0}); err != nil {
			t.Fatal(err)
		}
		ps.ZeroGrad()
		if err := m.Backward(); err != nil {
			t.Fatal(err)
		}
		return m, ode, ps, x, append([]float64(nil), ps.FlatGrad()...), append([]float64(nil), m.InputGrad()...)
	}
	_, _, _, _, refP, refX := gradients(t, ODEConfig{Solver: odeint.Options{Method: odeint.RK4, Step: 1.0 / 64}, Gradient: adjoint.Direct})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ode, ps, x, dp, dx := gradients(t, tc.cfg)
			if fw, bw := ode.NFE(); fw == 0 || bw == 0 {
				t.Errorf("NFE forward %d, backward %d", fw, bw)
			}
			if tc.h == 0 {
				ep, ex := relErr(dp, refP), relErr(dx, refX)
				t.Logf("against the fine RK4 gradient: parameters %.2g, input %.2g", ep, ex)
				if ep > tc.tol || ex > tc.tol {
					t.Errorf("parameters %g, input %g relative to the fine fixed-step gradient (bar %g)", ep, ex, tc.tol)
				}
				return
			}
			labels := []int{2, 0}
			loss := func() float64 {
				l, _, err := m.Loss(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			rng := rand.New(rand.NewPCG(14, 15))
			// Directional derivatives along random directions: each costs two solves, where
			// a full finite-difference gradient would cost two per parameter.
			for k := 0; k < 4; k++ {
				for _, c := range []struct {
					name string
					x, g []float64
				}{{"parameters", ps.Flat(), dp}, {"input", x, dx}} {
					v := randVec(rng, len(c.x))
					got := 0.0
					for i := range v {
						got += v[i] * c.g[i]
					}
					want := fdDirectional(c.x, v, tc.h, loss)
					// Relative to |v| |g|, the scale of a directional derivative.
					if r := math.Abs(got-want) / (norm(v) * norm(c.g)); r > tc.tol {
						t.Errorf("%s direction %d: gradient %.10g, finite differences %.10g (rel %g)", c.name, k, got, want, r)
					} else {
						t.Logf("%s direction %d: rel %.2g", c.name, k, r)
					}
				}
			}
		})
	}
}

// fdDirectional returns the central difference of fn along v at x with step h (x restored).
func fdDirectional(x, v []float64, h float64, fn func() float64) float64 {
	x0 := append([]float64(nil), x...)
	for i := range x {
		x[i] = x0[i] + h*v[i]
	}
	fp := fn()
	for i := range x {
		x[i] = x0[i] - h*v[i]
	}
	fm := fn()
	copy(x, x0)
	return (fp - fm) / (2 * h)
}

func norm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// TestEvaluateWorkersAgree: Evaluate on a model with an ODE block gives the same loss
// and accuracy with its batches split across 3 workers as with one. The ODE block solves
// the whole batch as one state and only the evaluations of f are split across workers,
// so the steps, the outputs and the loss agree to rounding (1e-12).
func TestEvaluateWorkersAgree(t *testing.T) {
	cfg := ODEConfig{Solver: odeint.Options{RTol: 1e-6, ATol: 1e-6}}
	const n, batch = 20, 8
	rng := rand.New(rand.NewPCG(20, 21))
	var xs []float64
	var ys []int
	run := func(workers int) EvalResult {
		ps := graph.NewParams(rand.New(rand.NewPCG(1, 1)))
		m, _ := convODENetWorkers(t, ps, cfg, workers)
		if xs == nil {
			xs = randVec(rng, n*m.InDim())
			for i := 0; i < n; i++ {
				ys = append(ys, i%3)
			}
		}
		pos := 0
		next := func(x []float64, labels []int) (int, error) {
			k := min(batch, n-pos)
			copy(x, xs[pos*m.InDim():(pos+k)*m.InDim()])
			copy(labels, ys[pos:pos+k])
			pos += k
			if pos == n {
				return k, io.EOF
			}
			return k, nil
		}
		r, err := Evaluate(m, next, batch)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r3 := run(1), run(3)
	if r1.N != n || r3.N != n || r1.Accuracy != r3.Accuracy || relErr([]float64{r3.Loss}, []float64{r1.Loss}) > 1e-12 {
		t.Errorf("one worker %+v, three %+v", r1, r3)
	}
}
