package main

import (
	"math"
	"math/rand/v2"

	"github.com/pkg/errors"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
)

// Feature scales: times enter the recurrent nets in units of the observation window
// (t in [0, 1)) and gaps in units of ten grid steps, so that both are O(0.1-1) like the
// other inputs and the tanh/sigmoid units do not start saturated.
var (
	timeUnit = nWindow * gridDT
	gapUnit  = 10 * gridDT
)

// latentODE is the paper's latent ODE (section 5): a recurrent encoder run backwards
// over a spiral's irregular observations gives q(z0) = N(mu, diag(exp(logvar))); z0 is
// drawn by reparameterisation; z(t) solves dz/dt = f(z); x(t) = decoder(z(t)); the loss
// is the negative ELBO: Gaussian negative log-likelihood (sigma fixed) plus KL(q || N(0, I)).
type latentODE struct {
	ps     *graph.Params
	enc    *recurrent      // features (x, y, t, gap to the next observation)
	h2o    *graph.Func     // hidden -> (mu, logvar)
	f      *graph.Dynamics // latent dynamics (time-invariant as torchdiffeq's)
	dec    *graph.Func     // latent -> observation
	latent int
	sigma  float64
	// posUnit divides the observed positions fed to the encoder (1 in the
	// constructor; -pos-unit sets it for both models).
	posUnit float64
	aopt    adjoint.Options
	nfeFwd  int // NFE of the last training step's forward solve
	nfeBwd  int // VJPs of its backward pass
}

const encFeatures = 4

func newLatentODE(ps *graph.Params, cell string, hidden, latent, odeHidden, nhidden int, sigma float64, solver odeint.Options, opt graph.Options) (*latentODE, error) {
	m := &latentODE{ps: ps, latent: latent, sigma: sigma, posUnit: 1}
	var err error
	if m.enc, err = newRecurrent(cell, ps, "enc", encFeatures, hidden, opt); err != nil {
		return nil, err
	}
	if m.h2o, err = graph.NewFunc(layers.FuncOf(layers.Named{Name: "h2o", Layer: layers.Linear{Out: 2 * latent}}), ps, []int{hidden}, opt); err != nil {
		return nil, errors.Wrap(err, "latent-ode: h2o")
	}
	odef := layers.Named{Name: "odef", Layer: layers.Sequential{
		layers.Linear{Out: odeHidden}, layers.ELU, layers.Linear{Out: odeHidden}, layers.ELU, layers.Linear{Out: latent}}}
	if m.f, err = graph.NewDynamics(layers.DynamicsOf(odef), ps, []int{latent}, opt); err != nil {
		return nil, errors.Wrap(err, "latent-ode: dynamics")
	}
	dec := layers.Named{Name: "dec", Layer: layers.Sequential{layers.Linear{Out: nhidden}, layers.ReLU, layers.Linear{Out: 2}}}
	if m.dec, err = graph.NewFunc(layers.FuncOf(dec), ps, []int{latent}, opt); err != nil {
		return nil, errors.Wrap(err, "latent-ode: decoder")
	}
	// Direct backpropagation through the solver's steps, not Backsolve: a batch's union
	// of observation times has up to nWindow output times, and Backsolve restarts its
	// backward solve at every one of them (at least one 6-stage step per interval, so
	// hundreds of VJPs), whereas Direct costs one VJP per recorded stage (about the
	// forward NFE) and gives the exact gradient of the discrete solve. Its memory, the
	// stages of every step, is a few hundred KB for a [B, 4] state.
	// The observation times are data, not parameters: dL/dt_i is never used, and
	// skipping it saves one f evaluation per output time.
	m.aopt = adjoint.Options{Method: adjoint.Direct, Solver: solver, NoTimeGradients: true}
	return m, nil
}

