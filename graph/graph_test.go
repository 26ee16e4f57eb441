package graph

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestFloat32MatchesFloat64 runs each dynamics in a float32 and a float64 graph over the
// same parameters and inputs, for every program graph/ builds: the VJP and, where the
// case supports second order, the JVP, the exact trace and Frobenius norm, the
// Hutchinson estimate, and the VJPs of both traces and of the JVP. The float64 results
// are the reference (their own accuracy, 1e-6 against finite differences, is tested in
// dynamics_test.go).
//
// Tolerance: float32 rounds to eps = 2^-24 = 6e-8. These graphs chain a few dozen
// roundings of O(1) values (the inputs are rounded to float32 on entry too); the measured
// relErr (a 2-norm ratio) is at most 4.9e-7 (~8 eps, the VJP's dt) and at most 3.5e-7
// for the second-order programs, whose extra length is offset by their smaller values.
// The bar of 2e-5 (~300 eps) leaves a factor of 40 for the -tags openblas build, whose
// float32 GEMM sums in another order, and is still far below what a wrong program shows
// (an error in any term is of the size of that term, O(0.1) of these O(1) quantities).
func TestFloat32MatchesFloat64(t *testing.T) {
	const tol = 2e-5
	for _, c := range dynCases {
		t.Run(c.name, func(t *testing.T) {
			d64, ps := mustDyn(t, c, tensor.Float64, 9)
			d32, err := NewDynamics(c.build, ps, c.sample, Options{Dtype: tensor.Float32, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			in := newProgramInputs(rand.New(rand.NewPCG(1, 1)), c, d64.SampleDim(), 0.4)
			r64, r32 := runAllPrograms(t, d64, c, in), runAllPrograms(t, d32, c, in)
			for i := range r64 {
				e := relErr(r32[i].vals, r64[i].vals)
				t.Logf("%-24s float32 vs float64 relative difference %.2e", r64[i].name, e)
				if e > tol {
					t.Errorf("%s: float32 vs float64 relative difference %g > %g", r64[i].name, e, tol)
				}
			}
		})
	}
}

// TestWorkersMatchOneWorker splits a batch of 7 across 3 workers, for every dynamics and
// every program (f, VJP, and where the case has them JVP, JVPVJP, both traces and their
// VJPs): the per-sample results are identical to one worker's, and the parameter and
// time gradients, summed over the chunks in another order, agree to rounding (1e-13
// relative: a few additions of O(1) terms in another order).
func TestWorkersMatchOneWorker(t *testing.T) {
	for _, c := range dynCases {
		t.Run(c.name, func(t *testing.T) {
			c.batch = 7
			d1, ps := mustDyn(t, c, tensor.Float64, 3)
			d3, err := NewDynamics(c.build, ps, c.sample, Options{Workers: 3, MinChunk: 2})
			if err != nil {
				t.Fatal(err)
			}
			in := newProgramInputs(rand.New(rand.NewPCG(2, 2)), c, d1.SampleDim(), 0.2)
			r1, r3 := runAllPrograms(t, d1, c, in), runAllPrograms(t, d3, c, in)
			for i := range r1 {
				e := relErr(r3[i].vals, r1[i].vals)
				summed := strings.HasSuffix(r1[i].name, " dp") || strings.HasSuffix(r1[i].name, " dt")
				if (!summed && e != 0) || e > 1e-13 {
					t.Errorf("%s differs across workers: relative %g", r1[i].name, e)
				}
			}
			if got := len(d3.chunks); got != 3 {
				t.Errorf("batch of 7 with MinChunk 2 used %d workers, want 3", got)
			}
		})
	}
}

// programInputs are the random inputs of every program of a dynamics.
type programInputs struct {
	t             float64
	y, a, v, w, e []float64 // state, cotangent, JVP tangent, its cotangent, Hutchinson probe
	ctr, cfr      []float64 // cotangents of the per-sample trace and Frobenius norm
}

func newProgramInputs(rng *rand.Rand, c dynCase, sampleDim int, t float64) programInputs {
	n := c.batch * sampleDim
	return programInputs{t: t, y: randVec(rng, n), a: randVec(rng, n), v: randVec(rng, n), w: randVec(rng, n),
		e: randVec(rng, n), ctr: randVec(rng, c.batch), cfr: randVec(rng, c.batch)}
}

// namedResult is one output of one program.
type namedResult struct {
	name string
	vals []float64
}

// runAllPrograms runs every program of d on in and returns the results, named.
func runAllPrograms(t *testing.T, d *Dynamics, c dynCase, in programInputs) []namedResult {
	t.Helper()
	B, n, np, tt := c.batch, len(in.y), d.NumParams(), in.t
	f, dy, dp := make([]float64, n), make([]float64, n), make([]float64, np)
	fe := make([]float64, n)
	if err := d.Eval(tt, in.y, fe); err != nil {
		t.Fatal(err)
	}
	dt, err := d.VJP(tt, in.y, in.a, f, dy, dp)
	if err != nil {
		t.Fatal(err)
	}
	res := []namedResult{{"Eval", fe}, {"VJP f", f}, {"VJP dy", dy}, {"VJP dp", dp}, {"VJP dt", []float64{dt}}}
	if !c.second {
		return res
	}
	jv := make([]float64, n)
	if err := d.JVP(tt, in.y, in.v, jv); err != nil {
		t.Fatal(err)
	}
	res = append(res, namedResult{"JVP", jv})
	jdy, jdp := make([]float64, n), make([]float64, np)
	jdt, err := d.JVPVJP(tt, in.y, in.v, in.w, jdy, jdp)
	if err != nil {
		t.Fatal(err)
	}
	res = append(res, namedResult{"JVPVJP dy", jdy}, namedResult{"JVPVJP dp", jdp}, namedResult{"JVPVJP dt", []float64{jdt}})
	for _, mode := range []TraceMode{TraceExact, TraceHutchinson} {
		var probe []float64
		if mode == TraceHutchinson {
			probe = in.e
		}
		fw := &TraceIO{Probe: probe, Tr: make([]float64, B), Frob: make([]float64, B)}
		if err := d.Trace(mode, tt, in.y, fw); err != nil {
			t.Fatal(err)
		}
		bw := &TraceIO{Probe: probe, A: in.a, CTr: in.ctr, CFrob: in.cfr, DY: make([]float64, n), DP: make([]float64, np)}
		tdt, err := d.TraceVJP(mode, tt, in.y, bw)
		if err != nil {
			t.Fatal(err)
		}
		m := mode.String()
		res = append(res, namedResult{m + " trace", fw.Tr}, namedResult{m + " frobenius", fw.Frob},
			namedResult{m + " TraceVJP dy", bw.DY}, namedResult{m + " TraceVJP dp", bw.DP}, namedResult{m + " TraceVJP dt", []float64{tdt}})
	}
	return res
}

// TestRepeatedRunsIdentical guards the persistent buffers: an op that accumulates into
// its buffer, or a buffer aliasing an input, would make the second run differ from the first.
func TestRepeatedRunsIdentical(t *testing.T) {
	for _, c := range dynCases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := mustDyn(t, c, tensor.Float64, 4)
			rng := rand.New(rand.NewPCG(8, 8))
			n := c.batch * d.SampleDim()
			y, a, v := randVec(rng, n), randVec(rng, n), randVec(rng, n)
			var first []float64
			for run := 0; run < 3; run++ {
				dy, dp := make([]float64, n), make([]float64, d.NumParams())
				if _, err := d.VJP(0.1, y, a, nil, dy, dp); err != nil {
					t.Fatal(err)
				}
				res := append(dy, dp...)
				if c.second {
					jv, tr := make([]float64, n), make([]float64, c.batch)
					if err := d.JVP(0.1, y, v, jv); err != nil {
						t.Fatal(err)
					}
					if err := d.Trace(TraceExact, 0.1, y, &TraceIO{Tr: tr}); err != nil {
						t.Fatal(err)
					}
					res = append(append(res, jv...), tr...)
				}
				if run == 0 {
					first = res
				} else if e := relErr(res, first); e != 0 {
					t.Fatalf("run %d differs from run 0 by %g", run, e)
				}
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	c := dynCases[0]
	d, _ := mustDyn(t, c, tensor.Float64, 5)
	D := d.SampleDim()
	good := make([]float64, 2*D)
	np := make([]float64, d.NumParams())
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"eval state not a multiple", func() error { return d.Eval(0, make([]float64, D+1), make([]float64, D+1)) }, "multiple"},
		{"eval empty state", func() error { return d.Eval(0, nil, nil) }, "multiple"},
		{"eval short output", func() error { return d.Eval(0, good, make([]float64, D)) }, "output"},
		{"vjp short cotangent", func() error {
			_, err := d.VJP(0, good, make([]float64, D), nil, make([]float64, 2*D), np)
			return err
		}, "cotangent"},
		{"vjp short dp", func() error {
			_, err := d.VJP(0, good, good, nil, make([]float64, 2*D), np[1:])
			return err
		}, "NumParams"},
		{"trace without probe", func() error {
			return d.Trace(TraceHutchinson, 0, good, &TraceIO{Tr: make([]float64, 2)})
		}, "Probe"},
		{"trace bad mode", func() error { return d.Trace(TraceMode(9), 0, good, &TraceIO{}) }, "mode"},
		{"trace short Tr", func() error { return d.Trace(TraceExact, 0, good, &TraceIO{Tr: make([]float64, 3)}) }, "Tr"},
		{"jvp short tangent", func() error { return d.JVP(0, good, good[:D], good) }, "tangent"},
		{"accumulate wrong length", func() error { return d.AccumulateGrad(np[1:]) }, "length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestBadBuilders: shape and dtype mistakes inside a user's graph come back as errors
// naming what is wrong (the node's shape or dtype, the parameter), never as a panic.
// Every expected substring is specific to its case (shapes, names, the check that
// fired), so a builder error of another kind fails the case.
func TestBadBuilders(t *testing.T) {
	cases := []struct {
		name  string
		build BuildFunc
		want  []string // all must appear in the error
	}{
		{"wrong output shape", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			w, err := s.Param("w", []int{3, 4}, FanIn(3))
			if err != nil {
				return nil, err
			}
			return G.Mul(z, w)
		}, []string{"the dynamics returned shape (1, 4) for a state of shape (1, 3)"}},
		{"output without the batch axis", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			return G.Sum(z, 0)
		}, []string{"returned shape (3) for a batch of 1: the first axis must be the batch"}},
		{"mismatched matmul", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			w, err := s.Param("w", []int{5, 3}, FanIn(5))
			if err != nil {
				return nil, err
			}
			return G.Mul(z, w)
		}, []string{`building the dynamics for z of shape (1, 3) (parameters requested: "w" [5 3])`, "Inner dimensions do not match"}},
		{"float32 constant in a float64 graph", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			return G.Mul(z, G.NewConstant(float32(2)))
		}, []string{"building the dynamics for z of shape (1, 3) (no parameters requested)", "float32 ~ float64"}},
		{"float32 result in a float64 graph", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			return G.NewConstant(tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{1, 2, 3}))), nil
		}, []string{"the dynamics returned dtype float32 in a float64 graph"}},
		{"parameter shape conflict", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			if _, err := s.Param("w", []int{3, 3}, nil); err != nil {
				return nil, err
			}
			return s.Param("w", []int{3, 4}, nil)
		}, []string{`parameter "w" has shape [3 3], requested [3 4]`}},
		{"initialiser of the wrong length", func(s *Scope, _, z *G.Node) (*G.Node, error) {
			b, err := s.Param("bias", []int{3}, Values(1))
			if err != nil {
				return nil, err
			}
			return G.Add(z, b)
		}, []string{`initialising parameter "bias" of shape [3]`, "Values has 1 values for shape [3] (3 elements)"}},
		{"nil result", func(s *Scope, _, z *G.Node) (*G.Node, error) { return nil, nil }, []string{"the dynamics builder returned a nil node"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDynamics(tc.build, NewParams(nil), []int{3}, Options{})
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := NewDynamics(mlpT(3), NewParams(nil), []int{3}, Options{Dtype: tensor.Int}); err == nil || !strings.Contains(err.Error(), "unsupported dtype int") {
		t.Errorf("an int graph: error %v, want unsupported dtype int", err)
	}
	if _, err := NewDynamics(mlpT(3), NewParams(nil), []int{0}, Options{}); err == nil || !strings.Contains(err.Error(), "invalid sample shape [0]") {
		t.Errorf("a zero sample shape: error %v, want invalid sample shape [0]", err)
	}
}

// TestProgramAllocationsFlat: what a run allocates does not grow with the number of runs
// (persistent buffers, nothing retained per run).
func TestProgramAllocationsFlat(t *testing.T) {
	d, _ := mustDyn(t, dynCase{"mlp", mlpT(16), []int{2}, 8, true}, tensor.Float64, 6)
	rng := rand.New(rand.NewPCG(1, 9))
	y, a := randVec(rng, 16), randVec(rng, 16)
	dydt, dy, dp := make([]float64, 16), make([]float64, 16), make([]float64, d.NumParams())
	eval := func() {
		if err := d.Eval(0.5, y, dydt); err != nil {
			t.Fatal(err)
		}
	}
	vjp := func() {
		if _, err := d.VJP(0.5, y, a, nil, dy, dp); err != nil {
			t.Fatal(err)
		}
	}
	bytesPerRun := func(f func(), n int) float64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := 0; i < n; i++ {
			f()
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
	}
	for _, fn := range []struct {
		name string
		f    func()
	}{{"eval", eval}, {"vjp", vjp}} {
		fn.f()
		early := bytesPerRun(fn.f, 200)
		bytesPerRun(fn.f, 2000)
		late := bytesPerRun(fn.f, 200)
		// Gorgonia's ops draw some scratch from sync.Pools that a GC may empty, so the
		// average wobbles by a few per cent; a leak would grow it without bound.
		if late > 1.2*early+64 {
			t.Errorf("%s: bytes per run grew from %.0f to %.0f", fn.name, early, late)
		}
		t.Logf("%s: %.0f bytes per run", fn.name, late)
	}
}
