package adjoint

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

const linN = 4

// linearRow is dz/dt = z M for a row vector z: in column form dz/dt = M^T z.
func linearRow(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
	m, err := s.Param("M", []int{linN, linN}, graph.Uniform(0.8))
	if err != nil {
		return nil, err
	}
	return G.Mul(z, m)
}

// vanLoan returns the Frechet derivative of the matrix exponential at X in direction E:
// the top-right block of exp([[X, E], [0, X]]).
func vanLoan(x, e *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	blk := mat.NewDense(2*n, 2*n, nil)
	blk.Slice(0, n, 0, n).(*mat.Dense).Copy(x)
	blk.Slice(n, 2*n, n, 2*n).(*mat.Dense).Copy(x)
	blk.Slice(0, n, n, 2*n).(*mat.Dense).Copy(e)
	var ex mat.Dense
	ex.Exp(blk)
	return mat.DenseCopyOf(ex.Slice(0, n, n, 2*n))
}

// TestMatrixExponentialGradient: for dz/dt = A z (A = M^T the parameter) and
// L = sum_i z_i(T), the exact gradients are dL/dz0 = exp(A T)^T 1 and
// dL/dA = T L_exp(A^T T, 1 z0^T) (the adjoint of the Frechet derivative, by Van Loan's
// block-matrix trick with gonum's mat.Exp). Backsolve and Checkpointed at rtol 1e-10
// match to 1e-6 relative (the solver's global error at that tolerance is ~1e-9).
func TestMatrixExponentialGradient(t *testing.T) {
	d, ps := newDyn(t, linearRow, []int{linN}, 3)
	M := mat.NewDense(linN, linN, append([]float64(nil), ps.Value(ps.Lookup("M"))...))
	rng := rand.New(rand.NewPCG(1, 2))
	z0 := randVec(rng, linN)
	const T = 1.5
	ones := make([]float64, linN)
	for i := range ones {
		ones[i] = 1
	}
	// dL/dz0 = exp(A T)^T 1 = exp(M T) 1.
	var mt, ex mat.Dense
	mt.Scale(T, M)
	ex.Exp(&mt)
	var wantY0 mat.VecDense
	wantY0.MulVec(&ex, mat.NewVecDense(linN, ones))
	// dL/dA = T L_exp(A^T T, 1 z0^T), A^T = M; dL/dM = (dL/dA)^T.
	e := mat.NewDense(linN, linN, nil)
	e.Outer(1, mat.NewVecDense(linN, ones), mat.NewVecDense(linN, z0))
	gA := vanLoan(&mt, e)
	gA.Scale(T, gA)
	wantM := mat.DenseCopyOf(gA.T())
	for _, m := range []Method{Backsolve, Checkpointed} {
		t.Run(m.String(), func(t *testing.T) {
			tp, err := Forward(d, z0, []float64{0, T}, Options{Method: m, Solver: odeint.Options{RTol: 1e-10, ATol: 1e-12}})
			if err != nil {
				t.Fatal(err)
			}
			g, err := tp.Backward([][]float64{nil, ones})
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(g.Y0, wantY0.RawVector().Data); e > 1e-6 {
				t.Errorf("dL/dz0 relative error %g", e)
			}
			if e := relErr(g.Params, wantM.RawMatrix().Data); e > 1e-6 {
				t.Errorf("dL/dM relative error %g", e)
			}
		})
	}
}

// rkMatrix applies one step of method m to the matrix ODE dY/dt = X Y from Y = I with
// step h: the method's stability function R(hX), for any square X (also a block matrix).
func rkMatrix(m *odeint.Method, x *mat.Dense, h float64) *mat.Dense {
	n, _ := x.Dims()
	s := len(m.B)
	ks := make([]*mat.Dense, s)
	id := mat.NewDiagDense(n, nil)
	for i := 0; i < n; i++ {
		id.SetDiag(i, 1)
	}
	for i := 0; i < s; i++ {
		y := mat.DenseCopyOf(id)
		if i < len(m.A) {
			for j, a := range m.A[i] {
				if a != 0 {
					var t mat.Dense
					t.Scale(h*a, ks[j])
					y.Add(y, &t)
				}
			}
		}
		ks[i] = new(mat.Dense)
		ks[i].Mul(x, y)
	}
	y := mat.DenseCopyOf(id)
	for i, b := range m.B {
		if b != 0 {
			var t mat.Dense
			t.Scale(h*b, ks[i])
			y.Add(y, &t)
		}
	}
	return y
}

