package main

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
)

// Cell kinds of a recurrent net.
const (
	cellRNN = "rnn" // h' = tanh(W [x, h] + b), torchdiffeq's RecognitionRNN
	cellGRU = "gru" // PyTorch's GRUCell
)

// cellLayer returns the one-step recurrent cell as a layer on [B, F+H] (input features,
// then the hidden state) giving the next hidden state [B, H].
func cellLayer(kind string, features, hidden int) (layers.Layer, error) {
	switch kind {
	case cellRNN:
		return layers.Sequential{layers.Linear{Out: hidden}, layers.Tanh}, nil
	case cellGRU:
		return layers.LayerFunc(func(s *graph.Scope, _, in *G.Node) (*G.Node, error) {
			return gru(s, in, features, hidden)
		}), nil
	}
	return nil, errors.Errorf("latent-ode: unknown cell %q (want rnn or gru)", kind)
}

// gru builds PyTorch's GRUCell on in = [x, h]:
// r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
// n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h = n + z (h - n).
func gru(s *graph.Scope, in *G.Node, features, hidden int) (*G.Node, error) {
	if in.Dims() != 2 || in.Shape()[1] != features+hidden {
		return nil, errors.Errorf("latent-ode: GRU input %v, want [B, %d]", in.Shape(), features+hidden)
	}
	x, err := G.Slice(in, nil, G.S(0, features))
	if err != nil {
		return nil, err
	}
	h, err := G.Slice(in, nil, G.S(features, features+hidden))
	if err != nil {
		return nil, err
	}
	gi, err := layers.Linear{Out: 3 * hidden}.Build(s.Sub("ih"), nil, x)
	if err != nil {
		return nil, err
	}
	gh, err := layers.Linear{Out: 3 * hidden}.Build(s.Sub("hh"), nil, h)
	if err != nil {
		return nil, err
	}
	part := func(n *G.Node, k int) (*G.Node, error) { return G.Slice(n, nil, G.S(k*hidden, (k+1)*hidden)) }
	var p [3][2]*G.Node
	for k := 0; k < 3; k++ {
		if p[k][0], err = part(gi, k); err != nil {
			return nil, err
		}
		if p[k][1], err = part(gh, k); err != nil {
			return nil, err
		}
	}
	gate := func(k int) (*G.Node, error) {
		a, err := G.Add(p[k][0], p[k][1])
		if err != nil {
			return nil, err
		}
		return G.Sigmoid(a)
	}
	r, err := gate(0)
	if err != nil {
		return nil, err
	}
	z, err := gate(1)
	if err != nil {
		return nil, err
	}
	rn, err := G.HadamardProd(r, p[2][1])
	if err != nil {
		return nil, err
	}
	n, err := G.Add(p[2][0], rn)
	if err != nil {
		return nil, err
	}
	if n, err = G.Tanh(n); err != nil {
		return nil, err
	}
	hn, err := G.Sub(h, n)
	if err != nil {
		return nil, err
	}
	zh, err := G.HadamardProd(z, hn)
	if err != nil {
		return nil, err
	}
	return G.Add(n, zh)
}

// recurrent runs a one-step cell (a graph.Func on [B, F+H]) over a sequence and
// backpropagates through time by chaining the cell's VJPs in Go: the gradient of the
// unrolled net without building one graph per sequence length. Every sequence of a batch
// has the same number of steps (the observation count is fixed per run; the times
// differ and enter as features). Not safe for concurrent use.
type recurrent struct {
	cell    *graph.Func
	F, H, B int
	in      [][]float64 // in[k] = [x_k, h_k] per sample, kept for the backward pass
	hs      [][]float64 // hs[k] = hidden state after k steps (hs[0] = 0)
	din, dp []float64
	dpSum   []float64
	dh      []float64
}

func newRecurrent(kind string, ps *graph.Params, name string, features, hidden int, opt graph.Options) (*recurrent, error) {
	l, err := cellLayer(kind, features, hidden)
	if err != nil {
		return nil, err
	}
	cell, err := graph.NewFunc(layers.FuncOf(layers.Named{Name: name, Layer: l}), ps, []int{features + hidden}, opt)
	if err != nil {
		return nil, errors.Wrapf(err, "latent-ode: %s cell", name)
	}
	if cell.OutDim() != hidden {
		return nil, errors.Errorf("latent-ode: %s cell gives %d outputs, want %d", name, cell.OutDim(), hidden)
	}
	return &recurrent{cell: cell, F: features, H: hidden, dp: make([]float64, cell.NumParams()), dpSum: make([]float64, cell.NumParams())}, nil
}

// forward runs the cell over xs (xs[k] holds the B samples' features of step k, B*F
// values) from a zero state and returns the hidden states hs[1..K] (hs[k] after k
// steps; shared buffers valid until the next call).
func (r *recurrent) forward(xs [][]float64, batch int) ([][]float64, error) {
	K := len(xs)
	F, H := r.F, r.H
	r.B = batch
	for len(r.in) < K {
		r.in = append(r.in, nil)
	}
	for len(r.hs) < K+1 {
		r.hs = append(r.hs, nil)
	}
	for k := 0; k <= K; k++ {
		r.hs[k] = resize(r.hs[k], batch*H)
		if k < K {
			r.in[k] = resize(r.in[k], batch*(F+H))
		}
	}
	clear(r.hs[0])
	for k := 0; k < K; k++ {
		if len(xs[k]) != batch*F {
			return nil, errors.Errorf("latent-ode: step %d has %d features, want %d", k, len(xs[k]), batch*F)
		}
		in := r.in[k]
		for b := 0; b < batch; b++ {
			copy(in[b*(F+H):], xs[k][b*F:(b+1)*F])
			copy(in[b*(F+H)+F:], r.hs[k][b*H:(b+1)*H])
		}
		if err := r.cell.Forward(in, r.hs[k+1]); err != nil {
			return nil, errors.Wrapf(err, "latent-ode: recurrent step %d", k)
		}
	}
	return r.hs[:K+1], nil
}

// backward takes dL/dh_k for k = 1..K (dhs[k], nil for none; dhs[0] is ignored) of the
// last forward, accumulates the parameter gradient into the parameter set, and writes
// dL/dx_k into dxs[k] when dxs is not nil.
func (r *recurrent) backward(dhs [][]float64, dxs [][]float64) error {
	K := len(dhs) - 1
	F, H, B := r.F, r.H, r.B
	r.dh = resize(r.dh, B*H)
	r.din = resize(r.din, B*(F+H))
	clear(r.dh)
	clear(r.dpSum)
	for k := K - 1; k >= 0; k-- {
		if g := dhs[k+1]; g != nil {
			for i := range r.dh {
				r.dh[i] += g[i]
			}
		}
		if err := r.cell.VJP(r.in[k], r.dh, nil, r.din, r.dp); err != nil {
			return errors.Wrapf(err, "latent-ode: recurrent step %d backward", k)
		}
		for i, v := range r.dp {
			r.dpSum[i] += v
		}
		for b := 0; b < B; b++ {
			copy(r.dh[b*H:(b+1)*H], r.din[b*(F+H)+F:(b+1)*(F+H)])
			if dxs != nil {
				copy(dxs[k][b*F:(b+1)*F], r.din[b*(F+H):b*(F+H)+F])
			}
		}
	}
	return r.cell.AccumulateGrad(r.dpSum)
}

// resize returns s with length n, reallocating only when its capacity is too small.
func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
