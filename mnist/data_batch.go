package mnist

import (
	"io"
	"math/rand/v2"

	"github.com/pkg/errors"
)

// BatchOptions configures a Batcher. The zero value of every field but BatchSize means "off".
type BatchOptions struct {
	// BatchSize is the number of examples per batch; it must be positive.
	BatchSize int
	// Shuffle draws a new permutation of the examples from Rand at the start of every epoch. Without it, every
	// epoch visits the examples in file order.
	Shuffle bool
	// CropPad, if positive, augments each example by a random crop: the image is padded with CropPad black pixels
	// on every side and a Rows x Cols window is taken at a uniformly random offset drawn from Rand. The paper's
	// setting is 4. It must be smaller than the image's rows and columns.
	CropPad int
	// DropLast drops the last batch of an epoch when it would be smaller than BatchSize.
	DropLast bool
	// Rand is the source of the permutations and crop offsets; it is required if Shuffle or CropPad is set. The
	// same seed gives the same batches. The Batcher draws from it on every epoch start and example.
	Rand *rand.Rand
}

// Batcher cuts a Dataset into normalised batches, epoch after epoch, in NCHW layout [B, 1, Rows, Cols]. Filling a
// batch allocates nothing. A Batcher is not safe for concurrent use.
type Batcher struct {
	d      *Dataset
	opt    BatchOptions
	perm   []int
	pos    int  // next position in perm
	end    int  // number of examples an epoch visits
	active bool // an epoch has started and has not yet returned io.EOF
	epoch  int
}

// NewBatcher returns a Batcher over d. It returns an error for an invalid dataset or options, or if DropLast
// would leave no batch at all.
func NewBatcher(d *Dataset, opt BatchOptions) (*Batcher, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	switch {
	case opt.BatchSize <= 0:
		return nil, errors.Errorf("mnist: batch size %d is not positive", opt.BatchSize)
	case opt.CropPad < 0 || opt.CropPad >= d.Rows || opt.CropPad >= d.Cols:
		return nil, errors.Errorf("mnist: crop padding %d outside [0, %d)", opt.CropPad, min(d.Rows, d.Cols))
	case (opt.Shuffle || opt.CropPad > 0) && opt.Rand == nil:
		return nil, errors.New("mnist: Shuffle and CropPad need a Rand")
	}
	end := d.N
	if opt.DropLast {
		end -= d.N % opt.BatchSize
		if end == 0 {
			return nil, errors.Errorf("mnist: DropLast with batch size %d leaves no batch of %d examples",
				opt.BatchSize, d.N)
		}
	}
	perm := make([]int, d.N)
	for i := range perm {
		perm[i] = i
	}
	return &Batcher{d: d, opt: opt, perm: perm, end: end}, nil
}

// BatchesPerEpoch returns the number of batches one epoch yields.
func (b *Batcher) BatchesPerEpoch() int { return (b.end + b.opt.BatchSize - 1) / b.opt.BatchSize }

// Epoch returns the number of epochs started so far (1 during the first epoch).
func (b *Batcher) Epoch() int { return b.epoch }

// NextFloat32 fills the next batch: x (length BatchSize*Rows*Cols, NCHW with one channel) with normalised and,
// if configured, cropped images, and y (length BatchSize) with their labels. It returns the number n of examples
// written; a final partial batch (without DropLast) fills only the first n images and labels and leaves the rest
// of x and y as they were. At the end of an epoch it returns 0 and io.EOF; the call after that starts the next
// epoch (reshuffling if Shuffle is set). Wrong lengths of x or y are an error. It allocates nothing.
func (b *Batcher) NextFloat32(x []float32, y []int) (n int, err error) {
	return next(b, x, y, &normalised32)
}

// NextFloat64 is NextFloat32 for float64 models.
func (b *Batcher) NextFloat64(x []float64, y []int) (n int, err error) {
	return next(b, x, y, &normalised64)
}

func next[T float32 | float64](b *Batcher, x []T, y []int, lut *[256]T) (int, error) {
	d, bs := b.d, b.opt.BatchSize
	size := d.Rows * d.Cols
	if len(x) != bs*size || len(y) != bs {
		return 0, errors.Errorf("mnist: batch buffers of length %d and %d, want %d (%d x 1 x %d x %d) and %d",
			len(x), len(y), bs*size, bs, d.Rows, d.Cols, bs)
	}
	if !b.active {
		b.startEpoch()
	}
	if b.pos >= b.end {
		b.active = false
		return 0, io.EOF
	}
	n := min(bs, b.end-b.pos)
	pad := b.opt.CropPad
	for k := range n {
		i := b.perm[b.pos+k]
		dx, dy := 0, 0
		if pad > 0 {
			dx, dy = b.opt.Rand.IntN(2*pad+1)-pad, b.opt.Rand.IntN(2*pad+1)-pad
		}
		shiftNormalize(x[k*size:(k+1)*size], d.Pixels[i*size:(i+1)*size], d.Rows, d.Cols, dx, dy, lut)
		y[k] = int(d.Labels[i])
	}
	b.pos += n
	return n, nil
}

// startEpoch rewinds and, with Shuffle, permutes the examples (Fisher-Yates, so every permutation is equally
// likely and the order depends only on the Rand's state).
func (b *Batcher) startEpoch() {
	b.active, b.pos = true, 0
	b.epoch++
	if !b.opt.Shuffle {
		return
	}
	for i := len(b.perm) - 1; i > 0; i-- {
		j := b.opt.Rand.IntN(i + 1)
		b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
	}
}