// encoderInputs returns the backward sequence of encoder features: step k holds, for
// every spiral, observation N-1-k (divided by posUnit) with its time and the gap to the
// next observation (0 for the last).
func encoderInputs(batch []spiral, posUnit float64) [][]float64 {
	N := len(batch[0].ObsIdx)
	xs := make([][]float64, N)
	for k := range xs {
		j := N - 1 - k
		x := make([]float64, len(batch)*encFeatures)
		for b, sp := range batch {
			t := float64(sp.ObsIdx[j]) * gridDT
			gap := 0.0
			if j+1 < N {
				gap = float64(sp.ObsIdx[j+1])*gridDT - t
			}
			x[b*encFeatures+0] = sp.Obs[j][0] / posUnit
			x[b*encFeatures+1] = sp.Obs[j][1] / posUnit
			x[b*encFeatures+2] = t / timeUnit
			x[b*encFeatures+3] = gap / gapUnit
		}
		xs[k] = x
	}
	return xs
}

// encode runs the encoder and returns its final hidden state and q(z0)'s parameters
// laid out [B, 2*latent] (mu then logvar per spiral).
func (m *latentODE) encode(batch []spiral) (hN, q []float64, err error) {
	hs, err := m.enc.forward(encoderInputs(batch, m.posUnit), len(batch))
	if err != nil {
		return nil, nil, err
	}
	hN = hs[len(hs)-1]
	q = make([]float64, len(batch)*2*m.latent)
	if err := m.h2o.Forward(hN, q); err != nil {
		return nil, nil, errors.Wrap(err, "latent-ode: h2o")
	}
	return hN, q, nil
}

// lossGrad computes the negative ELBO averaged over the batch with z0 = mu +
// exp(logvar/2) eps (eps drawn from rng, or given in epsIn when not nil), and
// accumulates its gradient into the parameter set.
func (m *latentODE) lossGrad(batch []spiral, rng *rand.Rand, epsIn []float64) (float64, error) {
	B, L := len(batch), m.latent
	hN, q, err := m.encode(batch)
	if err != nil {
		return 0, err
	}
	eps := epsIn
	if eps == nil {
		eps = make([]float64, B*L)
		for i := range eps {
			eps[i] = rng.NormFloat64()
		}
	}
	z0 := make([]float64, B*L)
	for b := 0; b < B; b++ {
		for d := 0; d < L; d++ {
			mu, lv := q[b*2*L+d], q[b*2*L+L+d]
			z0[b*L+d] = mu + math.Exp(0.5*lv)*eps[b*L+d]
		}
	}
	// The union of the batch's observation times, with t = 0 (where z0 lives) first.
	var used [nWindow]bool
	used[0] = true
	for _, sp := range batch {
		for _, k := range sp.ObsIdx {
			used[k] = true
		}
	}
	var pos [nWindow]int
	var ts []float64
	for k, u := range used {
		if u {
			pos[k] = len(ts)
			ts = append(ts, float64(k)*gridDT)
		}
	}
	T := len(ts)
	tape, err := adjoint.Forward(m.f, z0, ts, m.aopt)
	if err != nil {
		return 0, errors.Wrap(err, "latent-ode: forward solve")
	}
	zs := make([]float64, T*B*L)
	for u, y := range tape.Y() {
		copy(zs[u*B*L:], y)
	}
	xhat := make([]float64, T*B*2)
	if err := m.dec.Forward(zs, xhat); err != nil {
		return 0, errors.Wrap(err, "latent-ode: decoder")
	}
	// -log N(x; xhat, sigma^2) per coordinate, summed over a spiral's observations, then
	// the batch mean; its gradient w.r.t. xhat is (xhat - x) / sigma^2 / B.
	s2 := m.sigma * m.sigma
	logNorm := 0.5 * math.Log(2*math.Pi*s2)
	dxhat := make([]float64, len(xhat))
	loss := 0.0
	for b, sp := range batch {
		for j, k := range sp.ObsIdx {
			i := (pos[k]*B + b) * 2
			for d := 0; d < 2; d++ {
				r := xhat[i+d] - sp.Obs[j][d]
				loss += 0.5*r*r/s2 + logNorm
				dxhat[i+d] += r / s2 / float64(B)
			}
		}
	}
	dzs := make([]float64, len(zs))
	dp := make([]float64, m.dec.NumParams())
	if err := m.dec.VJP(zs, dxhat, nil, dzs, dp); err != nil {
		return 0, errors.Wrap(err, "latent-ode: decoder backward")
	}
	if err := m.dec.AccumulateGrad(dp); err != nil {
		return 0, err
	}
	dLdy := make([][]float64, T)
	for u := range dLdy {
		dLdy[u] = dzs[u*B*L : (u+1)*B*L]
	}
	g, err := tape.Backward(dLdy)
	if err != nil {
		return 0, errors.Wrap(err, "latent-ode: backward through the solve")
	}
	m.nfeFwd, m.nfeBwd = g.Stats.ForwardNFE, g.Stats.BackwardNFE
	if err := m.f.AccumulateGrad(g.Params); err != nil {
		return 0, err
	}
	// KL(N(mu, e^lv) || N(0, 1)) = 0.5 (e^lv + mu^2 - 1 - lv) per latent coordinate, and
	// the reparameterisation z0 = mu + e^(lv/2) eps.
	dq := make([]float64, len(q))
	for b := 0; b < B; b++ {
		for d := 0; d < L; d++ {
			mu, lv := q[b*2*L+d], q[b*2*L+L+d]
			loss += 0.5 * (math.Exp(lv) + mu*mu - 1 - lv)
			dz := g.Y0[b*L+d]
			dq[b*2*L+d] = dz + mu/float64(B)
			dq[b*2*L+L+d] = dz*eps[b*L+d]*0.5*math.Exp(0.5*lv) + 0.5*(math.Exp(lv)-1)/float64(B)
		}
	}
	dh := make([]float64, len(hN))
	dp = make([]float64, m.h2o.NumParams())
	if err := m.h2o.VJP(hN, dq, nil, dh, dp); err != nil {
		return 0, errors.Wrap(err, "latent-ode: h2o backward")
	}
	if err := m.h2o.AccumulateGrad(dp); err != nil {
		return 0, err
	}
	dhs := make([][]float64, len(batch[0].ObsIdx)+1)
	dhs[len(dhs)-1] = dh
	if err := m.enc.backward(dhs, nil); err != nil {
		return 0, err
	}
	return loss / float64(B), nil
}

