package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/chewxy/math32"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchMLP is the benchmark dynamics f = tanh(z W1 + b1 + t c) W2 + b2.
func benchMLP(hidden int) BuildFunc {
	return func(s *Scope, t, z *G.Node) (*G.Node, error) {
		d := z.Shape()[1]
		w1, _ := s.Param("w1", []int{d, hidden}, FanIn(d))
		b1, _ := s.Param("b1", []int{hidden}, FanIn(d))
		c, _ := s.Param("c", []int{hidden}, FanIn(d))
		w2, _ := s.Param("w2", []int{hidden, d}, FanIn(hidden))
		b2, err := s.Param("b2", []int{d}, FanIn(hidden))
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
		h, err := G.Mul(z, w1)
		if err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(h, bias, nil, []byte{0}); err != nil {
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

// gonumMLP is the same dynamics and its VJP written by hand on gonum's BLAS with
// preallocated buffers: the reference a compiled program is measured against.
type gonumMLP struct {
	B, D, H           int
	w1, b1, c, w2, b2 []float64
	h, dh             []float64 // [B,H]
	dw1, db1, dc, dw2 []float64
	db2               []float64
}

func newGonumMLP(ps *Params, B, D, H int) *gonumMLP {
	get := func(n string) []float64 { return ps.Value(ps.Lookup(n)) }
	return &gonumMLP{B: B, D: D, H: H, w1: get("w1"), b1: get("b1"), c: get("c"), w2: get("w2"), b2: get("b2"),
		h: make([]float64, B*H), dh: make([]float64, B*H),
		dw1: make([]float64, D*H), db1: make([]float64, H), dc: make([]float64, H), dw2: make([]float64, H*D), db2: make([]float64, D)}
}

func gm(r, c int, d []float64) blas64.General {
	return blas64.General{Rows: r, Cols: c, Stride: c, Data: d}
}

func (m *gonumMLP) forward(t float64, z, f []float64) {
	B, D, H := m.B, m.D, m.H
	for i := 0; i < B; i++ {
		for j := 0; j < H; j++ {
			m.h[i*H+j] = m.b1[j] + t*m.c[j]
		}
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gm(B, D, z), gm(D, H, m.w1), 1, gm(B, H, m.h))
	for i := range m.h {
		m.h[i] = math.Tanh(m.h[i])
	}
	for i := 0; i < B; i++ {
		copy(f[i*D:(i+1)*D], m.b2)
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gm(B, H, m.h), gm(H, D, m.w2), 1, gm(B, D, f))
}

func (m *gonumMLP) vjp(t float64, z, a, f, dz []float64) float64 {
	B, D, H := m.B, m.D, m.H
	m.forward(t, z, f)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, gm(B, H, m.h), gm(B, D, a), 0, gm(H, D, m.dw2))
	for j := range m.db2 {
		m.db2[j] = 0
	}
	for i := 0; i < B; i++ {
		for j := 0; j < D; j++ {
			m.db2[j] += a[i*D+j]
		}
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, gm(B, D, a), gm(H, D, m.w2), 0, gm(B, H, m.dh))
	for i := range m.dh {
		m.dh[i] *= 1 - m.h[i]*m.h[i]
	}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, gm(B, D, z), gm(B, H, m.dh), 0, gm(D, H, m.dw1))
	for j := range m.db1 {
		m.db1[j] = 0
	}
	for i := 0; i < B; i++ {
		for j := 0; j < H; j++ {
			m.db1[j] += m.dh[i*H+j]
		}
	}
	dt := 0.0
	for j := range m.dc {
		m.dc[j] = t * m.db1[j]
		dt += m.db1[j] * m.c[j]
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, gm(B, H, m.dh), gm(D, H, m.w1), 0, gm(B, D, dz))
	return dt
}

// gonumMLP32 is the float32 reference on blas32.
type gonumMLP32 struct {
	B, D, H           int
	w1, b1, c, w2, b2 []float32
	h, dh             []float32
	dw1, db1, dc, dw2 []float32
	db2               []float32
	z, a, f, dz       []float32
}

func newGonumMLP32(ps *Params, B, D, H int) *gonumMLP32 {
	get := func(n string) []float32 {
		v := ps.Value(ps.Lookup(n))
		out := make([]float32, len(v))
		for i := range v {
			out[i] = float32(v[i])
		}
		return out
	}
	return &gonumMLP32{B: B, D: D, H: H, w1: get("w1"), b1: get("b1"), c: get("c"), w2: get("w2"), b2: get("b2"),
		h: make([]float32, B*H), dh: make([]float32, B*H),
		dw1: make([]float32, D*H), db1: make([]float32, H), dc: make([]float32, H), dw2: make([]float32, H*D), db2: make([]float32, D),
		z: make([]float32, B*D), a: make([]float32, B*D), f: make([]float32, B*D), dz: make([]float32, B*D)}
}

func gm32(r, c int, d []float32) blas32.General {
	return blas32.General{Rows: r, Cols: c, Stride: c, Data: d}
}

// forward converts the float64 state as a float32 program does at its boundary.
func (m *gonumMLP32) forward(t float64, z, f []float64) {
	B, D, H := m.B, m.D, m.H
	for i, v := range z {
		m.z[i] = float32(v)
	}
	t32 := float32(t)
	for i := 0; i < B; i++ {
		for j := 0; j < H; j++ {
			m.h[i*H+j] = m.b1[j] + t32*m.c[j]
		}
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gm32(B, D, m.z), gm32(D, H, m.w1), 1, gm32(B, H, m.h))
	for i := range m.h {
		m.h[i] = math32.Tanh(m.h[i]) // the float32 tanh Gorgonia's tensor engine uses
	}
	for i := 0; i < B; i++ {
		copy(m.f[i*D:(i+1)*D], m.b2)
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gm32(B, H, m.h), gm32(H, D, m.w2), 1, gm32(B, D, m.f))
	for i, v := range m.f {
		f[i] = float64(v)
	}
}

func (m *gonumMLP32) vjp(t float64, z, a, f, dz []float64) float64 {
	B, D, H := m.B, m.D, m.H
	m.forward(t, z, f)
	for i, v := range a {
		m.a[i] = float32(v)
	}
	blas32.Gemm(blas.Trans, blas.NoTrans, 1, gm32(B, H, m.h), gm32(B, D, m.a), 0, gm32(H, D, m.dw2))
	for j := range m.db2 {
		m.db2[j] = 0
	}
	for i := 0; i < B; i++ {
		for j := 0; j < D; j++ {
			m.db2[j] += m.a[i*D+j]
		}
	}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, gm32(B, D, m.a), gm32(H, D, m.w2), 0, gm32(B, H, m.dh))
	for i := range m.dh {
		m.dh[i] *= 1 - m.h[i]*m.h[i]
	}
	blas32.Gemm(blas.Trans, blas.NoTrans, 1, gm32(B, D, m.z), gm32(B, H, m.dh), 0, gm32(D, H, m.dw1))
	for j := range m.db1 {
		m.db1[j] = 0
	}
	for i := 0; i < B; i++ {
		for j := 0; j < H; j++ {
			m.db1[j] += m.dh[i*H+j]
		}
	}
	dt := float32(0)
	for j := range m.dc {
		m.dc[j] = float32(t) * m.db1[j]
		dt += m.db1[j] * m.c[j]
	}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, gm32(B, H, m.dh), gm32(D, H, m.w1), 0, gm32(B, D, m.dz))
	for i, v := range m.dz {
		dz[i] = float64(v)
	}
	return float64(dt)
}

