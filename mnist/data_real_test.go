package mnist

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLoadRealMNIST loads the real files from the GoMNIST module (on disk wherever this module builds, so never
// skipped) and checks what is known about MNIST independently of this code: 60000/10000 examples of 28x28, the
// first training label is 5 and the first test label 7, every class holds roughly a tenth, and the training
// pixels have the published mean 0.1307 and standard deviation 0.3081 that Mean and Std hard-code.
func TestLoadRealMNIST(t *testing.T) {
	start := time.Now()
	train, test, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadDefault: %v", time.Since(start))
	if train.N != 60000 || test.N != 10000 || train.Rows != 28 || train.Cols != 28 || test.Rows != 28 || test.Cols != 28 {
		t.Fatalf("sizes: train %d %dx%d, test %d %dx%d", train.N, train.Rows, train.Cols, test.N, test.Rows, test.Cols)
	}
	if train.Labels[0] != 5 || test.Labels[0] != 7 {
		t.Errorf("first labels: train %d (want 5), test %d (want 7)", train.Labels[0], test.Labels[0])
	}
	for _, d := range []*Dataset{train, test} {
		var count [NumClasses]int
		for _, l := range d.Labels {
			count[l]++
		}
		for c, k := range count {
			// The rarest class (5) is 9.0 % of the training set, the commonest (1) 11.2 %.
			if f := float64(k) / float64(d.N); f < 0.085 || f > 0.12 {
				t.Errorf("class %d is %.3f of a set of %d", c, f, d.N)
			}
		}
	}
	var sum, sum2 float64
	for _, p := range train.Pixels {
		v := float64(p) / 255
		sum += v
		sum2 += v * v
	}
	n := float64(len(train.Pixels))
	mean := sum / n
	std := math.Sqrt(sum2/n - mean*mean)
	// The published constants are rounded to 4 digits.
	if math.Abs(mean-Mean) > 5e-5 || math.Abs(std-Std) > 5e-5 {
		t.Errorf("training pixels: mean %.5f std %.5f, constants %v %v", mean, std, Mean, Std)
	}

	// The crop's premise: MNIST centres each digit's 20x20 box by centre of mass, so in fact no training digit
	// keeps 5 blank pixels on every side (measured: 813 touch the border, the rest have margins of 1 to 4). The
	// random crop therefore cuts a little ink off most digits; measure how much through the Batcher itself.
	margins := [5]int{}
	for i := range train.N {
		img, m := train.Pixels[i*784:(i+1)*784], 4
		for r := range 28 {
			for c := range 28 {
				if img[r*28+c] != 0 {
					m = min(m, r, c, 27-r, 27-c)
				}
			}
		}
		margins[m]++
	}
	t.Logf("training digits by blank margin 0, 1, 2, 3, >=4 pixels: %v", margins)
	sub, err := train.Head(4096)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(sub, BatchOptions{BatchSize: 4096, CropPad: 4, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float32, 4096*784), make([]int, 4096)
	if _, err := b.NextFloat32(x, y); err != nil {
		t.Fatal(err)
	}
	var before, after float64
	for i, p := range sub.Pixels {
		before += float64(p)
		after += float64(denormalise(float64(x[i])))
	}
	lost := 1 - after/before
	t.Logf("random crops with 4-pixel padding keep %.2f %% of the ink of 4096 real digits", 100*after/before)
	if lost < 0 || lost > 0.01 {
		t.Errorf("crops lost %.2f %% of the ink", 100*lost)
	}
}
