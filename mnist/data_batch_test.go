package mnist

import (
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// taggedDataset returns n 28x28 images whose ink lies in the central 20x20 box, each carrying its index in two
// pixels (rows 13 and 14, column 13, which stay inside the image under any shift of up to 4) and label i%10.
func taggedDataset(n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 0))
	d := &Dataset{N: n, Rows: 28, Cols: 28, Pixels: make([]uint8, 0, n*784), Labels: make([]uint8, n)}
	for i := range n {
		img := centredDigit(rng)
		img[13*28+13], img[14*28+13] = uint8(i%255)+1, uint8(i/255)+1
		d.Pixels = append(d.Pixels, img...)
		d.Labels[i] = uint8(i % 10)
	}
	return d
}

// sampleIndex recovers the dataset index of the k-th image of an unshifted batch.
func sampleIndex(x []float32, k int) int {
	lo := denormalise(float64(x[k*784+13*28+13])) - 1
	hi := denormalise(float64(x[k*784+14*28+13])) - 1
	return hi*255 + lo
}

func TestBatcherEpochIsPermutation(t *testing.T) {
	const n, bs = 103, 10
	d := taggedDataset(n, 1)
	b, err := NewBatcher(d, BatchOptions{BatchSize: bs, Shuffle: true, Rand: rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		t.Fatal(err)
	}
	if b.BatchesPerEpoch() != 11 {
		t.Errorf("BatchesPerEpoch = %d, want 11", b.BatchesPerEpoch())
	}
	x, y := make([]float32, bs*784), make([]int, bs)
	var orders [][]int
	for epoch := 1; epoch <= 3; epoch++ {
		var order []int
		batches := 0
		for {
			k, err := b.NextFloat32(x, y)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			batches++
			if want := min(bs, n-(batches-1)*bs); k != want {
				t.Errorf("epoch %d batch %d: n = %d, want %d", epoch, batches, k, want)
			}
			for j := range k {
				i := sampleIndex(x, j)
				if y[j] != i%10 {
					t.Fatalf("example %d served with label %d", i, y[j])
				}
				order = append(order, i)
			}
		}
		if b.Epoch() != epoch || batches != 11 {
			t.Errorf("epoch %d: Epoch() = %d, %d batches", epoch, b.Epoch(), batches)
		}
		sorted := slices.Sorted(slices.Values(order))
		for i := range n {
			if len(sorted) != n || sorted[i] != i {
				t.Fatalf("epoch %d does not visit every example exactly once: %v", epoch, sorted)
			}
		}
		orders = append(orders, order)
	}
	if slices.Equal(orders[0], orders[1]) || slices.Equal(orders[1], orders[2]) {
		t.Error("consecutive epochs have the same order")
	}
	if slices.IsSorted(orders[0]) {
		t.Error("shuffled epoch is in file order")
	}
}

func TestBatcherOrderAndDropLast(t *testing.T) {
	d := taggedDataset(25, 2)
	b, err := NewBatcher(d, BatchOptions{BatchSize: 10, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float32, 10*784), make([]int, 10)
	for epoch := range 2 {
		var order []int
		for {
			k, err := b.NextFloat32(x, y)
			if err == io.EOF {
				break
			}
			if k != 10 {
				t.Fatalf("DropLast served a batch of %d", k)
			}
			for j := range k {
				order = append(order, sampleIndex(x, j))
			}
		}
		for i, v := range order {
			if v != i || len(order) != 20 {
				t.Fatalf("epoch %d without Shuffle: order %v, want 0..19", epoch, order)
			}
		}
	}
}

// TestBatcherReproducible: the same seed gives identical batches (shuffle and crops) in both precisions; another
// seed does not.
func TestBatcherReproducible(t *testing.T) {
	d := taggedDataset(40, 3)
	run := func(seed uint64) ([]float64, []int) {
		b, err := NewBatcher(d, BatchOptions{BatchSize: 16, Shuffle: true, CropPad: 4, Rand: rand.New(rand.NewPCG(seed, 1))})
		if err != nil {
			t.Fatal(err)
		}
		x, y := make([]float64, 16*784), make([]int, 16)
		var xs []float64
		var ys []int
		for range 2 * (b.BatchesPerEpoch() + 1) {
			k, err := b.NextFloat64(x, y)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			xs, ys = append(xs, x[:k*784]...), append(ys, y[:k]...)
		}
		return xs, ys
	}
	x1, y1 := run(42)
	x2, y2 := run(42)
	x3, _ := run(43)
	if !slices.Equal(x1, x2) || !slices.Equal(y1, y2) {
		t.Error("same seed, different batches")
	}
	if slices.Equal(x1, x3) {
		t.Error("different seeds, same batches")
	}
	// float32 and float64 paths agree given the same seed.
	b32, _ := NewBatcher(d, BatchOptions{BatchSize: 16, Shuffle: true, CropPad: 4, Rand: rand.New(rand.NewPCG(42, 1))})
	x, y := make([]float32, 16*784), make([]int, 16)
	k, _ := b32.NextFloat32(x, y)
	for i := range k * 784 {
		if float64(x[i]) != float64(float32(x1[i])) {
			t.Fatalf("float32 and float64 batches differ at %d", i)
		}
	}
}

// TestBatcherCropKeepsMassAndCoversShifts: every cropped example keeps its pixel mass (the synthetic digits sit
// in the central 20x20 box, so shifts of up to 4 keep them inside), and the 81 shifts all occur, seen through a
// single-pixel image.
func TestBatcherCropKeepsMassAndCoversShifts(t *testing.T) {
	d := taggedDataset(64, 4)
	mass := make([]int, d.N)
	for i := range d.N {
		for _, p := range d.Pixels[i*784 : (i+1)*784] {
			mass[i] += int(p)
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	b, err := NewBatcher(d, BatchOptions{BatchSize: 64, CropPad: 4, Rand: rng})
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float32, 64*784), make([]int, 64)
	k, err := b.NextFloat32(x, y)
	if err != nil || k != 64 {
		t.Fatal(k, err)
	}
	moved := 0
	for j := range k {
		got, same := 0, true
		for q, v := range x[j*784 : (j+1)*784] {
			p := denormalise(float64(v))
			got += p
			same = same && p == int(d.Pixels[j*784+q])
		}
		if got != mass[j] {
			t.Errorf("example %d: mass %d after crop, %d before", j, got, mass[j])
		}
		if !same {
			moved++
		}
	}
	if moved < 50 { // P(shift 0) = 1/81 per example
		t.Errorf("only %d of 64 crops moved the image", moved)
	}

	dot := &Dataset{N: 1, Rows: 28, Cols: 28, Pixels: make([]uint8, 784), Labels: []uint8{0}}
	dot.Pixels[14*28+14] = 255
	b, err = NewBatcher(dot, BatchOptions{BatchSize: 1, CropPad: 4, Rand: rng})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int]int{}
	x, y = make([]float32, 784), make([]int, 1)
	for range 2000 {
		if k, err := b.NextFloat32(x, y); err == io.EOF {
			continue
		} else if err != nil || k != 1 {
			t.Fatal(k, err)
		}
		q := slices.IndexFunc(x, func(v float32) bool { return denormalise(float64(v)) == 255 })
		seen[[2]int{q/28 - 14, q%28 - 14}]++
	}
	for dy := -4; dy <= 4; dy++ {
		for dx := -4; dx <= 4; dx++ {
			if seen[[2]int{dy, dx}] == 0 {
				t.Errorf("offset (%d,%d) never drawn", dx, dy)
			}
		}
	}
	if len(seen) != 81 {
		t.Errorf("%d distinct offsets, want 81: %v", len(seen), seen)
	}
}

func TestBatcherErrors(t *testing.T) {
	d := taggedDataset(5, 6)
	rng := rand.New(rand.NewPCG(1, 1))
	bad := map[string]BatchOptions{
		"zero batch":       {BatchSize: 0},
		"shuffle no rand":  {BatchSize: 2, Shuffle: true},
		"crop no rand":     {BatchSize: 2, CropPad: 4},
		"crop too large":   {BatchSize: 2, CropPad: 28, Rand: rng},
		"negative crop":    {BatchSize: 2, CropPad: -1, Rand: rng},
		"drop all batches": {BatchSize: 6, DropLast: true},
	}
	for name, opt := range bad {
		if _, err := NewBatcher(d, opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewBatcher(&Dataset{N: 1, Rows: 28, Cols: 28}, BatchOptions{BatchSize: 1}); err == nil {
		t.Error("invalid dataset accepted")
	}
	if _, err := NewBatcher(nil, BatchOptions{BatchSize: 1}); err == nil {
		t.Error("nil dataset accepted")
	}
	b, err := NewBatcher(d, BatchOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.NextFloat32(make([]float32, 784), make([]int, 2)); err == nil {
		t.Error("short x accepted")
	}
	if _, err := b.NextFloat64(make([]float64, 2*784), make([]int, 3)); err == nil {
		t.Error("long y accepted")
	}
}

// TestBatchFillAllocs: filling a batch, including the epoch boundary and its reshuffle, allocates nothing.
func TestBatchFillAllocs(t *testing.T) {
	d := taggedDataset(50, 7)
	b, err := NewBatcher(d, BatchOptions{BatchSize: 16, Shuffle: true, CropPad: 4, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	x32, x64, y := make([]float32, 16*784), make([]float64, 16*784), make([]int, 16)
	if a := testing.AllocsPerRun(100, func() { b.NextFloat32(x32, y) }); a != 0 {
		t.Errorf("NextFloat32: %v allocations per batch", a)
	}
	if a := testing.AllocsPerRun(100, func() { b.NextFloat64(x64, y) }); a != 0 {
		t.Errorf("NextFloat64: %v allocations per batch", a)
	}
}

func BenchmarkNextFloat32Crop(b *testing.B) {
	d := taggedDataset(1024, 8)
	bt, err := NewBatcher(d, BatchOptions{BatchSize: 128, Shuffle: true, CropPad: 4, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		b.Fatal(err)
	}
	x, y := make([]float32, 128*784), make([]int, 128)
	b.SetBytes(128 * 784 * 4)
	for b.Loop() {
		bt.NextFloat32(x, y)
	}
}
