package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// textbook is an independent implementation of one step of each method, on flat slices,
// in the textbook forms the Method constants document: Adam as Kingma and Ba (eps
// outside the root), momentum as Sutskever et al. (v = mu v - lr g, w += v; PyTorch's
// SGD keeps v = mu v + g and steps w -= lr v, which agrees while lr is constant and
// differs under a schedule), RMSProp as Hinton's lecture and Gorgonia (eps inside the
// root; PyTorch puts it outside). The test holds each of Gorgonia's solvers, driven by
// the Optimizer, to these forms.
type textbook struct {
	cfg        OptimConfig
	m, v       []float64 // Adam moments; Momentum velocity in m; RMSProp average in v
	k          int
	sched      func(int) float64
	momentum   float64
	b1, b2     float64
	rho, eps   float64
	lr, wd, cn float64
}

func (tb *textbook) step(w, g []float64) {
	if tb.m == nil {
		tb.m, tb.v = make([]float64, len(w)), make([]float64, len(w))
	}
	g = append([]float64(nil), g...)
	norm := 0.0
	for _, x := range g {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if tb.cn > 0 && norm > tb.cn {
		for i := range g {
			g[i] *= tb.cn / (norm + 1e-6)
		}
	}
	for i := range g {
		g[i] += tb.wd * w[i]
	}
	lr := tb.lr * tb.sched(tb.k)
	tb.k++
	for i := range w {
		switch tb.cfg.Method {
		case Adam:
			tb.m[i] = tb.b1*tb.m[i] + (1-tb.b1)*g[i]
			tb.v[i] = tb.b2*tb.v[i] + (1-tb.b2)*g[i]*g[i]
			mh := tb.m[i] / (1 - math.Pow(tb.b1, float64(tb.k)))
			vh := tb.v[i] / (1 - math.Pow(tb.b2, float64(tb.k)))
			w[i] -= lr * mh / (math.Sqrt(vh) + tb.eps)
		case Momentum:
			tb.m[i] = tb.momentum*tb.m[i] - lr*g[i]
			w[i] += tb.m[i]
		case RMSProp:
			tb.v[i] = tb.rho*tb.v[i] + (1-tb.rho)*g[i]*g[i]
			w[i] -= lr * g[i] / math.Sqrt(tb.v[i]+tb.eps)
		}
	}
}

// TestOptimizerMatchesTextbook runs three steps of each method, with weight decay,
// global-norm clipping (active on some steps) and a schedule that changes the rate
// every step (clipping active on every step of that variant), against the textbook updates above, to 1e-12 relative per step: the same
// operations in another order differ by a few ulps.
func TestOptimizerMatchesTextbook(t *testing.T) {
	sched := StepDecay(0.5, 1, 2)
	for _, method := range []Method{Adam, Momentum, RMSProp} {
		for _, variant := range []struct {
			name       string
			wd, clip   float64
			sched      Schedule
			schedValue func(int) float64
		}{
			{"plain", 0, 0, nil, func(int) float64 { return 1 }},
			{"decay-clip-schedule", 0.01, 2.5, sched, sched.Factor},
		} {
			t.Run(methodName(method)+"/"+variant.name, func(t *testing.T) {
				ps := graph.NewParams(rand.New(rand.NewPCG(20, 21)))
				if _, err := ps.Add("a", []int{3}, graph.Normal(1)); err != nil {
					t.Fatal(err)
				}
				if _, err := ps.Add("b", []int{2, 2}, graph.Normal(1)); err != nil {
					t.Fatal(err)
				}
				cfg := OptimConfig{Method: method, LR: 0.05, Momentum: 0.8, Beta1: 0.85, Beta2: 0.99, Rho: 0.9, Eps: 1e-6,
					WeightDecay: variant.wd, ClipNorm: variant.clip, Schedule: variant.sched}
				o, err := NewOptimizer(ps, cfg)
				if err != nil {
					t.Fatal(err)
				}
				tb := &textbook{cfg: cfg, sched: variant.schedValue, momentum: 0.8, b1: 0.85, b2: 0.99, rho: 0.9, eps: 1e-6, lr: 0.05, wd: variant.wd, cn: variant.clip}
				w := append([]float64(nil), ps.Flat()...)
				rng := rand.New(rand.NewPCG(22, 23))
				for k := 0; k < 3; k++ {
					g := randVec(rng, ps.Len())
					for i := range g {
						g[i] *= float64(k + 1) // norms 2..8 around the clip of 2.5
					}
					copy(ps.FlatGrad(), g)
					norm, err := o.Step()
					if err != nil {
						t.Fatal(err)
					}
					tb.step(w, g)
					if r := relErr(ps.Flat(), w); r > 1e-12 {
						t.Fatalf("step %d: parameters differ from the textbook update by %g relative", k, r)
					}
					if want := math.Sqrt(dot(g, g)); math.Abs(norm-want) > 1e-12*want {
						t.Errorf("step %d: gradient norm %g, want %g", k, norm, want)
					}
					for _, v := range ps.FlatGrad() {
						if v != 0 {
							t.Fatalf("step %d: gradients not zeroed", k)
						}
					}
				}
				if want := 0.05 * variant.schedValue(2); math.Abs(o.LR()-want) > 1e-15 || o.Steps() != 3 {
					t.Errorf("LR %g after 3 steps, want %g; Steps %d", o.LR(), want, o.Steps())
				}
			})
		}
	}
}

func methodName(m Method) string {
	return map[Method]string{Adam: "adam", Momentum: "momentum", RMSProp: "rmsprop"}[m]
}

// TestGorgoniaMomentumL2Defect documents why weight decay is not delegated to Gorgonia:
// v0.9.18's Momentum applies WithL2Reg to the velocity, not the weights, so with a zero
// gradient and zero initial velocity its first step leaves the weights unchanged, where
// L2 regularisation must shrink them. If this test fails, Gorgonia was fixed.
func TestGorgoniaMomentumL2Defect(t *testing.T) {
	w := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, -2}))
	g := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{0, 0}))
	s := G.NewMomentum(G.WithLearnRate(0.1), G.WithL2Reg(0.5))
	if err := s.Step([]G.ValueGrad{vg{w, g}}); err != nil {
		t.Fatal(err)
	}
	if got := w.Float64s(); got[0] != 1 || got[1] != -2 {
		t.Errorf("Gorgonia's Momentum now applies L2 to the weights (%v): weight decay could be delegated to WithL2Reg", got)
	}
}