// tapeMLP runs the same graph (and its VJP) through Gorgonia's TapeMachine with
// Reset+RunAll: the baseline the compiled programs replace.
type tapeMLP struct {
	m    G.VM
	z, a []float64
	z32  []float32
	a32  []float32
	t64  *G.F64
	t32  *G.F32
}

func newTapeMLP(tb testing.TB, ps *Params, dt tensor.Dtype, B, D, H int, withVJP bool) *tapeMLP {
	g := G.NewGraph()
	s, err := NewScope(g, dt, ps)
	if err != nil {
		tb.Fatal(err)
	}
	tm := &tapeMLP{}
	var tn, z, a *G.Node
	if dt == tensor.Float32 {
		tm.t32, tm.z32, tm.a32 = new(G.F32), make([]float32, B*D), make([]float32, B*D)
		tn = G.NewScalar(g, dt, G.WithName("t"), G.WithValue(tm.t32))
		z = G.NewMatrix(g, dt, G.WithShape(B, D), G.WithName("z"), G.WithValue(tensor.New(tensor.WithShape(B, D), tensor.WithBacking(tm.z32))))
		a = G.NewMatrix(g, dt, G.WithShape(B, D), G.WithName("a"), G.WithValue(tensor.New(tensor.WithShape(B, D), tensor.WithBacking(tm.a32))))
	} else {
		tm.t64, tm.z, tm.a = new(G.F64), make([]float64, B*D), make([]float64, B*D)
		tn = G.NewScalar(g, dt, G.WithName("t"), G.WithValue(tm.t64))
		z = G.NewMatrix(g, dt, G.WithShape(B, D), G.WithName("z"), G.WithValue(tensor.New(tensor.WithShape(B, D), tensor.WithBacking(tm.z))))
		a = G.NewMatrix(g, dt, G.WithShape(B, D), G.WithName("a"), G.WithValue(tensor.New(tensor.WithShape(B, D), tensor.WithBacking(tm.a))))
	}
	f, err := benchMLP(H)(s, tn, z)
	if err != nil {
		tb.Fatal(err)
	}
	nodes, params := s.ParamNodes()
	for i, n := range nodes {
		var v *tensor.Dense
		if dt == tensor.Float32 {
			src := ps.Value(params[i])
			b := make([]float32, len(src))
			for j := range src {
				b[j] = float32(src[j])
			}
			v = tensor.New(tensor.WithShape(params[i].Shape...), tensor.WithBacking(b))
		} else {
			v = tensor.New(tensor.WithShape(params[i].Shape...), tensor.WithBacking(ps.Value(params[i])))
		}
		if err := G.Let(n, v); err != nil {
			tb.Fatal(err)
		}
	}
	if withVJP {
		if _, err := G.Backpropagate(G.Nodes{f}, G.Nodes{a}, append(G.Nodes{z, tn}, nodes...)); err != nil {
			tb.Fatal(err)
		}
	}
	tm.m = G.NewTapeMachine(g)
	return tm
}

