package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
)

// TraceMode selects how Dynamics.Trace computes tr(df/dz) for each sample.
type TraceMode int

const (
	// TraceExact sums D vector-Jacobian products with the basis cotangents e_i
	// (D = SampleDim): exact, D times the cost of one VJP. For low-dimensional flows.
	TraceExact TraceMode = iota + 1
	// TraceHutchinson is the estimate e^T (df/dz) e for a given probe e (one VJP),
	// unbiased when E[e e^T] = I (Gaussian or Rademacher probes).
	TraceHutchinson
)

// String returns "exact", "hutchinson", or "invalid" for any other value, for messages
// and test names.
func (m TraceMode) String() string {
	switch m {
	case TraceExact:
		return "exact"
	case TraceHutchinson:
		return "hutchinson"
	}
	return "invalid"
}

// TraceIO carries the arguments and results of Trace and TraceVJP. Slices of the state's
// length hold B samples; per-sample slices have length B. A nil output is not written; a
// nil cotangent is taken as zero.
type TraceIO struct {
	Probe []float64 // Hutchinson probe e, state length (unused for TraceExact)

	F    []float64 // output: f(t, y), state length, may be nil
	Tr   []float64 // output: the trace (or its estimate) per sample, length B, may be nil
	Frob []float64 // output: ||df/dz||_F^2 per sample (exact), or ||e^T df/dz||^2 (Hutchinson); nil skips it

	A     []float64 // TraceVJP cotangent of F (state length)
	CTr   []float64 // TraceVJP cotangent of Tr (length B)
	CFrob []float64 // TraceVJP cotangent of Frob (length B); non-nil makes Frob part of the program

	DY []float64 // TraceVJP output: gradient w.r.t. the state (state length)
	DP []float64 // TraceVJP output: gradient w.r.t. the parameters (NumParams)
}

type augKey struct {
	mode TraceMode
	frob bool
}

// augProg computes f, the trace and optionally the Frobenius term (fwd), and their
// joint VJP (bwd), from one graph.
type augProg struct {
	fwd, bwd    *Program
	e           *G.Node
	tr, fr      *G.Node
	a, ctr, cfr *G.Node
	dz, dt      *G.Node
	dps         []*G.Node
}

