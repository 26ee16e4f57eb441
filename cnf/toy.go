package cnf

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/pkg/errors"
)

// Toy2D draws n points of a two-dimensional toy distribution into a new slice of 2n
// values (x0, y0, x1, y1, ...), following FFJORD's toy_data.py recipes:
//
//   - "8gaussians": centres at radius 4 on the compass points and diagonals, std 0.5,
//     all divided by 1.414 (EightGaussiansLogDensity is its exact density);
//   - "2spirals": two interleaved spirals, r = sqrt(u)*540°, uniform jitter 0.5, /3,
//     plus N(0, 0.1^2) noise;
//   - "checkerboard": x1 ~ U(-2, 2), x2 on alternating unit squares, both times 2;
//   - "rings": four concentric circles of radii 3, 2.25, 1.5, 0.75 with N(0, 0.08^2) noise;
//   - "moons": scikit-learn's two moons with noise 0.1, times 2, shifted by (-1, -0.2);
//   - "circles": scikit-learn's two circles (factor 0.5, noise 0.08) times 3;
//   - "pinwheel": five arms, radial std 0.3, tangential std 0.1, rate 0.25, times 2;
//   - "swissroll": scikit-learn's Swiss roll with noise 1, the (x, z) plane divided by 5;
//   - "twocircles": the Neural ODE paper's target (torchdiffeq cnf.py): scikit-learn's
//     circles with factor 0.5 and noise 0.06, unscaled.
//
// Where the recipe places points on a fixed grid of angles (scikit-learn's circles and
// moons, rings) the angles are drawn uniformly instead, which samples the same
// distribution without depending on n.
func Toy2D(name string, rng *rand.Rand, n int) ([]float64, error) {
	if rng == nil || n <= 0 {
		return nil, errors.Errorf("cnf: Toy2D needs a random source and n > 0 (n = %d)", n)
	}
	x := make([]float64, 2*n)
	put := func(i int, a, b float64) { x[2*i], x[2*i+1] = a, b }
	switch name {
	case "8gaussians":
		for i := 0; i < n; i++ {
			c := eightCentres[rng.IntN(8)]
			put(i, (c[0]*4+0.5*rng.NormFloat64())/1.414, (c[1]*4+0.5*rng.NormFloat64())/1.414)
		}
	case "2spirals":
		for i := 0; i < n; i++ {
			r := math.Sqrt(rng.Float64()) * 540 * 2 * math.Pi / 360
			a := -math.Cos(r)*r + rng.Float64()*0.5
			b := math.Sin(r)*r + rng.Float64()*0.5
			if i%2 == 1 {
				a, b = -a, -b
			}
			put(i, a/3+0.1*rng.NormFloat64(), b/3+0.1*rng.NormFloat64())
		}
	case "checkerboard":
		for i := 0; i < n; i++ {
			x1 := rng.Float64()*4 - 2
			x2 := rng.Float64() - float64(rng.IntN(2))*2
			m := math.Mod(math.Floor(x1), 2)
			if m < 0 { // NumPy's % is non-negative for a positive divisor
				m += 2
			}
			x2 += m
			put(i, 2*x1, 2*x2)
		}
	case "rings":
		for i := 0; i < n; i++ {
			r := 3 * float64(4-i%4) / 4
			a := 2 * math.Pi * rng.Float64()
			put(i, r*math.Cos(a)+0.08*rng.NormFloat64(), r*math.Sin(a)+0.08*rng.NormFloat64())
		}
	case "moons":
		for i := 0; i < n; i++ {
			a := math.Pi * rng.Float64()
			var p, q float64
			if i%2 == 0 {
				p, q = math.Cos(a), math.Sin(a)
			} else {
				p, q = 1-math.Cos(a), 1-math.Sin(a)-0.5
			}
			put(i, 2*(p+0.1*rng.NormFloat64())-1, 2*(q+0.1*rng.NormFloat64())-0.2)
		}
	case "circles", "twocircles":
		scale, noise := 3.0, 0.08
		if name == "twocircles" {
			scale, noise = 1, 0.06
		}
		for i := 0; i < n; i++ {
			r := 1.0
			if i%2 == 1 {
				r = 0.5
			}
			a := 2 * math.Pi * rng.Float64()
			put(i, scale*(r*math.Cos(a)+noise*rng.NormFloat64()), scale*(r*math.Sin(a)+noise*rng.NormFloat64()))
		}
	case "pinwheel":
		const classes, radial, tangential, rate = 5, 0.3, 0.1, 0.25
		for i := 0; i < n; i++ {
			f0 := radial*rng.NormFloat64() + 1
			f1 := tangential * rng.NormFloat64()
			ang := 2*math.Pi*float64(rng.IntN(classes))/classes + rate*math.Exp(f0)
			c, s := math.Cos(ang), math.Sin(ang)
			put(i, 2*(f0*c+f1*s), 2*(-f0*s+f1*c))
		}
	case "swissroll":
		for i := 0; i < n; i++ {
			t := 1.5 * math.Pi * (1 + 2*rng.Float64())
			put(i, (t*math.Cos(t)+rng.NormFloat64())/5, (t*math.Sin(t)+rng.NormFloat64())/5)
		}
	default:
		return nil, errors.Errorf("cnf: unknown toy data set %q (have %v)", name, ToyNames())
	}
	// Shuffle so that batches do not alternate between components.
	rng.Shuffle(n, func(i, j int) {
		x[2*i], x[2*j] = x[2*j], x[2*i]
		x[2*i+1], x[2*j+1] = x[2*j+1], x[2*i+1]
	})
	return x, nil
}

// ToyNames lists the data sets of Toy2D.
func ToyNames() []string {
	names := []string{"8gaussians", "2spirals", "checkerboard", "rings", "moons", "circles", "pinwheel", "swissroll", "twocircles"}
	sort.Strings(names)
	return names
}

var eightCentres = [8][2]float64{
	{1, 0}, {-1, 0}, {0, 1}, {0, -1},
	{1 / math.Sqrt2, 1 / math.Sqrt2}, {1 / math.Sqrt2, -1 / math.Sqrt2},
	{-1 / math.Sqrt2, 1 / math.Sqrt2}, {-1 / math.Sqrt2, -1 / math.Sqrt2},
}

// EightGaussiansLogDensity returns the exact log-density of Toy2D's "8gaussians" at the
// point (a, b): an equal mixture of N(4 c_k / 1.414, (0.5 / 1.414)^2 I).
func EightGaussiansLogDensity(a, b float64) float64 {
	s := 0.5 / 1.414
	var l [8]float64
	m := math.Inf(-1)
	for k, c := range eightCentres {
		da, db := a-4*c[0]/1.414, b-4*c[1]/1.414
		l[k] = -(da*da+db*db)/(2*s*s) - math.Log(2*math.Pi*s*s) - math.Log(8)
		m = math.Max(m, l[k])
	}
	sum := 0.0
	for _, v := range l {
		sum += math.Exp(v - m)
	}
	return m + math.Log(sum)
}