type vg struct{ v, g *tensor.Dense }

func (x vg) Value() G.Value         { return x.v }
func (x vg) Grad() (G.Value, error) { return x.g, nil }

func TestSchedules(t *testing.T) {
	s := StepDecay(0.1, 60, 100, 140)
	for _, c := range []struct {
		step int
		want float64
	}{{0, 1}, {59, 1}, {60, 0.1}, {99, 0.1}, {100, 0.01}, {140, 0.001}, {1000, 0.001}} {
		if got := s.Factor(c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("StepDecay at %d: %g, want %g", c.step, got, c.want)
		}
	}
	cs := Cosine(100, 0.1)
	if cs.Factor(0) != 1 || math.Abs(cs.Factor(50)-0.55) > 1e-15 || cs.Factor(100) != 0.1 || cs.Factor(500) != 0.1 {
		t.Errorf("Cosine: %g %g %g", cs.Factor(0), cs.Factor(50), cs.Factor(100))
	}
	oc := OneCycle(100, 0.3, 25, 1e4)
	if math.Abs(oc.Factor(0)-0.04) > 1e-15 || oc.Factor(30) != 1 || math.Abs(oc.Factor(100)-4e-6) > 1e-18 {
		t.Errorf("OneCycle: %g %g %g", oc.Factor(0), oc.Factor(30), oc.Factor(100))
	}
	prev := oc.Factor(30)
	for k := 31; k <= 100; k++ {
		if f := oc.Factor(k); f > prev {
			t.Fatalf("OneCycle rises after its peak at step %d", k)
		}
		prev = oc.Factor(k)
	}
}

func TestOptimizerErrors(t *testing.T) {
	ps := graph.NewParams(nil)
	if _, err := NewOptimizer(ps, OptimConfig{Method: Adam}); err == nil {
		t.Error("empty parameter set: no error")
	}
	if _, err := ps.Add("w", []int{2}, graph.Normal(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewOptimizer(ps, OptimConfig{}); err == nil {
		t.Error("no method: no error")
	}
	o, err := NewOptimizer(ps, OptimConfig{Method: Momentum})
	if err != nil {
		t.Fatal(err)
	}
	ps.FlatGrad()[0] = math.NaN()
	if _, err := o.Step(); err == nil {
		t.Error("NaN gradient: no error")
	}
	ps.ZeroGrad()
	if _, err := ps.Add("late", []int{1}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(); err == nil {
		t.Error("parameter added after the optimiser: no error")
	}
}

// TestOptimizerAdvance: Advance(n) positions the schedule as n steps would, without
// touching the parameters; a negative count is an error.
func TestOptimizerAdvance(t *testing.T) {
	ps := graph.NewParams(nil)
	if _, err := ps.Add("w", []int{3}, graph.Constant(1)); err != nil {
		t.Fatal(err)
	}
	o, err := NewOptimizer(ps, OptimConfig{Method: Momentum, LR: 0.1, Schedule: StepDecay(0.5, 2, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Advance(4); err != nil {
		t.Fatal(err)
	}
	if o.Steps() != 4 || o.LR() != 0.05 || ps.Flat()[0] != 1 {
		t.Errorf("after Advance(4): steps %d, LR %g (last step's: 0.1 x 0.5), w %v", o.Steps(), o.LR(), ps.Flat())
	}
	copy(ps.FlatGrad(), []float64{1, 1, 1})
	if _, err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if o.LR() != 0.025 || math.Abs(ps.Flat()[0]-(1-0.025)) > 1e-15 {
		t.Errorf("the step after: LR %g, w %v; want 0.025 and 0.975", o.LR(), ps.Flat())
	}
	if err := o.Advance(-1); err == nil {
		t.Error("Advance(-1) accepted")
	}
}