// TestDirectIsExactDiscreteGradient: on dz/dt = A z the discrete solution is
// z_N = R(h_N A) ... R(h_1 A) z0 with R the method's stability polynomial, so the exact
// gradient of L = 1^T z_N in direction E is 1^T D[prod](E) z0, the top-right block of the
// same product over the block matrices [[hA, hE], [0, hA]], and dL/dz0 = (R ... R)^T 1.
// Direct must match both to rounding (1e-9 and 1e-12 asserted; the two computations
// differ only in the order of operations),
// for fixed RK4 steps and for Dopri5's adaptive steps.
func TestDirectIsExactDiscreteGradient(t *testing.T) {
	d, ps := newDyn(t, linearRow, []int{linN}, 4)
	A := mat.DenseCopyOf(mat.NewDense(linN, linN, ps.Value(ps.Lookup("M"))).T())
	rng := rand.New(rand.NewPCG(3, 4))
	z0 := randVec(rng, linN)
	ones := make([]float64, linN)
	for i := range ones {
		ones[i] = 1
	}
	for _, tc := range []struct {
		name string
		opt  odeint.Options
	}{
		{"rk4", odeint.Options{Method: odeint.RK4, Step: 0.1}},
		{"dopri5", odeint.Options{Method: odeint.Dopri5, RTol: 1e-5, ATol: 1e-7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := Forward(d, z0, []float64{0, 2}, Options{Method: Direct, Solver: tc.opt})
			if err != nil {
				t.Fatal(err)
			}
			g, err := tp.Backward([][]float64{nil, ones})
			if err != nil {
				t.Fatal(err)
			}
			hs := tp.rec.h
			want := make([]float64, linN*linN) // dL/dA_ij, then transposed to dL/dM
			for i := 0; i < linN; i++ {
				for j := 0; j < linN; j++ {
					prod := mat.NewDense(2*linN, 2*linN, nil)
					for k := 0; k < 2*linN; k++ {
						prod.Set(k, k, 1)
					}
					for _, h := range hs {
						blk := mat.NewDense(2*linN, 2*linN, nil)
						blk.Slice(0, linN, 0, linN).(*mat.Dense).Copy(A)
						blk.Slice(linN, 2*linN, linN, 2*linN).(*mat.Dense).Copy(A)
						blk.Set(i, linN+j, 1)
						var next mat.Dense
						next.Mul(rkMatrix(tc.opt.Method, blk, h), prod)
						prod = &next
					}
					dz := mat.NewVecDense(linN, nil)
					dz.MulVec(prod.Slice(0, linN, linN, 2*linN), mat.NewVecDense(linN, z0))
					want[j*linN+i] = mat.Sum(dz) // dL/dM_ji = dL/dA_ij
				}
			}
			if e := relErr(g.Params, want); e > 1e-9 {
				t.Errorf("dL/dM relative error %g against the discrete solution's exact gradient", e)
			}
			// dL/dz0 = (R(h_N A) ... R(h_1 A))^T 1.
			prod := mat.NewDense(linN, linN, nil)
			for k := 0; k < linN; k++ {
				prod.Set(k, k, 1)
			}
			for _, h := range hs {
				var next mat.Dense
				next.Mul(rkMatrix(tc.opt.Method, A, h), prod)
				prod = &next
			}
			var wantY0 mat.VecDense
			wantY0.MulVec(prod.T(), mat.NewVecDense(linN, ones))
			if e := relErr(g.Y0, wantY0.RawVector().Data); e > 1e-12 {
				t.Errorf("dL/dz0 relative error %g against the discrete solution's exact gradient", e)
			}
			t.Logf("%d steps, relative error %.2g", len(hs), relErr(g.Params, want))
		})
	}
}

// torchdiffeq's gradient problems, written by hand with their analytic VJPs.
func constantODE() *goDyn { // f = a + (y - (a t + b))^5, theta = (a, b)
	return &goDyn{theta: []float64{0.2, 3},
		f: func(t float64, y, th, d []float64) { u := y[0] - (th[0]*t + th[1]); d[0] = th[0] + math.Pow(u, 5) },
		vjp: func(t float64, y, th, a, dy, dp []float64) float64 {
			u := y[0] - (th[0]*t + th[1])
			u4 := 5 * math.Pow(u, 4)
			dy[0] = a[0] * u4
			dp[0] = a[0] * (1 - u4*t)
			dp[1] = -a[0] * u4
			return -a[0] * u4 * th[0]
		}}
}

func sineODE() *goDyn { // f = 2y/t + t^4 sin 2t - t^2 + 4t^3
	return &goDyn{
		f: func(t float64, y, _, d []float64) {
			d[0] = 2*y[0]/t + math.Pow(t, 4)*math.Sin(2*t) - t*t + 4*t*t*t
		},
		vjp: func(t float64, y, _, a, dy, _ []float64) float64 {
			dy[0] = a[0] * 2 / t
			return a[0] * (-2*y[0]/(t*t) + 4*t*t*t*math.Sin(2*t) + 2*math.Pow(t, 4)*math.Cos(2*t) - 2*t + 12*t*t)
		}}
}

