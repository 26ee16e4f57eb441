package cnf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestToy2D checks every data set returns n finite points inside a plausible window and
// that 8gaussians matches its exact density: the density integrates to 1 (midpoint rule
// on a 0.02 grid over [-5, 5]^2: error ~1e-4, mass outside ~1e-12) and the samples'
// second moment equals |c|^2 + 2 s^2 = 8.0016 + 0.2501 within 4 standard errors.
func TestToy2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range ToyNames() {
		x, err := Toy2D(name, rng, 4000)
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != 8000 {
			t.Fatalf("%s: %d values", name, len(x))
		}
		for _, v := range x {
			if math.IsNaN(v) || math.Abs(v) > 8 {
				t.Fatalf("%s: value %g", name, v)
			}
		}
	}
	if _, err := Toy2D("nope", rng, 3); err == nil {
		t.Error("unknown data set accepted")
	}
	const n = 20000
	x, _ := Toy2D("8gaussians", rng, n)
	m2, m4 := 0.0, 0.0
	for i := 0; i < n; i++ {
		r2 := x[2*i]*x[2*i] + x[2*i+1]*x[2*i+1]
		m2 += r2 / n
		m4 += r2 * r2 / n
	}
	want := 16/(1.414*1.414) + 2*0.25/(1.414*1.414)
	se := math.Sqrt((m4 - m2*m2) / n)
	if math.Abs(m2-want) > 4*se {
		t.Errorf("8gaussians E|x|^2 = %.4f, want %.4f ± %.4f", m2, want, 4*se)
	}
	const h, L = 0.02, 5.0
	mass := 0.0
	for a := -L + h/2; a < L; a += h {
		for b := -L + h/2; b < L; b += h {
			mass += math.Exp(EightGaussiansLogDensity(a, b)) * h * h
		}
	}
	if math.Abs(mass-1) > 1e-3 {
		t.Errorf("8gaussians density integrates to %.5f", mass)
	}
}
