package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// mlpT is f(t, z) = tanh([z, t] W1 + b1) W2 + b2: an MLP with t concatenated to the input.
func mlpT(hidden int) BuildFunc {
	return func(s *Scope, t, z *G.Node) (*G.Node, error) {
		b, d := z.Shape()[0], z.Shape()[1]
		ones := G.NewConstant(tensor.New(tensor.WithShape(b, 1), tensor.WithBacking(onesOf(s.Dtype(), b))))
		tc, err := G.Mul(ones, t)
		if err != nil {
			return nil, err
		}
		x, err := G.Concat(1, z, tc)
		if err != nil {
			return nil, err
		}
		w1, err := s.Param("w1", []int{d + 1, hidden}, FanIn(d+1))
		if err != nil {
			return nil, err
		}
		b1, err := s.Param("b1", []int{hidden}, FanIn(d+1))
		if err != nil {
			return nil, err
		}
		w2, err := s.Param("w2", []int{hidden, d}, FanIn(hidden))
		if err != nil {
			return nil, err
		}
		b2, err := s.Param("b2", []int{d}, FanIn(hidden))
		if err != nil {
			return nil, err
		}
		h, err := G.Mul(x, w1)
		if err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(h, b1, nil, []byte{0}); err != nil {
			return nil, err
		}
		if h, err = G.Tanh(h); err != nil {
			return nil, err
		}
		if h, err = G.Mul(h, w2); err != nil {
			return nil, err
		}
		return G.BroadcastAdd(h, b2, nil, []byte{0})
	}
}