func expODE() *goDyn { // f = -0.1 exp(-0.1 t)
	return &goDyn{
		f:   func(t float64, _, _, d []float64) { d[0] = -0.1 * math.Exp(-0.1*t) },
		vjp: func(t float64, _, _, a, dy, _ []float64) float64 { dy[0] = 0; return a[0] * 0.01 * math.Exp(-0.1*t) },
	}
}

func linearODE(rng *rand.Rand) *goDyn { // f = A y, A 10x10 skew-symmetric of scale 0.1
	const n = 10
	th := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			v := 0.1 * rng.NormFloat64()
			th[i*n+j], th[j*n+i] = v, -v
		}
	}
	return &goDyn{theta: th,
		f: func(_ float64, y, th, d []float64) {
			for i := 0; i < n; i++ {
				s := 0.0
				for j := 0; j < n; j++ {
					s += th[i*n+j] * y[j]
				}
				d[i] = s
			}
		},
		vjp: func(_ float64, y, th, a, dy, dp []float64) float64 {
			for j := 0; j < n; j++ {
				s := 0.0
				for i := 0; i < n; i++ {
					s += th[i*n+j] * a[i]
					dp[i*n+j] = a[i] * y[j]
				}
				dy[j] = s
			}
			return 0
		}}
}

// TestAdjointAgreesWithDirect reproduces torchdiffeq's adjoint-versus-direct gradient
// tests (dopri5, rtol 1e-9, atol 1e-12, random cotangents at t = linspace(1, 8, 10)) with
// bounds ten times tighter than torchdiffeq asserts (../shared/notes/anchors.md):
// constant 1e-12 -> 1e-13, linear 1e-5 -> 1e-6, sine 5e-3 -> 5e-4, exp 1e-2 -> 1e-3, and
// the spiral at default tolerances y0 3e-4 -> 3e-5, t 1e-4 -> 1e-5, A 2e-3 -> 2e-4.
// Both the relative 2-norm error and torchdiffeq's own measure, the largest absolute
// difference, are held to these bounds.
func TestAdjointAgreesWithDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	tight := odeint.Options{RTol: 1e-9, ATol: 1e-12}
	ts := linspace(1, 8, 10)
	cases := []struct {
		name             string
		f                Dynamics
		y0, ts           []float64
		opt              odeint.Options
		tolY, tolT, tolP float64
	}{
		{"constant", constantODE(), []float64{3.2}, ts, tight, 1e-13, 1e-13, 1e-13},
		{"linear", linearODE(rng), randVec(rng, 10), ts, tight, 1e-6, 1e-6, 1e-6},
		{"sine", sineODE(), []float64{-math.Cos(2)/2 + math.Sin(2)/2 + math.Cos(2)/4 - 1 + 2 + (math.Pi - 0.25)}, ts, tight, 5e-4, 5e-4, 5e-4},
		{"exp", expODE(), []float64{math.Exp(-0.1)}, ts, tight, 1e-3, 1e-3, 1e-3},
	}
	sd, _ := newDyn(t, spiral, []int{2}, 1)
	cases = append(cases, struct {
		name             string
		f                Dynamics
		y0, ts           []float64
		opt              odeint.Options
		tolY, tolT, tolP float64
	}{"spiral", sd, []float64{2, 0}, linspace(0, 25, 10), odeint.Options{}, 3e-5, 1e-5, 2e-4})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := make([][]float64, len(tc.ts))
			for i := range c {
				c[i] = randVec(rng, len(tc.y0))
			}
			grads := map[Method]*Gradients{}
			for _, m := range []Method{Backsolve, Direct} {
				tp, err := Forward(tc.f, tc.y0, tc.ts, Options{Method: m, Solver: tc.opt})
				if err != nil {
					t.Fatal(err)
				}
				if grads[m], err = tp.Backward(c); err != nil {
					t.Fatal(err)
				}
			}
			a, d := grads[Backsolve], grads[Direct]
			if e := relErr(a.Y0, d.Y0); e > tc.tolY {
				t.Errorf("dL/dy0: adjoint vs direct %g > %g", e, tc.tolY)
			}
			if e := relErr(a.T, d.T); e > tc.tolT {
				t.Errorf("dL/dt: adjoint vs direct %g > %g", e, tc.tolT)
			}
			if len(a.Params) > 0 {
				if e := relErr(a.Params, d.Params); e > tc.tolP {
					t.Errorf("dL/dtheta: adjoint vs direct %g > %g", e, tc.tolP)
				}
			}
			// torchdiffeq's own metric: the largest absolute difference, same bounds.
			for _, cmp := range []struct {
				name string
				x, y []float64
				tol  float64
			}{{"dL/dy0", a.Y0, d.Y0, tc.tolY}, {"dL/dt", a.T, d.T, tc.tolT}, {"dL/dtheta", a.Params, d.Params, tc.tolP}} {
				if e := maxAbsDiff(cmp.x, cmp.y); e > cmp.tol {
					t.Errorf("%s: adjoint vs direct, largest absolute difference %g > %g", cmp.name, e, cmp.tol)
				}
			}
			t.Logf("relative: y0 %.2g, t %.2g, theta %.2g; largest absolute: y0 %.2g, t %.2g, theta %.2g",
				relErr(a.Y0, d.Y0), relErr(a.T, d.T), relErr(a.Params, d.Params),
				maxAbsDiff(a.Y0, d.Y0), maxAbsDiff(a.T, d.T), maxAbsDiff(a.Params, d.Params))
		})
	}
}

