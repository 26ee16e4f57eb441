package layers

import (
	"math"
	"math/rand/v2"
)

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
// in place. With step h = 1e-5 the truncation error is h^2 |f^(3)| / 6 ~ 1e-11 relative for
// these smooth functions, and the rounding error ~ eps |f| / h ~ 1e-16 / 1e-5 = 1e-11, so
// a correct gradient agrees to ~1e-9, far below the 1e-6 asserted; a wrong term in a
// gradient shows up at O(1). ReLU kinks are met with probability ~1e-5 per element, and
// the seeds are fixed.
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

// relErr is the relative error ||got - want|| / ||want|| in the Euclidean norm.
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

// fdTol is the bar for finite-difference checks; see fdGrad for why a correct
// gradient meets it with a margin of ~1000.
const fdTol = 1e-6
