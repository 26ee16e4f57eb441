package odeint

import (
	"math"

	"github.com/pkg/errors"
)

// Method is an explicit Runge–Kutta method given as Butcher-tableau data.
// The built-in methods are package variables (Dopri5, Tsit5, ...); a user may
// build another one from its tableau, and Solve validates it (sizes, zero
// entries on and above the diagonal, row sums equal to C to 1e-12) before use,
// reporting ErrInvalidOptions. A Method is read-only once passed to Solve and
// may be shared by concurrent solves.
//
// Stages are numbered 0..s-1 for the s stages of the step proper (s = len(B))
// and s..S-1 for the extra stages that only the dense output uses (ExtraA),
// S = NumStages(). Stage i is k_i = f(t0 + C_i h, y0 + h sum_j A_ij k_j).
type Method struct {
	// Name identifies the method in messages and reports.
	Name string
	// A is the strictly lower-triangular stage matrix: len(A) = s, and
	// A[i][j] for j >= i must be zero (rows may be shorter than s).
	A [][]float64
	// B holds the weights of the propagated solution y1 = y0 + h sum B_i k_i.
	B []float64
	// C holds the stage times as fractions of the step; C[0] = 0.
	C []float64
	// BHat holds the weights of the embedded solution used for the error
	// estimate err = y1 - yhat1 = h sum (B_i - BHat_i) k_i. Nil for a
	// fixed-step method.
	BHat []float64
	// BHat2, if not nil, holds a second embedded solution. With it the error
	// ratio is DOP853's combined estimator r = r1^2 / sqrt(r1^2 + 0.01 r2^2),
	// where r1, r2 are the norms of the scaled BHat and BHat2 errors.
	BHat2 []float64
	// Order is the order of the propagated solution (B).
	Order int
	// EmbeddedOrder is the order of the BHat solution (0 for fixed-step).
	EmbeddedOrder int
	// EmbeddedOrder2 is the order of the BHat2 solution (0 if none).
	EmbeddedOrder2 int
	// ErrorOrder is the order q of the error estimate as the step controller
	// sees it (error ~ h^(q+1)); zero means EmbeddedOrder. DOP853's combined
	// estimator behaves like q = 7.
	ErrorOrder int
	// FSAL (first same as last) reports that the last stage is evaluated at
	// (t1, y1): C[s-1] = 1, A[s-1] = B and B[s-1] = 0. Its derivative is
	// then reused as stage 0 of the next step.
	FSAL bool
	// ExtraA and ExtraC define stages evaluated only for the dense output
	// (DOP853 has three). Row i may use stages 0..s+i-1.
	ExtraA [][]float64
	// ExtraC holds the times of the extra stages as fractions of the step.
	ExtraC []float64
	// Interp is the continuous extension as stage weights:
	// y(t0 + theta h) = y0 + h sum_i w_i(theta) k_i with
	// w_i(theta) = sum_j Interp[i][j] theta^(j+1), one row per stage
	// including the extras. Nil means cubic Hermite interpolation on
	// y0, y1, f(t0, y0), f(t1, y1); for a method that is not FSAL the stage
	// f(t1, y1) is then appended as an extra stage (it costs nothing in an
	// integration: it is the next step's stage 0).
	Interp [][]float64
}

// NumStages returns the number of stage derivatives a step of m produces,
// including the extra stages of the dense output: the length InterpWeights
// and StepInfo.K use. A nil method has no stages (0).
func (m *Method) NumStages() int {
	if m == nil {
		return 0
	}
	s := len(m.B) + len(m.ExtraA)
	if m.Interp == nil && !m.FSAL {
		s++
	}
	return s
}

// Adaptive reports whether m has an embedded error estimate (false for a nil
// method).
func (m *Method) Adaptive() bool { return m != nil && m.BHat != nil }

// InterpWeights writes into w the dense-output weights w_i(theta) such that
// y(t0 + theta h) = y0 + h sum_i w_i(theta) k_i, for theta in [0, 1] (values
// outside extrapolate). These are exactly the weights Solution.At, output
// interpolation and event location use. w should have length NumStages();
// entries beyond it are set to zero, and a shorter w receives only the first
// len(w) weights. A nil method has no stages: w is set to zero. It does not
// allocate and is safe for concurrent use.
func (m *Method) InterpWeights(theta float64, w []float64) { m.interpWeights(theta, w, false) }

// InterpWeightsDeriv writes into w the derivatives dw_i/dtheta of the
// dense-output weights of InterpWeights, so that the time derivative of the
// dense output is dy/dt(t0 + theta h) = sum_i w_i'(theta) k_i. At theta = 0
// it selects k_0 = f(t0, y0); the interpolants of this package are also C1 at
// theta = 1, where it gives f(t1, y1). The gradient methods use it for the
// sensitivity of an interpolated output to its time. Same conventions as
// InterpWeights: it does not allocate and is safe for concurrent use.
func (m *Method) InterpWeightsDeriv(theta float64, w []float64) { m.interpWeights(theta, w, true) }