// convT is f(t, z) = tanh(conv3x3([z, t])) on images of C channels: t enters as a
// constant extra channel.
func convT(c, hw int) BuildFunc {
	return func(s *Scope, t, z *G.Node) (*G.Node, error) {
		b := z.Shape()[0]
		ones := G.NewConstant(tensor.New(tensor.WithShape(b, 1, hw, hw), tensor.WithBacking(onesOf(s.Dtype(), b*hw*hw))))
		tc, err := G.Mul(ones, t)
		if err != nil {
			return nil, err
		}
		x, err := G.Concat(1, z, tc)
		if err != nil {
			return nil, err
		}
		k, err := s.Param("kernel", []int{c, c + 1, 3, 3}, FanIn((c+1)*9))
		if err != nil {
			return nil, err
		}
		y, err := G.Conv2d(x, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		return G.Tanh(y)
	}
}

// hyperT is f(t, z) = tanh(z W(t)) U with W(t) = reshape(tanh(t w0 + b0) Wh): the weights
// come from a hypernetwork of t.
func hyperT(d, m, h0 int) BuildFunc {
	return func(s *Scope, t, z *G.Node) (*G.Node, error) {
		w0, err := s.Param("hyper.w0", []int{1, h0}, Normal(1))
		if err != nil {
			return nil, err
		}
		b0, err := s.Param("hyper.b0", []int{1, h0}, Normal(0.5))
		if err != nil {
			return nil, err
		}
		wh, err := s.Param("hyper.wh", []int{h0, d * m}, FanIn(h0))
		if err != nil {
			return nil, err
		}
		u, err := s.Param("u", []int{m, d}, FanIn(m))
		if err != nil {
			return nil, err
		}
		tw, err := G.Mul(w0, t)
		if err != nil {
			return nil, err
		}
		hh, err := G.Add(tw, b0)
		if err != nil {
			return nil, err
		}
		if hh, err = G.Tanh(hh); err != nil {
			return nil, err
		}
		wt, err := G.Mul(hh, wh)
		if err != nil {
			return nil, err
		}
		if wt, err = G.Reshape(wt, []int{d, m}); err != nil {
			return nil, err
		}
		y, err := G.Mul(z, wt)
		if err != nil {
			return nil, err
		}
		if y, err = G.Tanh(y); err != nil {
			return nil, err
		}
		return G.Mul(y, u)
	}
}

func onesOf(dt tensor.Dtype, n int) interface{} {
	if dt == tensor.Float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

type dynCase struct {
	name   string
	build  BuildFunc
	sample []int
	batch  int
	second bool // traces and JVPs (not through Conv2d: Gorgonia cannot differentiate its backward op)
}

var dynCases = []dynCase{
	{"mlp-t", mlpT(8), []int{3}, 4, true},
	{"conv-t", convT(2, 4), []int{2, 4, 4}, 2, false},
	{"hypernet", hyperT(3, 5, 4), []int{3}, 3, true},
	// A batch of one: Gorgonia's tensor ops meet [1, D] shapes that some ops turn into scalars.
	{"mlp-t-batch1", mlpT(6), []int{2}, 1, true},
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdGrad returns the central-difference gradient of fn with respect to x, perturbing x
// in place. With step 1e-5 the truncation error is O(1e-10) relative for these smooth
// functions and the rounding error O(1e-16/1e-5) = 1e-11, far below the 1e-6 asserted.
func fdGrad(x []float64, fn func() float64) []float64 {
	const h = 1e-5
	g := make([]float64, len(x))
	for i := range x {
		x0 := x[i]
		x[i] = x0 + h
		fp := fn()
		x[i] = x0 - h
		fm := fn()
		x[i] = x0
		g[i] = (fp - fm) / (2 * h)
	}
	return g
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

func mustDyn(t *testing.T, c dynCase, dt tensor.Dtype, seed uint64) (*Dynamics, *Params) {
	t.Helper()
	ps := NewParams(rand.New(rand.NewPCG(seed, 7)))
	d, err := NewDynamics(c.build, ps, c.sample, Options{Dtype: dt, Workers: 1})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return d, ps
}

const fdTol = 1e-6 // the bar; see fdGrad for why central differences reach it

func TestVJPAgainstFiniteDifferences(t *testing.T) {
	for _, c := range dynCases {
		t.Run(c.name, func(t *testing.T) {
			d, ps := mustDyn(t, c, tensor.Float64, 1)
			rng := rand.New(rand.NewPCG(3, 4))
			n := c.batch * d.SampleDim()
			y, a := randVec(rng, n), randVec(rng, n)
			tt := 0.37
			f, dy, dp := make([]float64, n), make([]float64, n), make([]float64, d.NumParams())
			dtGot, err := d.VJP(tt, y, a, f, dy, dp)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]float64, n)
			loss := func() float64 {
				if err := d.Eval(tt, y, buf); err != nil {
					t.Fatal(err)
				}
				return dot(a, buf)
			}
			if err := d.Eval(tt, y, buf); err != nil {
				t.Fatal(err)
			}
			if e := relErr(f, buf); e > 1e-15 {
				t.Errorf("VJP's f differs from Eval's by %g", e)
			}
			if e := relErr(dy, fdGrad(y, loss)); e > fdTol {
				t.Errorf("a^T df/dz: relative error %g", e)
			}
			flat := make([]float64, d.NumParams())
			if err := d.GatherParams(flat); err != nil {
				t.Fatal(err)
			}
			// Perturb the parameters through the set's flat slice (what an optimiser does).
			fdp := make([]float64, 0, d.NumParams())
			for _, p := range d.Params() {
				fdp = append(fdp, fdGrad(ps.Value(p), loss)...)
			}
			if e := relErr(dp, fdp); e > fdTol {
				t.Errorf("a^T df/dtheta: relative error %g", e)
			}
			ts := []float64{tt}
			fdt := fdGrad(ts, func() float64 {
				if err := d.Eval(ts[0], y, buf); err != nil {
					t.Fatal(err)
				}
				return dot(a, buf)
			})
			if e := relErr([]float64{dtGot}, fdt); e > fdTol {
				t.Errorf("a^T df/dt = %g, finite differences %g", dtGot, fdt[0])
			}
		})
	}
}

func TestSecondOrderAgainstFiniteDifferences(t *testing.T) {
	for _, c := range dynCases {
		if !c.second {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			d, ps := mustDyn(t, c, tensor.Float64, 2)
			rng := rand.New(rand.NewPCG(5, 6))
			D, B := d.SampleDim(), c.batch
			n := B * D
			y, v, w, e := randVec(rng, n), randVec(rng, n), randVec(rng, n), randVec(rng, n)
			tt := 0.61
			buf := make([]float64, n)
			eval := func(y []float64) []float64 {
				out := make([]float64, n)
				if err := d.Eval(tt, y, out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			// JVP against differences of f along v.
			jv := make([]float64, n)
			if err := d.JVP(tt, y, v, jv); err != nil {
				t.Fatal(err)
			}
			const h = 1e-5
			yp, ym := make([]float64, n), make([]float64, n)
			for i := range y {
				yp[i], ym[i] = y[i]+h*v[i], y[i]-h*v[i]
			}
			fp, fm := eval(yp), eval(ym)
			fdjv := make([]float64, n)
			for i := range fdjv {
				fdjv[i] = (fp[i] - fm[i]) / (2 * h)
			}
			if e := relErr(jv, fdjv); e > fdTol {
				t.Errorf("JVP: relative error %g", e)
			}
			// Exact trace against differences of f along each basis vector.
			exact := make([]float64, B)
			frob := make([]float64, B)
			if err := d.Trace(TraceExact, tt, y, &TraceIO{F: buf, Tr: exact, Frob: frob}); err != nil {
				t.Fatal(err)
			}
			fdtr, fdfr := make([]float64, B), make([]float64, B)
			for i := 0; i < D; i++ {
				copy(yp, y)
				copy(ym, y)
				for b := 0; b < B; b++ {
					yp[b*D+i] += h
					ym[b*D+i] -= h
				}
				fp, fm := eval(yp), eval(ym)
				for b := 0; b < B; b++ {
					fdtr[b] += (fp[b*D+i] - fm[b*D+i]) / (2 * h)
					for j := 0; j < D; j++ { // column i of the Jacobian: df_j/dz_i
						g := (fp[b*D+j] - fm[b*D+j]) / (2 * h)
						fdfr[b] += g * g
					}
				}
			}
			if e := relErr(exact, fdtr); e > fdTol {
				t.Errorf("exact trace %v, finite differences %v (rel %g)", exact, fdtr, e)
			}
			if e := relErr(frob, fdfr); e > fdTol {
				t.Errorf("exact Frobenius %v, finite differences %v (rel %g)", frob, fdfr, e)
			}
			// Hutchinson e^T J e against differences along e.
			hut := make([]float64, B)
			if err := d.Trace(TraceHutchinson, tt, y, &TraceIO{Probe: e, Tr: hut}); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				yp[i], ym[i] = y[i]+h*e[i], y[i]-h*e[i]
			}
			fp, fm = eval(yp), eval(ym)
			fdh := make([]float64, B)
			for b := 0; b < B; b++ {
				for j := 0; j < D; j++ {
					fdh[b] += e[b*D+j] * (fp[b*D+j] - fm[b*D+j]) / (2 * h)
				}
			}
			if e := relErr(hut, fdh); e > fdTol {
				t.Errorf("Hutchinson %v, finite differences %v (rel %g)", hut, fdh, e)
			}

			// Gradients of the scalar a.f + c.tr + q.frob for both modes, and of w.Jv,
			// against finite differences of the (exactly computed) forward quantities.
			a, ctr, cfr := randVec(rng, n), randVec(rng, B), randVec(rng, B)
			for _, mode := range []TraceMode{TraceExact, TraceHutchinson} {
				probe := e
				if mode == TraceExact {
					probe = nil
				}
				io := &TraceIO{Probe: probe, A: a, CTr: ctr, CFrob: cfr, DY: make([]float64, n), DP: make([]float64, d.NumParams())}
				dtGot, err := d.TraceVJP(mode, tt, y, io)
				if err != nil {
					t.Fatal(err)
				}
				ts := []float64{tt}
				scalarFn := func() float64 {
					out := &TraceIO{Probe: probe, F: buf, Tr: make([]float64, B), Frob: make([]float64, B)}
					if err := d.Trace(mode, ts[0], y, out); err != nil {
						t.Fatal(err)
					}
					return dot(a, out.F) + dot(ctr, out.Tr) + dot(cfr, out.Frob)
				}
				if e := relErr(io.DY, fdGrad(y, scalarFn)); e > fdTol {
					t.Errorf("%v trace VJP w.r.t. z: relative error %g", mode, e)
				}
				var fdp []float64
				for _, p := range d.Params() {
					fdp = append(fdp, fdGrad(ps.Value(p), scalarFn)...)
				}
				if e := relErr(io.DP, fdp); e > fdTol {
					t.Errorf("%v trace VJP w.r.t. theta: relative error %g", mode, e)
				}
				if e := relErr([]float64{dtGot}, fdGrad(ts, scalarFn)); e > fdTol {
					t.Errorf("%v trace VJP w.r.t. t: relative error %g", mode, e)
				}
			}
			dy, dp := make([]float64, n), make([]float64, d.NumParams())
			dtGot, err := d.JVPVJP(tt, y, v, w, dy, dp)
			if err != nil {
				t.Fatal(err)
			}
			ts := []float64{tt}
			jvFn := func() float64 {
				out := make([]float64, n)
				if err := d.JVP(ts[0], y, v, out); err != nil {
					t.Fatal(err)
				}
				return dot(w, out)
			}
			if e := relErr(dy, fdGrad(y, jvFn)); e > fdTol {
				t.Errorf("JVP's VJP w.r.t. z: relative error %g", e)
			}
			var fdp []float64
			for _, p := range d.Params() {
				fdp = append(fdp, fdGrad(ps.Value(p), jvFn)...)
			}
			if e := relErr(dp, fdp); e > fdTol {
				t.Errorf("JVP's VJP w.r.t. theta: relative error %g", e)
			}
			if e := relErr([]float64{dtGot}, fdGrad(ts, jvFn)); e > fdTol {
				t.Errorf("JVP's VJP w.r.t. t: relative error %g", e)
			}
		})
	}
}
