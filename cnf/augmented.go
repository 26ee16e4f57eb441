package cnf

import (
	"math/rand/v2"

	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
)

// Probe selects the distribution of the Hutchinson probe e (E[e e^T] = I for both).
type Probe int

const (
	// Gaussian probes have independent N(0, 1) entries.
	Gaussian Probe = iota
	// Rademacher probes have independent entries ±1 with probability 1/2 (lower variance:
	// the diagonal of the Jacobian contributes none).
	Rademacher
)

func (p Probe) String() string {
	switch p {
	case Gaussian:
		return "gaussian"
	case Rademacher:
		return "rademacher"
	}
	return "invalid"
}

// Augmented is the dynamics of a continuous normalizing flow together with its
// log-density change and, optionally, the RNODE regularisers, on the flat state
//
//	[z (B*D), Δ (B), kinetic (B, if Kinetic), frobenius (B, if Frobenius)]
//
// with dz/dt = f(t, z), dΔ/dt = -tr(df/dz), dkinetic/dt = |f|^2 and
// dfrobenius/dt = ||df/dz||_F^2 (exact mode) or |e^T df/dz|^2 (Hutchinson, same probe
// as the trace). It implements adjoint.Dynamics: its VJP is the gradient of
// a_z.f - a_Δ tr + a_kin |f|^2 + a_frob frob from graph.Dynamics.TraceVJP, that is from
// Gorgonia's symbolic differentiation of the trace graph.
//
// The Hutchinson probe is held by the value (SetProbe, DrawProbe) and reused at every
// evaluation until replaced, so a forward solve and the backward pass of its adjoint see
// the same probe. An Augmented is not safe for concurrent use.
type Augmented struct {
	f         *graph.Dynamics
	mode      graph.TraceMode
	kinetic   bool
	frobenius bool
	probe     []float64

	// scratch, resized to the batch
	fz, tr, fr, a, ctr []float64
	io                 graph.TraceIO
}

// NewAugmented returns the augmented dynamics of f with the given trace mode
// (graph.TraceExact or graph.TraceHutchinson) and regulariser states.
func NewAugmented(f *graph.Dynamics, mode graph.TraceMode, kinetic, frobenius bool) (*Augmented, error) {
	if f == nil {
		return nil, errors.New("cnf: nil dynamics")
	}
	if mode != graph.TraceExact && mode != graph.TraceHutchinson {
		return nil, errors.Errorf("cnf: invalid trace mode %d", mode)
	}
	return &Augmented{f: f, mode: mode, kinetic: kinetic, frobenius: frobenius}, nil
}

// Dynamics returns the underlying dynamics f.
func (g *Augmented) Dynamics() *graph.Dynamics { return g.f }

// Mode returns the trace mode.
func (g *Augmented) Mode() graph.TraceMode { return g.mode }

// Extra returns the number of per-sample states after z: 1 (Δ) plus one per regulariser.
func (g *Augmented) Extra() int {
	k := 1
	if g.kinetic {
		k++
	}
	if g.frobenius {
		k++
	}
	return k
}

// StateLen returns the length of the augmented state of a batch of b samples.
func (g *Augmented) StateLen(b int) int { return b * (g.f.SampleDim() + g.Extra()) }

// Batch returns the batch size of an augmented state of length n.
func (g *Augmented) Batch(n int) (int, error) {
	per := g.f.SampleDim() + g.Extra()
	if n == 0 || n%per != 0 {
		return 0, errors.Errorf("cnf: augmented state of length %d is not a positive multiple of %d (D=%d plus %d per-sample states)", n, per, g.f.SampleDim(), g.Extra())
	}
	return n / per, nil
}

// NumParams returns the number of parameters of f.
func (g *Augmented) NumParams() int { return g.f.NumParams() }

// SetProbe sets the Hutchinson probe (length B*D, copied) used by every later evaluation.
func (g *Augmented) SetProbe(e []float64) {
	g.probe = append(g.probe[:0], e...)
}

// Probe returns the current probe (shared: do not modify).
func (g *Augmented) Probe() []float64 { return g.probe }