func (u *unit) augProgram(mode TraceMode, frob bool) (*augProg, error) {
	key := augKey{mode, frob}
	if p := u.aug[key]; p != nil {
		return p, nil
	}
	b, D := u.batch, u.d.dim
	ap := &augProg{}
	var rows []*G.Node // [B, D] views of v^T df/dz for the cotangents used
	var err error
	switch mode {
	case TraceExact:
		for i := 0; i < D; i++ {
			ei := u.newInput("basis", u.z.Shape())
			v := u.inputs[ei]
			for s := 0; s < b; s++ {
				if err := v.SetAt(u.one(), append([]int{s}, unflatten(i, u.d.sample)...)...); err != nil {
					return nil, errors.Wrap(err, "graph: building a basis cotangent")
				}
			}
			g, err := Backprop([]*G.Node{u.f}, []*G.Node{ei}, []*G.Node{u.z})
			if err != nil {
				return nil, err
			}
			if g[0] == nil {
				return nil, errors.New("graph: the dynamics does not depend on the state")
			}
			row, err := G.Reshape(g[0], []int{b, D})
			if err != nil {
				return nil, errors.Wrap(err, "graph: trace")
			}
			rows = append(rows, row)
			// Column i of the row, as sum(row * e_i) over axis 1: Gorgonia's Slice turns a
			// [1, D] column into a run-time scalar that later tensor ops reject.
			e2, err := G.Reshape(ei, []int{b, D})
			if err != nil {
				return nil, errors.Wrap(err, "graph: trace")
			}
			masked, err := G.HadamardProd(row, e2)
			if err != nil {
				return nil, errors.Wrap(err, "graph: trace")
			}
			col, err := G.Sum(masked, 1)
			if err != nil {
				return nil, errors.Wrap(err, "graph: trace")
			}
			if ap.tr == nil {
				ap.tr = col
			} else if ap.tr, err = G.Add(ap.tr, col); err != nil {
				return nil, errors.Wrap(err, "graph: trace")
			}
		}
	case TraceHutchinson:
		ap.e = u.newInput("probe", u.z.Shape())
		g, err := Backprop([]*G.Node{u.f}, []*G.Node{ap.e}, []*G.Node{u.z})
		if err != nil {
			return nil, err
		}
		if g[0] == nil {
			return nil, errors.New("graph: the dynamics does not depend on the state")
		}
		row, err := G.Reshape(g[0], []int{b, D})
		if err != nil {
			return nil, errors.Wrap(err, "graph: Hutchinson trace")
		}
		e2, err := G.Reshape(ap.e, []int{b, D})
		if err != nil {
			return nil, errors.Wrap(err, "graph: Hutchinson trace")
		}
		prod, err := G.HadamardProd(row, e2)
		if err != nil {
			return nil, errors.Wrap(err, "graph: Hutchinson trace")
		}
		if ap.tr, err = G.Sum(prod, 1); err != nil {
			return nil, errors.Wrap(err, "graph: Hutchinson trace")
		}
		rows = append(rows, row)
	default:
		return nil, errors.Errorf("graph: invalid trace mode %d", mode)
	}
	if frob {
		for _, row := range rows {
			sq, err := G.Square(row)
			if err != nil {
				return nil, errors.Wrap(err, "graph: Frobenius norm")
			}
			s, err := G.Sum(sq, 1)
			if err != nil {
				return nil, errors.Wrap(err, "graph: Frobenius norm")
			}
			if ap.fr == nil {
				ap.fr = s
			} else if ap.fr, err = G.Add(ap.fr, s); err != nil {
				return nil, errors.Wrap(err, "graph: Frobenius norm")
			}
		}
	}
	outs := []*G.Node{u.f, ap.tr}
	if frob {
		outs = append(outs, ap.fr)
	}
	if ap.fwd, err = Compile(outs...); err != nil {
		return nil, err
	}
	ap.a = u.newInput("cotangent", u.z.Shape())
	ap.ctr = u.newInput("trace cotangent", []int{b})
	cots := []*G.Node{ap.a, ap.ctr}
	if frob {
		ap.cfr = u.newInput("frobenius cotangent", []int{b})
		cots = append(cots, ap.cfr)
	}
	wrt := append([]*G.Node{u.z, u.t}, u.pnodes...)
	grads, err := Backprop(outs, cots, wrt)
	if err != nil {
		return nil, err
	}
	ap.dz, ap.dt, ap.dps = grads[0], grads[1], grads[2:]
	all := append([]*G.Node(nil), outs...)
	for _, g := range grads {
		if g != nil {
			all = append(all, g)
		}
	}
	if ap.bwd, err = Compile(all...); err != nil {
		return nil, err
	}
	if u.aug == nil {
		u.aug = map[augKey]*augProg{}
	}
	u.aug[key] = ap
	return ap, nil
}

// one returns 1 in the unit's dtype, for SetAt.
func (u *unit) one() interface{} {
	if u.t32 != nil {
		return float32(1)
	}
	return float64(1)
}

// unflatten converts a row-major flat index into coordinates of shape.
func unflatten(i int, shape []int) []int {
	c := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		c[k] = i % shape[k]
		i /= shape[k]
	}
	return c
}

func (d *Dynamics) checkTraceIO(mode TraceMode, y []float64, io *TraceIO, vjp bool) (int, error) {
	if io == nil {
		return 0, errors.New("graph: nil TraceIO")
	}
	if !d.square {
		return 0, errors.New("graph: traces need an output of the input's shape")
	}
	batch, err := d.batchOf("state", len(y))
	if err != nil {
		return 0, err
	}
	n := len(y)
	check := func(name string, s []float64, want int, required bool) error {
		if s == nil && !required {
			return nil
		}
		if len(s) != want {
			return errors.Errorf("graph: TraceIO.%s has length %d, want %d", name, len(s), want)
		}
		return nil
	}
	if mode != TraceExact && mode != TraceHutchinson {
		return 0, errors.Errorf("graph: invalid trace mode %d", mode)
	}
	for _, c := range []struct {
		name     string
		s        []float64
		want     int
		required bool
	}{
		{"Probe", io.Probe, n, mode == TraceHutchinson},
		{"F", io.F, n, false}, {"Tr", io.Tr, batch, false}, {"Frob", io.Frob, batch, false},
		{"A", io.A, n, false}, {"CTr", io.CTr, batch, false}, {"CFrob", io.CFrob, batch, false},
		{"DY", io.DY, n, vjp}, {"DP", io.DP, d.nparam, vjp},
	} {
		if err := check(c.name, c.s, c.want, c.required); err != nil {
			return 0, err
		}
	}
	return batch, nil
}

