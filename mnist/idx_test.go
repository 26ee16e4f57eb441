package mnist

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// idxBytes assembles an IDX file by hand from the format's definition: two zero bytes, the type byte, the number
// of dimensions, each dimension as a big-endian uint32, then the data.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	out := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		out = append(out, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(out, data...)
}

func gz(t testing.TB, raw []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestReadIDXRawAndGzip(t *testing.T) {
	raw := idxBytes(0x08, []uint32{2, 3, 4}, seq(24))
	dir := t.TempDir()
	for name, file := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		x, err := ReadIDX(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(x.Dims, []int{2, 3, 4}) || !bytes.Equal(x.Data, seq(24)) {
			t.Errorf("%s: got %v %v", name, x.Dims, x.Data)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		if y, err := ReadIDXFile(path); err != nil || !reflect.DeepEqual(x, y) {
			t.Errorf("%s: ReadIDXFile = %v, %v", name, y, err)
		}
	}
	// A zero dimension is a valid, empty file.
	if x, err := ReadIDX(bytes.NewReader(idxBytes(0x08, []uint32{0, 28, 28}, nil))); err != nil || len(x.Data) != 0 {
		t.Errorf("empty file: %v, %v", x, err)
	}
	if _, err := ReadIDXFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadIDXFile of a missing file succeeded")
	}
}

// TestReadIDXTruncated cuts raw and gzip files at every byte: in the magic number, in the dimensions, in the data,
// and in gzip's trailer. Every prefix is an error.
func TestReadIDXTruncated(t *testing.T) {
	raw := idxBytes(0x08, []uint32{3, 2, 2}, seq(12))
	for name, file := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		for n := 0; n < len(file); n++ {
			if x, err := ReadIDX(bytes.NewReader(file[:n])); err == nil {
				t.Errorf("%s: %d of %d bytes accepted as %v", name, n, len(file), x.Dims)
			}
		}
	}
}

func TestReadIDXCorrupt(t *testing.T) {
	good := idxBytes(0x08, []uint32{2, 3}, seq(6))
	flip := func(b []byte, i int) []byte {
		c := append([]byte{}, b...)
		c[i] ^= 0xff
		return c
	}
	gzGood := gz(t, good)
	cases := map[string][]byte{
		"empty":              nil,
		"first magic byte":   flip(good, 0),
		"second magic byte":  flip(good, 1),
		"type float32":       idxBytes(0x0D, []uint32{2}, make([]byte, 8)),
		"type int32":         idxBytes(0x0C, []uint32{2}, make([]byte, 8)),
		"type unknown":       idxBytes(0x42, []uint32{2}, make([]byte, 2)),
		"zero dimensions":    idxBytes(0x08, nil, nil),
		"data short by one":  idxBytes(0x08, []uint32{2, 3}, seq(5)),
		"trailing byte":      idxBytes(0x08, []uint32{2, 3}, seq(7)),
		"count mismatch":     idxBytes(0x08, []uint32{3, 3}, seq(6)),
		"gzip crc":           flip(gzGood, len(gzGood)-6),
		"gzip size":          flip(gzGood, len(gzGood)-2),
		"gzip body":          flip(gzGood, 12),
		"gzip trailing byte": gz(t, append(append([]byte{}, good...), 0)),
		"gzip then garbage":  append(append([]byte{}, gzGood...), 1, 2, 3),
	}
	for name, file := range cases {
		if x, err := ReadIDX(bytes.NewReader(file)); err == nil {
			t.Errorf("%s: accepted as %v %v", name, x.Dims, x.Data)
		}
	}
}

// TestReadIDXHugeClaims: a header claiming gigabytes (or exabytes) fails at once and without allocating anything
// near the claim, raw or gzip-compressed.
func TestReadIDXHugeClaims(t *testing.T) {
	cases := map[string][]byte{
		"4G x 4G":              idxBytes(0x08, []uint32{0xffffffff, 0xffffffff}, seq(10)),
		"255 dims of 2^32-1":   idxBytes(0x08, bytes255(), nil),
		"just over the cap":    idxBytes(0x08, []uint32{1 << 15, 1<<15 + 1}, seq(10)),
		"under the cap, short": idxBytes(0x08, []uint32{1000000, 28, 28}, seq(100)),
	}
	for name, raw := range cases {
		for kind, file := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := ReadIDX(bytes.NewReader(file))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("%s (%s): accepted", name, kind)
			}
			// readN allocates at most 4 MiB up front; bufio and gzip add well under 1 MiB.
			if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
				t.Errorf("%s (%s): allocated %d bytes", name, kind, got)
			}
			if elapsed > time.Second {
				t.Errorf("%s (%s): took %v", name, kind, elapsed)
			}
		}
	}
}

func bytes255() []uint32 {
	d := make([]uint32, 255)
	for i := range d {
		d[i] = 0xffffffff
	}
	return d
}

// FuzzReadIDX: ReadIDX must never panic, and what it accepts must be self-consistent.
func FuzzReadIDX(f *testing.F) {
	good := idxBytes(0x08, []uint32{2, 3}, seq(6))
	f.Add(good)
	f.Add(gz(f, good))
	f.Add(idxBytes(0x08, []uint32{1, 28, 28}, seq(784)))
	f.Add(idxBytes(0x08, []uint32{0xffffffff, 0xffffffff}, seq(3)))
	f.Add(idxBytes(0x0D, []uint32{1}, seq(4)))
	f.Add(good[:5])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ReadIDX(bytes.NewReader(data))
		if err != nil {
			return
		}
		size := 1
		for _, d := range x.Dims {
			if d < 0 {
				t.Fatalf("negative dimension in %v", x.Dims)
			}
			size *= d
		}
		if len(x.Dims) == 0 || size != len(x.Data) {
			t.Fatalf("dims %v but %d bytes", x.Dims, len(x.Data))
		}
	})
}
