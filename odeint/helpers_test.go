package odeint

import "math"

// problem is an initial-value problem with a closed-form solution.
type problem struct {
	name  string
	f     Func
	y0    []float64
	t0, T float64
	exact func(t float64, y []float64)
}

// convProblem: two decoupled nonlinear scalar equations, one non-autonomous:
//
//	y0' = y0^2 cos t,  y0(0) = 1/c  =>  y0 = 1/(c - sin t), c = 1.25
//	y1' = y1 (1 - y1), y1(0) = 1/5  =>  y1 = 1/(1 + 4 e^-t)
var convProblem = problem{
	name: "conv",
	f: func(t float64, y, dy []float64) error {
		dy[0] = y[0] * y[0] * math.Cos(t)
		dy[1] = y[1] * (1 - y[1])
		return nil
	},
	y0: []float64{1 / 1.25, 0.2},
	T:  4,
	exact: func(t float64, y []float64) {
		y[0] = 1 / (1.25 - math.Sin(t))
		y[1] = 1 / (1 + 4*math.Exp(-t))
	},
}

// rungeProblem: y' = -2 t y^2, y(0) = 1  =>  y = 1/(1 + t^2).
var rungeProblem = problem{
	name:  "runge",
	f:     func(t float64, y, dy []float64) error { dy[0] = -2 * t * y[0] * y[0]; return nil },
	y0:    []float64{1},
	T:     5,
	exact: func(t float64, y []float64) { y[0] = 1 / (1 + t*t) },
}

// gompertzProblem: y' = y ln y, y(0) = 2  =>  y = 2^(e^t) (ln y = e^t ln 2).
var gompertzProblem = problem{
	name:  "gompertz",
	f:     func(t float64, y, dy []float64) error { dy[0] = y[0] * math.Log(y[0]); return nil },
	y0:    []float64{2},
	T:     3,
	exact: func(t float64, y []float64) { y[0] = math.Exp(math.Exp(t) * math.Ln2) },
}

// fixedError solves p with n fixed steps of m and returns the global error
// at the final time, relative to max(1, |y|).
func fixedError(p problem, m *Method, n int) (float64, error) {
	h := (p.T - p.t0) / float64(n)
	sol, err := Solve(p.f, p.y0, []float64{p.t0, p.T}, Options{Method: m, Step: h})
	if err != nil {
		return 0, err
	}
	ex := make([]float64, len(p.y0))
	p.exact(p.T, ex)
	e := 0.0
	for j := range ex {
		e = math.Max(e, math.Abs(sol.Y[1][j]-ex[j])/math.Max(1, math.Abs(ex[j])))
	}
	return e, nil
}

// relErr is torchdiffeq's rel_error: max |(true - est) / true|.
func relErr(exact, est []float64) float64 {
	m := 0.0
	for i := range exact {
		m = math.Max(m, math.Abs((exact[i]-est[i])/exact[i]))
	}
	return m
}

// slope fits log(err) = p log(h) + c by least squares and returns p.
func slope(hs, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(hs))
	for i := range hs {
		x, y := math.Log(hs[i]), math.Log(errs[i])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// embedded returns the fixed-step method that propagates with the embedded
// weights bhat of m's own tableau (same A and C).
func embedded(m *Method, bhat []float64, order int) *Method {
	return &Method{Name: m.Name + "-embedded", A: m.A, B: bhat, C: m.C, Order: order}
}

var adaptiveMethods = []*Method{HeunEuler, Bosh3, Dopri5, Tsit5, Dopri8}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