// Trace evaluates, for each sample of the batch y, f(t, y) into io.F, tr(df/dz) (exact
// or Hutchinson with io.Probe) into io.Tr and, when io.Frob is non-nil, the squared
// Frobenius norm of df/dz (exact mode) or of e^T df/dz (Hutchinson) into io.Frob.
func (d *Dynamics) Trace(mode TraceMode, t float64, y []float64, io *TraceIO) error {
	batch, err := d.checkTraceIO(mode, y, io, false)
	if err != nil {
		return err
	}
	chunks, err := d.split(batch)
	if err != nil {
		return err
	}
	n := d.dim
	frob := io.Frob != nil
	return run(chunks, func(c *chunk) error {
		u := c.u
		ap, err := u.augProgram(mode, frob)
		if err != nil {
			return err
		}
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		if ap.e != nil {
			u.write(ap.e, io.Probe[c.lo*n:c.hi*n])
		}
		if err := ap.fwd.Run(); err != nil {
			return err
		}
		return readOuts(ap.fwd, u, ap, io, c, n)
	})
}

func readOuts(p *Program, u *unit, ap *augProg, io *TraceIO, c *chunk, n int) error {
	if io.F != nil {
		if err := read(p, u.f, io.F[c.lo*n:c.hi*n]); err != nil {
			return err
		}
	}
	if io.Tr != nil {
		if err := read(p, ap.tr, io.Tr[c.lo:c.hi]); err != nil {
			return err
		}
	}
	if io.Frob != nil && ap.fr != nil {
		if err := read(p, ap.fr, io.Frob[c.lo:c.hi]); err != nil {
			return err
		}
	}
	return nil
}

// TraceVJP evaluates what Trace does and the gradient of
// A.f + CTr.tr + CFrob.frob with respect to the state (into io.DY), the parameters (into
// io.DP, NumParams long) and t (returned), all from Gorgonia's symbolic differentiation
// of the trace graph. For TraceHutchinson the probe is held fixed.
func (d *Dynamics) TraceVJP(mode TraceMode, t float64, y []float64, io *TraceIO) (float64, error) {
	batch, err := d.checkTraceIO(mode, y, io, true)
	if err != nil {
		return 0, err
	}
	chunks, err := d.split(batch)
	if err != nil {
		return 0, err
	}
	n := d.dim
	frob := io.Frob != nil || io.CFrob != nil
	err = run(chunks, func(c *chunk) error {
		u := c.u
		ap, err := u.augProgram(mode, frob)
		if err != nil {
			return err
		}
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		if ap.e != nil {
			u.write(ap.e, io.Probe[c.lo*n:c.hi*n])
		}
		u.writeOrZero(ap.a, io.A, c.lo*n, c.hi*n)
		u.writeOrZero(ap.ctr, io.CTr, c.lo, c.hi)
		if ap.cfr != nil {
			u.writeOrZero(ap.cfr, io.CFrob, c.lo, c.hi)
		}
		if err := ap.bwd.Run(); err != nil {
			return err
		}
		if err := readOuts(ap.bwd, u, ap, io, c, n); err != nil {
			return err
		}
		if err := read(ap.bwd, ap.dz, io.DY[c.lo*n:c.hi*n]); err != nil {
			return err
		}
		if c.dt, err = readScalar(ap.bwd, ap.dt); err != nil {
			return err
		}
		return u.readParams(ap.bwd, ap.dps, u.paramScratch(io.DP, len(chunks)))
	})
	if err != nil {
		return 0, err
	}
	return sumChunks(chunks, io.DP), nil
}

// writeOrZero writes src[lo:hi] into input n, or zeros when src is nil.
func (u *unit) writeOrZero(n *G.Node, src []float64, lo, hi int) {
	if src != nil {
		u.write(n, src[lo:hi])
		return
	}
	v := u.inputs[n]
	if u.t32 != nil {
		clear(v.Float32s())
	} else {
		clear(v.Float64s())
	}
}

// jvpProg computes J v = (df/dz) v as the VJP of the (linear) VJP a -> a^T df/dz, and the
// gradient of w^T J v with respect to z, t and the parameters.
type jvpProg struct {
	fwd, bwd *Program
	v, w     *G.Node
	jv       *G.Node
	dz, dt   *G.Node
	dps      []*G.Node
}

