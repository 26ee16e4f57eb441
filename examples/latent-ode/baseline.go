package main

import (
	"github.com/pkg/errors"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
)

const rnnFeatures = 3 // (x, y, gap to the time to predict)

// rnnBaseline is the recurrent baseline of the paper's section 5: a recurrent net run
// forwards over the irregular observations with the time gap as an input, trained to
// predict the next observation (x_{j+1} = x_j + head(h_{j+1}), h_{j+1} = cell(x_j,
// t_{j+1} - t_j, h_j)), and extrapolating autoregressively by feeding its own
// predictions with the gap to the next requested time.
type rnnBaseline struct {
	rec     *recurrent
	head    *graph.Func
	posUnit float64 // divides the positions fed to the net (as latentODE.posUnit)
}

func newRNNBaseline(ps *graph.Params, cell string, hidden, nhidden int, opt graph.Options) (*rnnBaseline, error) {
	rec, err := newRecurrent(cell, ps, "rnn", rnnFeatures, hidden, opt)
	if err != nil {
		return nil, err
	}
	head, err := graph.NewFunc(layers.FuncOf(layers.Named{Name: "head", Layer: layers.Sequential{
		layers.Linear{Out: nhidden}, layers.ReLU, layers.Linear{Out: 2}}}), ps, []int{hidden}, opt)
	if err != nil {
		return nil, errors.Wrap(err, "latent-ode: rnn head")
	}
	return &rnnBaseline{rec: rec, head: head, posUnit: 1}, nil
}

// lossGrad is the mean squared error of the one-step-ahead predictions of every
// observation after the first; it accumulates its gradient into the parameter set.
func (r *rnnBaseline) lossGrad(batch []spiral) (float64, error) {
	B, N, H := len(batch), len(batch[0].ObsIdx), r.rec.H
	K := N - 1
	xs := make([][]float64, K)
	for j := range xs {
		x := make([]float64, B*rnnFeatures)
		for b, sp := range batch {
			x[b*3], x[b*3+1] = sp.Obs[j][0]/r.posUnit, sp.Obs[j][1]/r.posUnit
			x[b*3+2] = float64(sp.ObsIdx[j+1]-sp.ObsIdx[j]) * gridDT / gapUnit
		}
		xs[j] = x
	}
	hs, err := r.rec.forward(xs, B)
	if err != nil {
		return 0, err
	}
	hcat := make([]float64, K*B*H)
	for j := 0; j < K; j++ {
		copy(hcat[j*B*H:], hs[j+1])
	}
	delta := make([]float64, K*B*2)
	if err := r.head.Forward(hcat, delta); err != nil {
		return 0, errors.Wrap(err, "latent-ode: rnn head")
	}
	count := float64(K * B * 2)
	loss := 0.0
	ddelta := make([]float64, len(delta))
	for j := 0; j < K; j++ {
		for b, sp := range batch {
			for d := 0; d < 2; d++ {
				i := (j*B+b)*2 + d
				e := sp.Obs[j][d] + delta[i] - sp.Obs[j+1][d]
				loss += e * e
				ddelta[i] = 2 * e / count
			}
		}
	}
	dh := make([]float64, len(hcat))
	dp := make([]float64, r.head.NumParams())
	if err := r.head.VJP(hcat, ddelta, nil, dh, dp); err != nil {
		return 0, errors.Wrap(err, "latent-ode: rnn head backward")
	}
	if err := r.head.AccumulateGrad(dp); err != nil {
		return 0, err
	}
	dhs := make([][]float64, K+1)
	for j := 0; j < K; j++ {
		dhs[j+1] = dh[j*B*H : (j+1)*B*H]
	}
	if err := r.rec.backward(dhs, nil); err != nil {
		return 0, err
	}
	return loss / count, nil
}

// extrapolate runs the net over every observation and then predicts the nExtrap points
// after the window autoregressively: out[s][i] is spiral s's prediction at grid time
// nWindow+i.
func (r *rnnBaseline) extrapolate(batch []spiral) ([][][2]float64, error) {
	B, N, H := len(batch), len(batch[0].ObsIdx), r.rec.H
	xs := make([][]float64, N)
	for j := range xs {
		x := make([]float64, B*rnnFeatures)
		for b, sp := range batch {
			next := nWindow // after the last observation: the first extrapolation time
			if j+1 < N {
				next = sp.ObsIdx[j+1]
			}
			x[b*3], x[b*3+1] = sp.Obs[j][0]/r.posUnit, sp.Obs[j][1]/r.posUnit
			x[b*3+2] = float64(next-sp.ObsIdx[j]) * gridDT / gapUnit
		}
		xs[j] = x
	}
	hs, err := r.rec.forward(xs, B)
	if err != nil {
		return nil, err
	}
	h := append([]float64(nil), hs[N]...)
	cur := make([]float64, B*2)
	for b, sp := range batch {
		cur[2*b], cur[2*b+1] = sp.Obs[N-1][0], sp.Obs[N-1][1]
	}
	out := make([][][2]float64, B)
	for b := range out {
		out[b] = make([][2]float64, nExtrap)
	}
	delta := make([]float64, B*2)
	in := make([]float64, B*(rnnFeatures+H))
	for i := 0; i < nExtrap; i++ {
		if err := r.head.Forward(h, delta); err != nil {
			return nil, errors.Wrap(err, "latent-ode: rnn head")
		}
		for b := range out {
			cur[2*b] += delta[2*b]
			cur[2*b+1] += delta[2*b+1]
			out[b][i] = [2]float64{cur[2*b], cur[2*b+1]}
		}
		if i == nExtrap-1 {
			break
		}
		for b := 0; b < B; b++ {
			o := b * (rnnFeatures + H)
			in[o], in[o+1], in[o+2] = cur[2*b]/r.posUnit, cur[2*b+1]/r.posUnit, gridDT/gapUnit
			copy(in[o+rnnFeatures:o+rnnFeatures+H], h[b*H:(b+1)*H])
		}
		if err := r.rec.cell.Forward(in, h); err != nil {
			return nil, errors.Wrap(err, "latent-ode: rnn rollout")
		}
	}
	return out, nil
}