// interpWeights writes the dense-output weights at theta, or their derivatives in
// theta when deriv is set: the method's own polynomial coefficients (Interp) or cubic
// Hermite.
func (m *Method) interpWeights(theta float64, w []float64, deriv bool) {
	for i := range w {
		w[i] = 0
	}
	if m == nil {
		return
	}
	if m.Interp != nil {
		hornerWeights(m.Interp, theta, w, deriv)
		return
	}
	s := len(m.B)
	last := s - 1
	if !m.FSAL {
		last = s // the appended stage f(t1, y1)
	}
	for i := 0; i < len(w) && i <= last; i++ {
		b := 0.0
		if i < s {
			b = m.B[i]
		}
		r := hermiteRow(b, i == 0, i == last)
		if deriv {
			w[i] = r[0] + theta*(2*r[1]+theta*3*r[2])
		} else {
			w[i] = theta * (r[0] + theta*(r[1]+theta*r[2]))
		}
	}
}

// hermiteRow returns the coefficients of theta, theta^2, theta^3 in the cubic
// Hermite weight of a stage with weight b: with y1 = y0 + h sum b_i k_i,
// y(theta) = y0 + h[h10(theta) k_0 + h01(theta) sum b_i k_i + h11(theta) f1],
// h10 = theta - 2theta^2 + theta^3, h01 = 3theta^2 - 2theta^3,
// h11 = theta^3 - theta^2.
func hermiteRow(b float64, first, last bool) [3]float64 {
	r := [3]float64{0, 3 * b, -2 * b}
	if first {
		r[0] += 1
		r[1] -= 2
		r[2] += 1
	}
	if last {
		r[1] -= 1
		r[2] += 1
	}
	return r
}

// hornerWeights evaluates w_i = sum_j p[i][j] theta^(j+1) for i < len(w), or its
// derivative sum_j (j+1) p[i][j] theta^j when deriv is set.
func hornerWeights(p [][]float64, theta float64, w []float64, deriv bool) {
	for i := 0; i < len(w) && i < len(p); i++ {
		row := p[i]
		acc := 0.0
		for j := len(row) - 1; j >= 0; j-- {
			c := row[j]
			if deriv {
				c *= float64(j + 1)
			}
			acc = acc*theta + c
		}
		if !deriv {
			acc *= theta
		}
		w[i] = acc
	}
}

// term is one nonzero coefficient of a tableau row.
type term struct {
	j int
	a float64
}

// rk is a validated Method prepared for stepping: sparse rows (DOP853 is
// mostly zeros) and the interpolant as an explicit matrix.
type rk struct {
	m        *Method
	s        int       // stages of the step proper
	nst      int       // all stages incl. extras
	c        []float64 // len nst
	rows     [][]term  // rows[i] for stage i (nil for i = 0)
	b        []term
	e        []term // B - BHat
	e2       []term // B - BHat2
	interp   [][]float64
	f1Extra  int // index of the extra stage that is f(t1, y1), or -1
	errOrder int
}

const rowSumTol = 1e-12

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func allFinite(v []float64) bool {
	for _, x := range v {
		if x-x != 0 { // NaN or Inf
			return false
		}
	}
	return true
}

func invalid(format string, args ...interface{}) error {
	return errors.Wrapf(ErrInvalidOptions, format, args...)
}

