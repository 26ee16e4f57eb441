package cnf

import (
	"strconv"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
)

// HyperFlow is the wide gated flow of the Neural ODE paper (Chen et al. 2018, section 4):
// M units whose parameters are functions of t, each gated by sigma_n(t) in (0, 1),
//
//	dz/dt = sum_{n=1..M} sigma(g_n(t)) u_n(t) tanh(w_n(t)^T z + b_n(t))     (PaperForm)
//
// with w_n, u_n in R^D and the scalars g_n, b_n given by a hypernetwork of t:
// Linear(1, Hidden) - tanh - Linear(Hidden, Hidden) - tanh - Linear(Hidden, 2MD + 2M).
// TorchdiffeqForm is the variant of torchdiffeq's examples/cnf.py, the program behind
// the paper's figures and the speed reference of BENCHMARKS.md: one gate per unit and
// dimension, and the mean over units instead of the sum,
//
//	dz/dt = (1/M) sum_n (u_n(t) ⊙ sigmoid(g_n(t))) tanh(w_n(t)^T z + b_n(t)),  g_n in R^D,
//
// with a last hypernetwork layer of 3MD + M outputs. The last layer is stored as four
// heads (W, U, G, b), the same affine map as one Linear split into its outputs; every
// layer has PyTorch's Linear initialisation.
type HyperFlow struct {
	// Width is M, the number of units (default 64).
	Width int
	// Hidden is the width of the hypernetwork (default 32).
	Hidden int
	// Form selects the paper's formula (PaperForm, the default) or torchdiffeq's.
	Form HyperForm
}

// HyperForm selects the formula of a HyperFlow.
type HyperForm int

const (
	// PaperForm gates each unit by one scalar sigma(g_n(t)) and sums over units.
	PaperForm HyperForm = iota
	// TorchdiffeqForm gates each unit and dimension and averages over units, as
	// torchdiffeq's examples/cnf.py.
	TorchdiffeqForm
)

// Build builds f(t, z) for z of shape [B, D]. It has the signature of graph.BuildFunc.
func (h HyperFlow) Build(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
	m, hid := h.Width, h.Hidden
	if m == 0 {
		m = 64
	}
	if hid == 0 {
		hid = 32
	}
	if m < 0 || hid < 0 {
		return nil, errors.Errorf("cnf: HyperFlow with width %d, hidden %d", m, hid)
	}
	if z.Dims() != 2 {
		return nil, errors.Errorf("cnf: HyperFlow needs states [B, D], got %v", z.Shape())
	}
	d := z.Shape()[1]
	// Hypernetwork rows are [1, k]: weights stored as [in, out] so that a row times a
	// weight needs no transpose; t enters as a scalar times the [1, Hidden] first weight.
	w1, err := s.Param("hyper.fc1.weight", []int{1, hid}, graph.FanIn(1))
	if err != nil {
		return nil, err
	}
	b1, err := s.Param("hyper.fc1.bias", []int{1, hid}, graph.FanIn(1))
	if err != nil {
		return nil, err
	}
	w2, err := s.Param("hyper.fc2.weight", []int{hid, hid}, graph.FanIn(hid))
	if err != nil {
		return nil, err
	}
	b2, err := s.Param("hyper.fc2.bias", []int{1, hid}, graph.FanIn(hid))
	if err != nil {
		return nil, err
	}
	x, err := G.Mul(w1, t)
	if err != nil {
		return nil, err
	}
	if x, err = G.Add(x, b1); err != nil {
		return nil, err
	}
	if x, err = G.Tanh(x); err != nil {
		return nil, err
	}
	if x, err = G.Mul(x, w2); err != nil {
		return nil, err
	}
	if x, err = G.Add(x, b2); err != nil {
		return nil, err
	}
	if x, err = G.Tanh(x); err != nil {
		return nil, err
	}
	head := func(name string, n int, shape ...int) (*G.Node, error) {
		w, err := s.Param("hyper.fc3."+name+".weight", []int{hid, n}, graph.FanIn(hid))
		if err != nil {
			return nil, err
		}
		b, err := s.Param("hyper.fc3."+name+".bias", []int{1, n}, graph.FanIn(hid))
		if err != nil {
			return nil, err
		}
		y, err := G.Mul(x, w)
		if err != nil {
			return nil, err
		}
		if y, err = G.Add(y, b); err != nil {
			return nil, err
		}
		return G.Reshape(y, shape)
	}
	W, err := head("W", m*d, m, d)
	if err != nil {
		return nil, err
	}
	U, err := head("U", m*d, m, d)
	if err != nil {
		return nil, err
	}
	// The gate head is created before the bias head, the order of torchdiffeq's
	// outputs (W, U, G, b), so that a seed gives the same initial values as before.
	var g *G.Node
	switch h.Form {
	case PaperForm:
		g, err = head("G", m, m)
	case TorchdiffeqForm:
		g, err = head("G", m*d, m, d)
	default:
		return nil, errors.Errorf("cnf: HyperFlow form %d", h.Form)
	}
	if err != nil {
		return nil, err
	}
	B, err := head("B", m, m)
	if err != nil {
		return nil, err
	}
	if g, err = G.Sigmoid(g); err != nil {
		return nil, err
	}
	if h.Form == PaperForm {
		// sigma_n scales the whole row u_n.
		if U, err = G.BroadcastHadamardProd(U, g, nil, []byte{1}); err != nil {
			return nil, err
		}
	} else {
		if U, err = G.HadamardProd(U, g); err != nil {
			return nil, err
		}
		// The mean over units folded into U: one [M, D] scaling instead of one of [B, D].
		if U, err = G.Mul(U, s.Scalar(1/float64(m))); err != nil {
			return nil, err
		}
	}
	Wt, err := G.Transpose(W)
	if err != nil {
		return nil, err
	}
	a, err := G.Mul(z, Wt) // [B, M]
	if err != nil {
		return nil, err
	}
	if a, err = G.BroadcastAdd(a, B, nil, []byte{0}); err != nil {
		return nil, err
	}
	if a, err = G.Tanh(a); err != nil {
		return nil, err
	}
	return G.Mul(a, U) // [B, D]
}

// ConcatSquashMLP is FFJORD's toy-density flow: ConcatSquashLinear layers with tanh
// between them, Hidden units per hidden layer (FFJORD's toy default: three of 64).
// Parameters are named "odefunc.<i>.…" after the layer index.
type ConcatSquashMLP struct {
	// Hidden lists the widths of the hidden layers (default 64, 64, 64).
	Hidden []int
}

// Build builds f(t, z) for z of shape [B, D]. It has the signature of graph.BuildFunc.
func (c ConcatSquashMLP) Build(s *graph.Scope, t, z *G.Node) (*G.Node, error) {
	if z.Dims() != 2 {
		return nil, errors.Errorf("cnf: ConcatSquashMLP needs states [B, D], got %v", z.Shape())
	}
	hidden := c.Hidden
	if len(hidden) == 0 {
		hidden = []int{64, 64, 64}
	}
	var seq layers.Sequential
	for i, w := range hidden {
		if w <= 0 {
			return nil, errors.Errorf("cnf: ConcatSquashMLP hidden width %d", w)
		}
		seq = append(seq, layers.Named{Name: layerName(i), Layer: layers.ConcatSquashLinear{Out: w}}, layers.Tanh)
	}
	seq = append(seq, layers.Named{Name: layerName(len(hidden)), Layer: layers.ConcatSquashLinear{Out: z.Shape()[1]}})
	return seq.Build(s.Sub("odefunc"), t, z)
}

func layerName(i int) string { return strconv.Itoa(i) }
