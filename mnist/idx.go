package mnist

import (
	"bufio"
	"compress/gzip"
	"io"
	"math/bits"
	"os"

	"github.com/pkg/errors"
)

// MaxIDXBytes is the largest data section ReadIDX accepts (1 GiB; MNIST's training images are 47 MB). A header
// claiming more is taken as corruption before anything is allocated.
const MaxIDXBytes = 1 << 30

// IDX is the content of one IDX file of unsigned bytes (type 0x08): its dimensions, outermost first, and its
// row-major data with len(Data) equal to the product of Dims.
type IDX struct {
	Dims []int
	Data []byte
}

// idxTypes names the IDX element types, for error messages about the ones this package does not read.
var idxTypes = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads one IDX file of unsigned bytes from r, gzip-compressed or raw (detected from gzip's magic bytes).
// It validates the magic number (0x00 0x00 type ndims), requires type 0x08 and at least one dimension, and
// requires the data to end exactly where the dimensions say (for gzip, the checksum is verified too). Truncated,
// corrupt or oversized input returns an error, never a panic. Memory grows with the bytes actually read, so a
// corrupt header claiming a large size in a short file fails without a large allocation.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	src := io.Reader(br)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, errors.Wrap(err, "idx: gzip header")
		}
		defer gz.Close()
		src = gz
	}
	var head [4]byte
	if _, err := io.ReadFull(src, head[:]); err != nil {
		return nil, errors.Wrap(noEOF(err), "idx: reading magic number")
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, errors.Errorf("idx: bad magic number % x: the first two bytes must be zero", head)
	}
	if head[2] != 0x08 {
		name, ok := idxTypes[head[2]]
		if !ok {
			name = "unknown"
		}
		return nil, errors.Errorf("idx: data type 0x%02x (%s) is not supported, only 0x08 (unsigned byte)", head[2], name)
	}
	ndims := int(head[3])
	if ndims == 0 {
		return nil, errors.New("idx: zero dimensions")
	}
	dimBytes := make([]byte, 4*ndims)
	if _, err := io.ReadFull(src, dimBytes); err != nil {
		return nil, errors.Wrapf(noEOF(err), "idx: reading %d dimensions", ndims)
	}
	dims := make([]int, ndims)
	size := uint64(1)
	for i := range dims {
		d := uint64(dimBytes[4*i])<<24 | uint64(dimBytes[4*i+1])<<16 | uint64(dimBytes[4*i+2])<<8 | uint64(dimBytes[4*i+3])
		dims[i] = int(d)
		hi, lo := bits.Mul64(size, d)
		if hi != 0 || lo > MaxIDXBytes {
			return nil, errors.Errorf("idx: dimensions %v exceed the cap of %d bytes", dimsSoFar(dimBytes, i), MaxIDXBytes)
		}
		size = lo
	}
	data, err := readN(src, int(size))
	if err != nil {
		return nil, errors.Wrapf(err, "idx: truncated data for dimensions %v", dims)
	}
	var one [1]byte
	if k, err := io.ReadFull(src, one[:]); k != 0 {
		return nil, errors.Errorf("idx: trailing bytes after the %d bytes of dimensions %v", size, dims)
	} else if err != io.EOF {
		// A gzip checksum or framing error surfaces here, at the end of the stream.
		return nil, errors.Wrap(err, "idx: after the data")
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// dimsSoFar decodes the first i+1 big-endian dimensions, for error messages.
func dimsSoFar(b []byte, i int) []uint32 {
	out := make([]uint32, i+1)
	for k := range out {
		out[k] = uint32(b[4*k])<<24 | uint32(b[4*k+1])<<16 | uint32(b[4*k+2])<<8 | uint32(b[4*k+3])
	}
	return out
}

// ReadIDXFile reads the IDX file at path (see ReadIDX); errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrap(err, "mnist")
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, errors.Wrapf(err, "mnist: %s", path)
	}
	return x, nil
}

// noEOF turns an early end of stream into io.ErrUnexpectedEOF: inside a file any end is premature.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readN reads exactly n bytes. It allocates at most 4 MiB up front and doubles as data arrives, so a corrupt size
// in a short stream costs at most about twice the stream's real size.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, 4<<20))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, errors.Wrapf(noEOF(err), "got %d of %d bytes", len(buf), n)
		}
	}
	return buf, nil
}