// TestDiscreteTimeGradients: Direct and Checkpointed differentiate the discrete solve,
// and that includes the output times: with fixed steps (the grid t_0 + k h, the last
// step ending on t_N), the loss of the discrete outputs is a smooth function of every
// t_i, and central differences of it (step 1e-6: truncation ~1e-12, rounding
// ~1e-16/1e-6 = 1e-10 relative) must match dL/dt_i, dL/dz0 and dL/dtheta to 1e-7. The
// step 0.3 is coarse on purpose: the time derivative of an interpolated output then
// differs from f(t_i, z_i) by up to ~1e-2 relative (logged: Midpoint 7.8e-3, RK4 1e-4),
// which the continuous-flow formula dL/dz_i . f(t_i, z_i) would report as the gradient. The outputs fall inside steps and on a step end (0.6); the dynamics are
// non-autonomous (t enters f); both time directions; methods with their own
// interpolants (Dopri5, Dopri8 with its extra stages) and with cubic Hermite (RK4,
// Midpoint).
func TestDiscreteTimeGradients(t *testing.T) {
	d, ps := newDyn(t, mlp(8), []int{3}, 5)
	rng := rand.New(rand.NewPCG(5, 6))
	y0 := []float64{0.5, -1, 0.3}
	for _, ts := range [][]float64{{0, 0.45, 0.6, 1.3, 1.75}, {1.75, 1.3, 0.6, 0.45, 0}} {
		c := make([][]float64, len(ts))
		for i := range c {
			c[i] = randVec(rng, 3)
		}
		for _, m := range []*odeint.Method{odeint.RK4, odeint.Midpoint, odeint.Dopri5, odeint.Dopri8} {
			sopt := odeint.Options{Method: m, Step: 0.3}
			fy0, fdp, fdt := fdGradients(t, d, ps, append([]float64(nil), y0...), append([]float64(nil), ts...), c, sopt, 1e-6)
			for _, gm := range []Method{Direct, Checkpointed} {
				tp, err := Forward(d, y0, ts, Options{Method: gm, Solver: sopt, CheckpointEvery: 2})
				if err != nil {
					t.Fatal(err)
				}
				g, err := tp.Backward(c)
				if err != nil {
					t.Fatal(err)
				}
				name := m.Name + "/" + gm.String()
				if ts[0] > ts[1] {
					name += "/reverse"
				}
				const tol = 1e-7
				if e := relErr(g.T, fdt); e > tol {
					t.Errorf("%s: dL/dt %v, finite differences %v (rel %g)", name, g.T, fdt, e)
				}
				if e := relErr(g.Y0, fy0); e > tol {
					t.Errorf("%s: dL/dz0 rel error %g", name, e)
				}
				if e := relErr(g.Params, fdp); e > tol {
					t.Errorf("%s: dL/dtheta rel error %g", name, e)
				}
				// What the continuous-flow formula dL/dz_i . f(t_i, z_i) would give.
				flow := 0.0
				fbuf := make([]float64, 3)
				for i := 1; i < len(ts); i++ {
					_ = d.Eval(ts[i], tp.Y()[i], fbuf)
					flow = max(flow, abs(dot(c[i], fbuf)-fdt[i])/abs(fdt[i]))
				}
				t.Logf("%-28s dL/dt rel error %.1e (the flow formula's largest: %.1e)", name, relErr(g.T, fdt), flow)
			}
		}
	}
}

func abs(x float64) float64 { return math.Abs(x) }

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