// predict encodes the spirals' observations, takes z0 = mu (the posterior mean), solves
// the latent ODE once at all nWindow+nExtrap grid times and decodes: out[s][k] is
// spiral s's prediction at grid time k.
func (m *latentODE) predict(batch []spiral) ([][][2]float64, error) {
	B, L := len(batch), m.latent
	_, q, err := m.encode(batch)
	if err != nil {
		return nil, err
	}
	z0 := make([]float64, B*L)
	for b := 0; b < B; b++ {
		copy(z0[b*L:(b+1)*L], q[b*2*L:b*2*L+L])
	}
	K := nWindow + nExtrap
	ts := make([]float64, K)
	for k := range ts {
		ts[k] = float64(k) * gridDT
	}
	sol, err := odeint.Solve(m.f.Eval, z0, ts, m.aopt.Solver)
	if err != nil {
		return nil, errors.Wrap(err, "latent-ode: prediction solve")
	}
	zs := make([]float64, K*B*L)
	for k, y := range sol.Y {
		copy(zs[k*B*L:], y)
	}
	xhat := make([]float64, K*B*2)
	if err := m.dec.Forward(zs, xhat); err != nil {
		return nil, errors.Wrap(err, "latent-ode: decoder")
	}
	out := make([][][2]float64, B)
	for b := range out {
		out[b] = make([][2]float64, K)
		for k := 0; k < K; k++ {
			i := (k*B + b) * 2
			out[b][k] = [2]float64{xhat[i], xhat[i+1]}
		}
	}
	return out, nil
}
