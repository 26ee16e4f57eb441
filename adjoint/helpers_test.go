package adjoint

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	G "gorgonia.org/gorgonia"
)

// spiral is the torchdiffeq demo's dynamics f(y) = y^3 A (y a row vector, cube
// elementwise) with A the parameter, as a Gorgonia graph.
func spiral(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
	a, err := s.Param("A", []int{2, 2}, graph.Values(-0.1, 2, -2, -0.1))
	if err != nil {
		return nil, err
	}
	z2, err := G.HadamardProd(z, z)
	if err != nil {
		return nil, err
	}
	z3, err := G.HadamardProd(z2, z)
	if err != nil {
		return nil, err
	}
	return G.Mul(z3, a)
}

// mlp is f(t, z) = tanh(z W1 + t c + b1) W2 + b2 with hidden width h.
func mlp(h int) graph.BuildFunc {
	return func(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
		d := z.Shape()[1]
		w1, _ := s.Param("w1", []int{d, h}, graph.FanIn(d))
		b1, _ := s.Param("b1", []int{h}, graph.FanIn(d))
		c, _ := s.Param("c", []int{h}, graph.FanIn(d))
		w2, _ := s.Param("w2", []int{h, d}, graph.FanIn(h))
		b2, err := s.Param("b2", []int{d}, graph.FanIn(h))
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

func newDyn(t testing.TB, build graph.BuildFunc, sample []int, seed uint64) (*graph.Dynamics, *graph.Params) {
	t.Helper()
	ps := graph.NewParams(rand.New(rand.NewPCG(seed, 11)))
	d, err := graph.NewDynamics(build, ps, sample, graph.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d, ps
}

// gradients runs Forward and Backward with the cotangents c, failing the test on error.
func gradients(t testing.TB, f Dynamics, y0, ts []float64, c [][]float64, opt Options) *Gradients {
	t.Helper()
	tp, err := Forward(f, y0, ts, opt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tp.Backward(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// goDyn is a right-hand side written by hand in Go, with its analytic VJP.
type goDyn struct {
	theta []float64
	f     func(t float64, y, theta, dydt []float64)
	vjp   func(t float64, y, theta, a, dy, dp []float64) float64
}

func (g *goDyn) Eval(t float64, y, dydt []float64) error { g.f(t, y, g.theta, dydt); return nil }
func (g *goDyn) VJP(t float64, y, a, f, dy, dp []float64) (float64, error) {
	if f != nil {
		g.f(t, y, g.theta, f)
	}
	return g.vjp(t, y, g.theta, a, dy, dp), nil
}
func (g *goDyn) NumParams() int { return len(g.theta) }

func linspace(a, b float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = a + (b-a)*float64(i)/float64(n-1)
	}
	return v
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func relErr(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// linearLoss returns L = sum_i c_i . y(t_i) and its cotangents.
func linearLoss(c [][]float64) func([][]float64) float64 {
	return func(y [][]float64) float64 {
		s := 0.0
		for i := range c {
			s += dot(c[i], y[i])
		}
		return s
	}
}