func (u *unit) jvpProgram() (*jvpProg, error) {
	if u.jvp != nil {
		return u.jvp, nil
	}
	jp := &jvpProg{}
	a := u.newInput("dummy cotangent", u.z.Shape()) // J v does not depend on its value
	g, err := Backprop([]*G.Node{u.f}, []*G.Node{a}, []*G.Node{u.z})
	if err != nil {
		return nil, err
	}
	if g[0] == nil {
		return nil, errors.New("graph: the dynamics does not depend on the state")
	}
	jp.v = u.newInput("tangent", u.z.Shape())
	h, err := Backprop([]*G.Node{g[0]}, []*G.Node{jp.v}, []*G.Node{a})
	if err != nil {
		return nil, err
	}
	if h[0] == nil {
		return nil, errors.New("graph: JVP: the VJP does not depend on its cotangent")
	}
	jp.jv = h[0]
	if jp.fwd, err = Compile(jp.jv); err != nil {
		return nil, err
	}
	jp.w = u.newInput("JVP cotangent", u.z.Shape())
	wrt := append([]*G.Node{u.z, u.t}, u.pnodes...)
	grads, err := Backprop([]*G.Node{jp.jv}, []*G.Node{jp.w}, wrt)
	if err != nil {
		return nil, err
	}
	jp.dz, jp.dt, jp.dps = grads[0], grads[1], grads[2:]
	all := []*G.Node{jp.jv}
	for _, g := range grads {
		if g != nil {
			all = append(all, g)
		}
	}
	if jp.bwd, err = Compile(all...); err != nil {
		return nil, err
	}
	u.jvp = jp
	return jp, nil
}

// JVP writes the Jacobian-vector product (df/dz) v into jv for each sample of the batch y.
func (d *Dynamics) JVP(t float64, y, v, jv []float64) error {
	batch, err := d.batchOf("state", len(y))
	if err != nil {
		return err
	}
	if len(v) != len(y) || len(jv) != len(y) {
		return errors.Errorf("graph: JVP: state %d, tangent %d, result %d: lengths must match", len(y), len(v), len(jv))
	}
	chunks, err := d.split(batch)
	if err != nil {
		return err
	}
	n := d.dim
	return run(chunks, func(c *chunk) error {
		u := c.u
		jp, err := u.jvpProgram()
		if err != nil {
			return err
		}
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		u.write(jp.v, v[c.lo*n:c.hi*n])
		if err := jp.fwd.Run(); err != nil {
			return err
		}
		return read(jp.fwd, jp.jv, jv[c.lo*n:c.hi*n])
	})
}

// JVPVJP writes the gradient of w^T (df/dz) v with respect to the state into dy and the
// parameters into dp (NumParams long), and returns its derivative with respect to t.
func (d *Dynamics) JVPVJP(t float64, y, v, w, dy, dp []float64) (float64, error) {
	batch, err := d.batchOf("state", len(y))
	if err != nil {
		return 0, err
	}
	if len(v) != len(y) || len(w) != len(y) || len(dy) != len(y) {
		return 0, errors.Errorf("graph: JVPVJP: state %d, tangent %d, cotangent %d, dy %d: lengths must match", len(y), len(v), len(w), len(dy))
	}
	if len(dp) != d.nparam {
		return 0, errors.Errorf("graph: JVPVJP: dp has length %d, want %d", len(dp), d.nparam)
	}
	chunks, err := d.split(batch)
	if err != nil {
		return 0, err
	}
	n := d.dim
	err = run(chunks, func(c *chunk) error {
		u := c.u
		jp, err := u.jvpProgram()
		if err != nil {
			return err
		}
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		u.write(jp.v, v[c.lo*n:c.hi*n])
		u.write(jp.w, w[c.lo*n:c.hi*n])
		if err := jp.bwd.Run(); err != nil {
			return err
		}
		if err := read(jp.bwd, jp.dz, dy[c.lo*n:c.hi*n]); err != nil {
			return err
		}
		if c.dt, err = readScalar(jp.bwd, jp.dt); err != nil {
			return err
		}
		return u.readParams(jp.bwd, jp.dps, u.paramScratch(dp, len(chunks)))
	})
	if err != nil {
		return 0, err
	}
	return sumChunks(chunks, dp), nil
}
