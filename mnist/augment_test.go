package mnist

import (
	"math"
	"math/rand/v2"
	"testing"
)

// centredDigit returns a 28x28 image whose ink lies only in the central 20x20 box (rows and columns 4..23), with
// random intensities: MNIST's description of its digits. Real digits are centred by centre of mass and spill
// over that box (TestLoadRealMNIST measures by how much), so exact mass tests use these synthetic ones.
func centredDigit(rng *rand.Rand) []uint8 {
	img := make([]uint8, 28*28)
	for r := 4; r < 24; r++ {
		for c := 4; c < 24; c++ {
			if rng.IntN(3) == 0 {
				img[r*28+c] = uint8(1 + rng.IntN(255))
			}
		}
	}
	return img
}

// denormalise inverts Normalize, rounding to the nearest pixel byte.
func denormalise(v float64) int { return int(math.Round((v*Std + Mean) * 255)) }

func TestNormalizeConstants(t *testing.T) {
	if got := Normalize(0); math.Abs(got+Mean/Std) > 1e-15 {
		t.Errorf("Normalize(0) = %v, want %v", got, -Mean/Std)
	}
	if got := Normalize(255); math.Abs(got-(1-Mean)/Std) > 1e-15 {
		t.Errorf("Normalize(255) = %v", got)
	}
	for p := range 256 {
		if normalised32[p] != float32(normalised64[p]) || denormalise(normalised64[p]) != p ||
			denormalise(float64(normalised32[p])) != p {
			t.Fatalf("tables disagree or do not invert at pixel %d", p)
		}
	}
}

// TestShiftZeroIsIdentity: with no shift the crop is plain normalisation, in both precisions.
func TestShiftZeroIsIdentity(t *testing.T) {
	img := centredDigit(rand.New(rand.NewPCG(1, 2)))
	img[0], img[28*28-1] = 255, 17 // ink at the corners too: nothing may move
	d32 := make([]float32, len(img))
	d64 := make([]float64, len(img))
	shiftNormalize(d32, img, 28, 28, 0, 0, &normalised32)
	shiftNormalize(d64, img, 28, 28, 0, 0, &normalised64)
	for i, p := range img {
		if d32[i] != normalised32[p] || d64[i] != Normalize(p) {
			t.Fatalf("pixel %d: got %v / %v, want %v", i, d32[i], d64[i], Normalize(p))
		}
	}
}

// TestShiftMovesAndKeepsMass: for every shift in [-4, 4]^2 the output is the input moved by exactly (dx, dy)
// with black elsewhere, so a digit in the central 20x20 box keeps its pixel mass.
func TestShiftMovesAndKeepsMass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dst := make([]float64, 28*28)
	for trial := range 5 {
		img := centredDigit(rng)
		mass := 0
		for _, p := range img {
			mass += int(p)
		}
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				shiftNormalize(dst, img, 28, 28, dx, dy, &normalised64)
				got := 0
				for r := range 28 {
					for c := range 28 {
						p := denormalise(dst[r*28+c])
						got += p
						want := 0
						if sr, sc := r+dy, c+dx; sr >= 0 && sr < 28 && sc >= 0 && sc < 28 {
							want = int(img[sr*28+sc])
						}
						if p != want {
							t.Fatalf("trial %d shift (%d,%d): pixel (%d,%d) = %d, want %d", trial, dx, dy, r, c, p, want)
						}
					}
				}
				if got != mass {
					t.Errorf("trial %d shift (%d,%d): mass %d, want %d", trial, dx, dy, got, mass)
				}
			}
		}
	}
	// Shifts larger than the box's margin do lose ink: the mass test is not vacuous.
	img := centredDigit(rng)
	shiftNormalize(dst, img, 28, 28, 27, 0, &normalised64)
	for _, v := range dst[:27] {
		if denormalise(v) != 0 {
			t.Fatal("shift by 27 columns kept ink where there should be none")
		}
	}
}

// TestShiftNonSquare exercises rows != cols so a swapped index would show.
func TestShiftNonSquare(t *testing.T) {
	rows, cols := 3, 5
	img := make([]uint8, rows*cols)
	for i := range img {
		img[i] = uint8(i + 1)
	}
	dst := make([]float64, rows*cols)
	for dy := -2; dy <= 2; dy++ {
		for dx := -4; dx <= 4; dx++ {
			shiftNormalize(dst, img, rows, cols, dx, dy, &normalised64)
			for r := range rows {
				for c := range cols {
					want := 0
					if sr, sc := r+dy, c+dx; sr >= 0 && sr < rows && sc >= 0 && sc < cols {
						want = int(img[sr*cols+sc])
					}
					if got := denormalise(dst[r*cols+c]); got != want {
						t.Fatalf("shift (%d,%d) pixel (%d,%d) = %d, want %d", dx, dy, r, c, got, want)
					}
				}
			}
		}
	}
}
