package main

import (
	"math"
	"math/rand/v2"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
)

// problem is one gradient problem: the dynamics, the initial state, the output times
// and the loss L = c . z(T), whose cotangent dL/dz(T) is c.
type problem struct {
	f    *graph.Dynamics
	y0   []float64
	ts   []float64
	dLdy [][]float64
}

// mlp returns the dynamics f(t, z) = tanh(z W1 + t c + b1) W2 + b2 with the given hidden
// width. W1, c and b1 use PyTorch's Linear initialisation U(+-1/sqrt(fan in)); W2 and b2
// the same scaled by scale, so that the Lipschitz constant of f is about scale and the
// flow over [0, T] stays smooth (neither blowing up nor collapsing to a point).
func mlp(hidden int, scale float64) graph.BuildFunc {
	return func(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
		d := z.Shape()[1]
		w1, err := s.Param("w1", []int{d, hidden}, graph.FanIn(d))
		if err != nil {
			return nil, err
		}
		b1, err := s.Param("b1", []int{hidden}, graph.FanIn(d))
		if err != nil {
			return nil, err
		}
		c, err := s.Param("c", []int{hidden}, graph.FanIn(d))
		if err != nil {
			return nil, err
		}
		w2, err := s.Param("w2", []int{hidden, d}, graph.Uniform(scale/math.Sqrt(float64(hidden))))
		if err != nil {
			return nil, err
		}
		b2, err := s.Param("b2", []int{d}, graph.Uniform(scale/math.Sqrt(float64(hidden))))
		if err != nil {
			return nil, err
		}
		tc, err := G.Mul(c, t)
		if err != nil {
			return nil, err
		}
		bias, err := G.Add(b1, tc)
		if err != nil {
			return nil, err
		}
		x, err := G.Mul(z, w1)
		if err != nil {
			return nil, err
		}
		if x, err = G.BroadcastAdd(x, bias, nil, []byte{0}); err != nil {
			return nil, err
		}
		if x, err = G.Tanh(x); err != nil {
			return nil, err
		}
		if x, err = G.Mul(x, w2); err != nil {
			return nil, err
		}
		return G.BroadcastAdd(x, b2, nil, []byte{0})
	}
}

// newProblem builds the MLP dynamics on a width-wide state with a batch of batch
// trajectories, a standard normal initial state and a standard normal loss vector c,
// all drawn from fixed seeds.
func newProblem(width, hidden, batch int, scale, T float64) (*problem, error) {
	ps := graph.NewParams(rand.New(rand.NewPCG(1, 2)))
	// One worker: a batch below graph's MinChunk is never split, and the timings
	// should not depend on what else the machine runs.
	f, err := graph.NewDynamics(mlp(hidden, scale), ps, []int{width}, graph.Options{Workers: 1})
	if err != nil {
		return nil, errors.Wrap(err, "building the MLP dynamics")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := width * batch
	y0, c := make([]float64, n), make([]float64, n)
	for i := range y0 {
		y0[i] = rng.NormFloat64()
		c[i] = rng.NormFloat64()
	}
	p := &problem{f: f, y0: y0, ts: []float64{0, T}, dLdy: [][]float64{nil, c}}
	// Compile the forward and VJP programs now, so that no row's heap measurement or
	// time includes Gorgonia building and compiling graphs.
	dy, dp, out := make([]float64, n), make([]float64, f.NumParams()), make([]float64, n)
	if err := f.Eval(0, y0, out); err != nil {
		return nil, errors.Wrap(err, "warm-up Eval")
	}
	if _, err := f.VJP(0, y0, c, out, dy, dp); err != nil {
		return nil, errors.Wrap(err, "warm-up VJP")
	}
	return p, nil
}

// gradient runs Forward and Backward with opt and returns the gradients.
func (p *problem) gradient(opt adjoint.Options) (*adjoint.Gradients, error) {
	tp, err := adjoint.Forward(p.f, p.y0, p.ts, opt)
	if err != nil {
		return nil, err
	}
	return tp.Backward(p.dLdy)
}

// Reference describes the tight-tolerance gradient every row is compared with.
type Reference struct {
	Method     string  `json:"method"`
	Solver     string  `json:"solver"`
	RTol       float64 `json:"rtol"`
	ATol       float64 `json:"atol"`
	Steps      int     `json:"steps"`
	ForwardNFE int     `json:"forward_nfe"`
	// CrossCheck is the relative difference between the reference and the same
	// gradient computed by Backsolve at the same tolerance: an independent estimate of
	// the reference's own error.
	CrossCheck float64 `json:"cross_check"`

	grad []float64
}

// reference computes the reference gradient: Direct through Dopri8 at rtol 1e-12.
// Direct is the exact gradient of the discrete forward solution, so its error is the
// derivative of the forward solve's global error (about the tolerance), with no backward
// error control of its own to trust; and it is not the method whose accuracy the
// tables question most (Backsolve). Backsolve at the same tolerance cross-checks it.
func (p *problem) reference() (*Reference, error) {
	sopt := odeint.Options{Method: odeint.Dopri8, RTol: 1e-12, ATol: 1e-14}
	g, err := p.gradient(adjoint.Options{Method: adjoint.Direct, Solver: sopt})
	if err != nil {
		return nil, errors.Wrap(err, "reference gradient (direct, dopri8)")
	}
	b, err := p.gradient(adjoint.Options{Method: adjoint.Backsolve, Solver: sopt})
	if err != nil {
		return nil, errors.Wrap(err, "reference cross-check (backsolve, dopri8)")
	}
	ref := &Reference{Method: "direct", Solver: "dopri8", RTol: sopt.RTol, ATol: sopt.ATol,
		Steps: g.Stats.ForwardSteps, ForwardNFE: g.Stats.ForwardNFE, grad: flat(g)}
	ref.CrossCheck = relErr(flat(b), ref.grad)
	return ref, nil
}

// flat returns dL/dz0 followed by dL/dtheta.
func flat(g *adjoint.Gradients) []float64 {
	return append(append([]float64(nil), g.Y0...), g.Params...)
}

// relErr is ||got - want||_2 / ||want||_2.
func relErr(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		d := got[i] - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