// prepare validates m and builds its stepping form. It allocates.
func (m *Method) prepare() (*rk, error) {
	if m == nil {
		return nil, invalid("nil method")
	}
	s := len(m.B)
	if s == 0 {
		return nil, invalid("method %q: empty B", m.Name)
	}
	if len(m.A) != s || len(m.C) != s {
		return nil, invalid("method %q: len(A)=%d, len(C)=%d, want len(B)=%d", m.Name, len(m.A), len(m.C), s)
	}
	if m.Order < 1 {
		return nil, invalid("method %q: order %d < 1", m.Name, m.Order)
	}
	for _, v := range [][]float64{m.B, m.C, m.BHat, m.BHat2, m.ExtraC} {
		for _, x := range v {
			if !finite(x) {
				return nil, invalid("method %q: non-finite coefficient", m.Name)
			}
		}
	}
	if m.C[0] != 0 {
		return nil, invalid("method %q: C[0]=%g, want 0", m.Name, m.C[0])
	}
	if m.BHat != nil && len(m.BHat) != s {
		return nil, invalid("method %q: len(BHat)=%d, want %d", m.Name, len(m.BHat), s)
	}
	if m.BHat2 != nil && (len(m.BHat2) != s || m.BHat == nil) {
		return nil, invalid("method %q: BHat2 needs BHat and length %d", m.Name, s)
	}
	if m.BHat != nil && m.EmbeddedOrder < 1 && m.ErrorOrder < 1 {
		return nil, invalid("method %q: adaptive method needs EmbeddedOrder or ErrorOrder >= 1", m.Name)
	}
	if len(m.ExtraA) != len(m.ExtraC) {
		return nil, invalid("method %q: len(ExtraA)=%d != len(ExtraC)=%d", m.Name, len(m.ExtraA), len(m.ExtraC))
	}
	if m.Interp == nil && len(m.ExtraA) > 0 {
		return nil, invalid("method %q: extra stages without an interpolant", m.Name)
	}
	sumB := 0.0
	for _, x := range m.B {
		sumB += x
	}
	if math.Abs(sumB-1) > rowSumTol {
		return nil, invalid("method %q: sum(B)=%.17g, want 1", m.Name, sumB)
	}
	r := &rk{m: m, s: s, f1Extra: -1}
	r.errOrder = m.ErrorOrder
	if r.errOrder == 0 {
		r.errOrder = m.EmbeddedOrder
	}
	allA := append(append([][]float64{}, m.A...), m.ExtraA...)
	allC := append(append([]float64{}, m.C...), m.ExtraC...)
	if m.Interp == nil && !m.FSAL {
		allA = append(allA, m.B)
		allC = append(allC, 1)
		r.f1Extra = len(allA) - 1
	}
	r.nst = len(allA)
	r.c = allC
	r.rows = make([][]term, r.nst)
	for i, row := range allA {
		if len(row) > r.nst {
			return nil, invalid("method %q: row %d of A has %d entries", m.Name, i, len(row))
		}
		sum := 0.0
		for j, a := range row {
			if !finite(a) {
				return nil, invalid("method %q: non-finite A[%d][%d]", m.Name, i, j)
			}
			if a == 0 {
				continue
			}
			if j >= i {
				return nil, invalid("method %q: A[%d][%d]=%g is not strictly lower triangular", m.Name, i, j, a)
			}
			sum += a
			r.rows[i] = append(r.rows[i], term{j, a})
		}
		if math.Abs(sum-allC[i]) > rowSumTol {
			return nil, invalid("method %q: row %d sums to %.17g, C=%.17g", m.Name, i, sum, allC[i])
		}
	}
	// An extra stage that is exactly f(t1, y1) is not recomputed: it is the
	// stage 0 of the next step.
	for i := s; i < r.nst && r.f1Extra < 0; i++ {
		if allC[i] == 1 && sameRow(allA[i], m.B) {
			r.f1Extra = i
		}
	}
	if m.FSAL {
		if m.C[s-1] != 1 || m.B[s-1] != 0 || !sameRow(m.A[s-1], m.B[:s-1]) {
			return nil, invalid("method %q: FSAL needs C[s-1]=1, B[s-1]=0 and A[s-1]=B", m.Name)
		}
	}
	for j, x := range m.B {
		if x != 0 {
			r.b = append(r.b, term{j, x})
		}
	}
	if m.BHat != nil {
		for j := range m.B {
			if d := m.B[j] - m.BHat[j]; d != 0 {
				r.e = append(r.e, term{j, d})
			}
		}
	}
	if m.BHat2 != nil {
		for j := range m.B {
			if d := m.B[j] - m.BHat2[j]; d != 0 {
				r.e2 = append(r.e2, term{j, d})
			}
		}
	}
	if m.Interp != nil {
		if len(m.Interp) != r.nst {
			return nil, invalid("method %q: Interp has %d rows, want %d stages", m.Name, len(m.Interp), r.nst)
		}
		for i, row := range m.Interp {
			for _, x := range row {
				if !finite(x) {
					return nil, invalid("method %q: non-finite Interp[%d]", m.Name, i)
				}
			}
		}
		r.interp = m.Interp
	} else {
		last := s - 1
		if !m.FSAL {
			last = r.f1Extra
		}
		r.interp = make([][]float64, r.nst)
		for i := range r.interp {
			b := 0.0
			if i < s {
				b = m.B[i]
			}
			h := hermiteRow(b, i == 0, i == last)
			r.interp[i] = h[:]
		}
	}
	return r, nil
}

// sameRow reports whether the tableau row a equals b (missing entries are 0).
func sameRow(a, b []float64) bool {
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	for j := 0; j < n; j++ {
		var x, y float64
		if j < len(a) {
			x = a[j]
		}
		if j < len(b) {
			y = b[j]
		}
		if x != y {
			return false
		}
	}
	return true
}