// DrawProbe draws a new probe for a batch of b samples from dist.
func (g *Augmented) DrawProbe(rng *rand.Rand, dist Probe, b int) error {
	if rng == nil {
		return errors.New("cnf: DrawProbe needs a random source")
	}
	n := b * g.f.SampleDim()
	if cap(g.probe) < n {
		g.probe = make([]float64, n)
	}
	g.probe = g.probe[:n]
	switch dist {
	case Gaussian:
		for i := range g.probe {
			g.probe[i] = rng.NormFloat64()
		}
	case Rademacher:
		for i := range g.probe {
			if rng.Uint64()&1 == 0 {
				g.probe[i] = 1
			} else {
				g.probe[i] = -1
			}
		}
	default:
		return errors.Errorf("cnf: invalid probe distribution %d", dist)
	}
	return nil
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// prepare validates the state and sizes the scratch buffers for a batch.
func (g *Augmented) prepare(y []float64) (b, nz int, err error) {
	if b, err = g.Batch(len(y)); err != nil {
		return 0, 0, err
	}
	nz = b * g.f.SampleDim()
	g.io = graph.TraceIO{}
	if g.mode == graph.TraceHutchinson {
		if len(g.probe) != nz {
			return 0, 0, errors.Errorf("cnf: Hutchinson probe has length %d, want %d for a batch of %d: call DrawProbe or SetProbe", len(g.probe), nz, b)
		}
		g.io.Probe = g.probe
	}
	g.fz = grow(g.fz, nz)
	g.tr = grow(g.tr, b)
	if g.frobenius {
		g.fr = grow(g.fr, b)
	}
	return b, nz, nil
}

// Eval writes the augmented derivative at (t, y) into dydt (odeint.Func's signature).
func (g *Augmented) Eval(t float64, y, dydt []float64) error {
	b, nz, err := g.prepare(y)
	if err != nil {
		return err
	}
	if len(dydt) != len(y) {
		return errors.Errorf("cnf: Eval: output has length %d, state %d", len(dydt), len(y))
	}
	g.io.F, g.io.Tr = dydt[:nz], g.tr
	if g.frobenius {
		g.io.Frob = g.fr
	}
	if err := g.f.Trace(g.mode, t, y[:nz], &g.io); err != nil {
		return errors.Wrapf(err, "cnf: augmented dynamics at t=%g", t)
	}
	g.fill(b, nz, dydt)
	return nil
}

// fill writes the per-sample derivatives after z (which is already in out[:nz]).
func (g *Augmented) fill(b, nz int, out []float64) {
	d := g.f.SampleDim()
	o := nz
	for s := 0; s < b; s++ {
		out[o+s] = -g.tr[s]
	}
	o += b
	if g.kinetic {
		for s := 0; s < b; s++ {
			k := 0.0
			for _, v := range out[s*d : (s+1)*d] {
				k += v * v
			}
			out[o+s] = k
		}
		o += b
	}
	if g.frobenius {
		copy(out[o:o+b], g.fr)
	}
}

// VJP writes a^T dF/dy into dy and a^T dF/dtheta into dp for the augmented derivative F,
// F(t, y) into f when f is not nil, and returns a^T dF/dt (adjoint.Dynamics' contract).
// The per-sample states do not enter F, so their part of dy is zero. The kinetic term's
// gradient 2 a_kin f^T df/d(z, theta, t) is folded into the cotangent of f: A = a_z + 2 a_kin f,
// which costs one extra evaluation of f when the kinetic state is on.
func (g *Augmented) VJP(t float64, y, a, f, dy, dp []float64) (float64, error) {
	b, nz, err := g.prepare(y)
	if err != nil {
		return 0, err
	}
	if len(a) != len(y) || len(dy) != len(y) || (f != nil && len(f) != len(y)) {
		return 0, errors.Errorf("cnf: VJP: state %d, cotangent %d, dy %d, f %d: lengths must match (f may be nil)", len(y), len(a), len(dy), len(f))
	}
	if len(dp) != g.f.NumParams() {
		return 0, errors.Errorf("cnf: VJP: dp has length %d, want %d", len(dp), g.f.NumParams())
	}
	d := g.f.SampleDim()
	g.ctr = grow(g.ctr, b)
	for s := 0; s < b; s++ {
		g.ctr[s] = -a[nz+s]
	}
	A := a[:nz]
	o := nz + b
	if g.kinetic {
		if err := g.f.Eval(t, y[:nz], g.fz); err != nil {
			return 0, errors.Wrapf(err, "cnf: augmented VJP at t=%g", t)
		}
		g.a = grow(g.a, nz)
		for s := 0; s < b; s++ {
			c := 2 * a[o+s]
			for j := s * d; j < (s+1)*d; j++ {
				g.a[j] = a[j] + c*g.fz[j]
			}
		}
		A = g.a
		o += b
	}
	g.io.F, g.io.Tr, g.io.A, g.io.CTr = g.fz, g.tr, A, g.ctr
	if g.frobenius {
		g.io.Frob, g.io.CFrob = g.fr, a[o:o+b]
	}
	g.io.DY, g.io.DP = dy[:nz], dp
	dt, err := g.f.TraceVJP(g.mode, t, y[:nz], &g.io)
	if err != nil {
		return 0, errors.Wrapf(err, "cnf: augmented VJP at t=%g", t)
	}
	clear(dy[nz:])
	if f != nil {
		copy(f[:nz], g.fz)
		g.fill(b, nz, f)
	}
	return dt, nil
}