func (tm *tapeMLP) run(t float64, z, a []float64) error {
	if tm.t32 != nil {
		*tm.t32 = G.F32(t)
		for i, v := range z {
			tm.z32[i] = float32(v)
		}
		for i, v := range a {
			tm.a32[i] = float32(v)
		}
	} else {
		*tm.t64 = G.F64(t)
		copy(tm.z, z)
		copy(tm.a, a)
	}
	tm.m.Reset()
	return tm.m.RunAll()
}

var benchShapes = []struct{ B, D, H int }{{1, 2, 16}, {64, 2, 64}, {512, 2, 64}, {128, 64, 256}}

// BenchmarkMLP measures the compiled program ("graph"), the hand-written gonum reference
// ("gonum") and Gorgonia's TapeMachine Reset+RunAll ("tape") on the same dynamics, for
// eval and eval+VJP, float64 and float32. Ratios are read from one run of
// `go test -run '^$' -bench MLP -benchmem ./graph/` (see BENCHMARKS.md).
func BenchmarkMLP(b *testing.B) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, sh := range benchShapes {
			for _, mode := range []string{"eval", "vjp"} {
				name := fmt.Sprintf("%s/%v/B=%d,D=%d,H=%d", mode, dt, sh.B, sh.D, sh.H)
				ps := NewParams(rand.New(rand.NewPCG(1, 1)))
				d, err := NewDynamics(benchMLP(sh.H), ps, []int{sh.D}, Options{Dtype: dt, Workers: 1})
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(2, 2))
				n := sh.B * sh.D
				z, a := randVec(rng, n), randVec(rng, n)
				f, dz, dp := make([]float64, n), make([]float64, n), make([]float64, d.NumParams())
				b.Run(name+"/graph", func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						var err error
						if mode == "eval" {
							err = d.Eval(0.3, z, f)
						} else {
							_, err = d.VJP(0.3, z, a, f, dz, dp)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(name+"/gonum", func(b *testing.B) {
					b.ReportAllocs()
					if dt == tensor.Float32 {
						m := newGonumMLP32(ps, sh.B, sh.D, sh.H)
						for i := 0; i < b.N; i++ {
							if mode == "eval" {
								m.forward(0.3, z, f)
							} else {
								m.vjp(0.3, z, a, f, dz)
							}
						}
						return
					}
					m := newGonumMLP(ps, sh.B, sh.D, sh.H)
					for i := 0; i < b.N; i++ {
						if mode == "eval" {
							m.forward(0.3, z, f)
						} else {
							m.vjp(0.3, z, a, f, dz)
						}
					}
				})
				b.Run(name+"/tape", func(b *testing.B) {
					b.ReportAllocs()
					tm := newTapeMLP(b, ps, dt, sh.B, sh.D, sh.H, mode == "vjp")
					for i := 0; i < b.N; i++ {
						if err := tm.run(0.3, z, a); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkWorkers measures the throughput of eval+VJP at (512,2,64) with one and two
// workers (each with its own programs, sharing the parameters read-only).
func BenchmarkWorkers(b *testing.B) {
	for _, w := range []int{1, 2} {
		ps := NewParams(rand.New(rand.NewPCG(1, 1)))
		d, err := NewDynamics(benchMLP(64), ps, []int{2}, Options{Workers: w})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2, 2))
		n := 512 * 2
		z, a := randVec(rng, n), randVec(rng, n)
		f, dz, dp := make([]float64, n), make([]float64, n), make([]float64, d.NumParams())
		b.Run(fmt.Sprintf("vjp/B=512,D=2,H=64/workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := d.VJP(0.3, z, a, f, dz, dp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGonumReferenceMatchesGraph keeps the benchmark honest: the hand-written reference
// computes the same numbers as the compiled program (to float64 rounding).
func TestGonumReferenceMatchesGraph(t *testing.T) {
	ps := NewParams(rand.New(rand.NewPCG(1, 1)))
	B, D, H := 5, 3, 7
	d, err := NewDynamics(benchMLP(H), ps, []int{D}, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	z, a := randVec(rng, B*D), randVec(rng, B*D)
	f1, dz1, dp := make([]float64, B*D), make([]float64, B*D), make([]float64, d.NumParams())
	dt1, err := d.VJP(0.7, z, a, f1, dz1, dp)
	if err != nil {
		t.Fatal(err)
	}
	m := newGonumMLP(ps, B, D, H)
	f2, dz2 := make([]float64, B*D), make([]float64, B*D)
	dt2 := m.vjp(0.7, z, a, f2, dz2)
	want := append(append(append(append(append(append([]float64{}, f2...), dz2...), m.dw1...), m.db1...), m.dc...), m.dw2...)
	want = append(append(want, m.db2...), dt2)
	got := append(append(append([]float64{}, f1...), dz1...), dp...)
	got = append(got, dt1)
	if e := relErr(got, want); e > 1e-14 {
		t.Fatalf("graph and gonum reference differ by %g", e)
	}
}

// bytesPerRun returns the heap bytes allocated per call of run, averaged over n calls
// after a warm-up call.
func bytesPerRun(n int, run func()) float64 {
	run()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for i := 0; i < n; i++ {
		run()
	}
	runtime.ReadMemStats(&b)
	return float64(b.TotalAlloc-a.TotalAlloc) / float64(n)
}

// TestBytesPerRunFloor guards the allocation floor of BENCHMARKS.md, which unlike the
// time ratios does not depend on the machine's load: at B >= 64 a compiled program
// allocates at most 10 % of the bytes Gorgonia's Reset+RunAll allocates per run, for
// eval and eval+VJP in both dtypes (measured 0.4-6.5 %).
func TestBytesPerRunFloor(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, sh := range benchShapes {
			if sh.B < 64 {
				continue
			}
			for _, vjp := range []bool{false, true} {
				ps := NewParams(rand.New(rand.NewPCG(1, 1)))
				d, err := NewDynamics(benchMLP(sh.H), ps, []int{sh.D}, Options{Dtype: dt, Workers: 1})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(2, 2))
				n := sh.B * sh.D
				z, a := randVec(rng, n), randVec(rng, n)
				f, dz, dp := make([]float64, n), make([]float64, n), make([]float64, d.NumParams())
				graphBytes := bytesPerRun(10, func() {
					var err error
					if vjp {
						_, err = d.VJP(0.3, z, a, f, dz, dp)
					} else {
						err = d.Eval(0.3, z, f)
					}
					if err != nil {
						t.Fatal(err)
					}
				})
				tm := newTapeMLP(t, ps, dt, sh.B, sh.D, sh.H, vjp)
				tapeBytes := bytesPerRun(10, func() {
					if err := tm.run(0.3, z, a); err != nil {
						t.Fatal(err)
					}
				})
				r := graphBytes / tapeBytes
				t.Logf("%v B=%d D=%d H=%d vjp=%v: %.0f bytes/run, tape %.0f (%.1f %%)", dt, sh.B, sh.D, sh.H, vjp, graphBytes, tapeBytes, 100*r)
				if r > 0.10 {
					t.Errorf("%v B=%d D=%d H=%d vjp=%v: %.1f %% of the tape's bytes per run, floor 10 %%", dt, sh.B, sh.D, sh.H, vjp, 100*r)
				}
			}
		}
	}
}
