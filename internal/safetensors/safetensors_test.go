package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

// golden is one F32 tensor "x" of shape [2] holding {1, 2} with metadata {"format": "pt"}, assembled by hand from
// the specification, not by our writer: the 85-byte header padded with 3 spaces to 88 = 0x58 bytes, then 1.0f
// (0x3f800000) and 2.0f (0x40000000) little-endian.
var golden = []byte("\x58\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` + "   " +
	"\x00\x00\x80\x3f" + "\x00\x00\x00\x40")

func TestGoldenWrite(t *testing.T) {
	x, err := FromFloat32([]int{2}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, map[string]Tensor{"x": x}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), golden) {
		t.Fatalf("writer output differs from the hand-built file:\n got %q\nwant %q", b.Bytes(), golden)
	}
}

func TestGoldenRead(t *testing.T) {
	tensors, meta, err := Read(bytes.NewReader(golden))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(meta, map[string]string{"format": "pt"}) {
		t.Errorf("metadata = %v", meta)
	}
	if len(tensors) != 1 {
		t.Fatalf("got %d tensors, want 1", len(tensors))
	}
	x := tensors["x"]
	if x.DType != F32 || !reflect.DeepEqual(x.Shape, []int{2}) {
		t.Errorf("x is %s %v, want F32 [2]", x.DType, x.Shape)
	}
	v, err := x.Float32s()
	if err != nil || !reflect.DeepEqual(v, []float32{1, 2}) {
		t.Errorf("x = %v, %v; want [1 2]", v, err)
	}
}

// build assembles a file from a header string and a buffer, with the length prefix computed.
func build(hdr string, buf []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(out, hdr...), buf...)
}

// TestReadForeignLayout reads a file laid out the way other writers may do it: unpadded header, keys in another
// order, whitespace, tensors stored out of name order, a scalar and a zero-size tensor, no metadata.
func TestReadForeignLayout(t *testing.T) {
	hdr := `{ "b" : {"data_offsets":[0,8], "shape":[], "dtype":"F64"},
	"a": {"shape":[1,2],"dtype":"I16","data_offsets":[8,12]},
	"empty": {"dtype":"F32","shape":[3,0],"data_offsets":[12,12]} }`
	buf := binary.LittleEndian.AppendUint64(nil, math.Float64bits(-2.5))
	buf = append(buf, 0x01, 0x00, 0xff, 0xff) // I16 {1, -1}
	tensors, meta, err := Read(bytes.NewReader(build(hdr, buf)))
	if err != nil {
		t.Fatal(err)
	}
	if meta != nil {
		t.Errorf("metadata = %v, want nil", meta)
	}
	if b, err := tensors["b"].Float64s(); err != nil || len(b) != 1 || b[0] != -2.5 || len(tensors["b"].Shape) != 0 {
		t.Errorf("b = %v %v (shape %v), want scalar -2.5", b, err, tensors["b"].Shape)
	}
	if a := tensors["a"]; a.DType != I16 || !bytes.Equal(a.Data, buf[8:12]) {
		t.Errorf("a = %+v", a)
	}
	if e := tensors["empty"]; len(e.Data) != 0 || !reflect.DeepEqual(e.Shape, []int{3, 0}) {
		t.Errorf("empty = %+v", e)
	}
	// Data slices are capped: appending to one must not overwrite its neighbour.
	b := tensors["b"]
	_ = append(b.Data, 0xAA)
	if !bytes.Equal(tensors["a"].Data, buf[8:12]) {
		t.Error("appending to one tensor's Data overwrote the next tensor")
	}
}

func specialFloat64s() []float64 {
	return []float64{
		0, math.Copysign(0, -1), 1, -1, math.Pi,
		math.Float64frombits(1),                  // smallest subnormal
		math.Float64frombits(0x000fffffffffffff), // largest subnormal
		math.MaxFloat64, math.Inf(1), math.Inf(-1),
		math.NaN(),
		math.Float64frombits(0x7ff0000000000001), // signalling NaN, payload 1
		math.Float64frombits(0xfff8deadbeef0042), // negative quiet NaN with a payload
	}
}

func specialFloat32s() []float32 {
	return []float32{
		0, float32(math.Copysign(0, -1)), 1, -1, math.Pi,
		math.Float32frombits(1), math.Float32frombits(0x007fffff),
		math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffc0beef),
	}
}

func TestRoundTripBitIdentical(t *testing.T) {
	f64 := specialFloat64s()
	f32 := specialFloat32s()
	a, err := FromFloat64([]int{len(f64)}, f64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromFloat32([]int{3, 4}, f32)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromInt64(nil, []int64{math.MinInt64})
	if err != nil {
		t.Fatal(err)
	}
	z, err := FromFloat64([]int{0, 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]Tensor{
		"layer.0/w<&>": a, "b": b, "step": c, "zero": z,
		"raw.u8": {DType: U8, Shape: []int{3}, Data: []byte{0, 128, 255}},
		"λ":      {DType: BF16, Shape: []int{1}, Data: []byte{0x80, 0x3f}},
	}
	meta := map[string]string{"epoch": "3", "note": "ü \"quoted\" <tag> & \n newline"}

	check := func(t *testing.T, out map[string]Tensor, gotMeta map[string]string) {
		t.Helper()
		if !reflect.DeepEqual(gotMeta, meta) {
			t.Errorf("metadata = %q, want %q", gotMeta, meta)
		}
		if len(out) != len(in) {
			t.Fatalf("got %d tensors, want %d", len(out), len(in))
		}
		for name, want := range in {
			got := out[name]
			if got.DType != want.DType || !bytes.Equal(got.Data, want.Data) ||
				len(got.Shape) != len(want.Shape) || (len(want.Shape) > 0 && !reflect.DeepEqual(got.Shape, want.Shape)) {
				t.Errorf("tensor %q: got %+v, want %+v", name, got, want)
			}
		}
		g64, err := out["layer.0/w<&>"].Float64s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range f64 {
			if math.Float64bits(g64[i]) != math.Float64bits(f64[i]) {
				t.Errorf("f64[%d]: bits %#x, want %#x", i, math.Float64bits(g64[i]), math.Float64bits(f64[i]))
			}
		}
		g32, err := out["b"].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range f32 {
			if math.Float32bits(g32[i]) != math.Float32bits(f32[i]) {
				t.Errorf("f32[%d]: bits %#x, want %#x", i, math.Float32bits(g32[i]), math.Float32bits(f32[i]))
			}
		}
		if s, err := out["step"].Int64s(); err != nil || s[0] != math.MinInt64 {
			t.Errorf("step = %v, %v", s, err)
		}
	}

	t.Run("stream", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, in, meta); err != nil {
			t.Fatal(err)
		}
		n := binary.LittleEndian.Uint64(buf.Bytes())
		if n%8 != 0 {
			t.Errorf("header length %d is not a multiple of 8", n)
		}
		out, gotMeta, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		check(t, out, gotMeta)
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ckpt.safetensors")
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, in, meta); err != nil {
			t.Fatal(err)
		}
		out, gotMeta, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		check(t, out, gotMeta)
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries after WriteFile, want only the checkpoint", len(entries))
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, %v; want 0644", st.Mode(), err)
		}
	})
}

// TestWriteFileFailureKeepsOldFile: a write that fails validation leaves the previous checkpoint and no temp file.
func TestWriteFileFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := os.WriteFile(path, golden, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Tensor{"w": {DType: F64, Shape: []int{2}, Data: make([]byte, 8)}}
	err := WriteFile(path, bad, nil)
	if err == nil || !strings.Contains(err.Error(), `"w"`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v should name the tensor and the file", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, golden) {
		t.Error("old checkpoint was modified")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left in the directory, want 1", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.safetensors"), nil, nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if _, _, err := ReadFile(filepath.Join(dir, "nope")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

func TestWriteRejects(t *testing.T) {
	ok := Tensor{DType: F32, Shape: []int{1}, Data: make([]byte, 4)}
	cases := map[string]struct {
		tensors map[string]Tensor
		meta    map[string]string
	}{
		"size mismatch":   {map[string]Tensor{"a": {DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, nil},
		"unknown dtype":   {map[string]Tensor{"a": {DType: "F33", Shape: []int{1}, Data: make([]byte, 4)}}, nil},
		"negative dim":    {map[string]Tensor{"a": {DType: F32, Shape: []int{-1}}}, nil},
		"overflow":        {map[string]Tensor{"a": {DType: F64, Shape: []int{math.MaxInt / 2, 4}}}, nil},
		"empty name":      {map[string]Tensor{"": ok}, nil},
		"reserved name":   {map[string]Tensor{"__metadata__": ok}, nil},
		"bad utf8 name":   {map[string]Tensor{"\xff": ok}, nil},
		"bad utf8 meta":   {map[string]Tensor{"a": ok}, map[string]string{"k": "\xfe"}},
		"bad utf8 metkey": {map[string]Tensor{"a": ok}, map[string]string{"\xfe": "v"}},
	}
	for name, c := range cases {
		var b bytes.Buffer
		if err := Write(&b, c.tensors, c.meta); err == nil {
			t.Errorf("%s: Write succeeded", name)
		} else if b.Len() != 0 {
			t.Errorf("%s: Write wrote %d bytes before failing", name, b.Len())
		}
	}
	if err := Write(failWriter{}, map[string]Tensor{"a": ok}, nil); err == nil {
		t.Error("Write to a failing writer succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTensorHelpers(t *testing.T) {
	if _, err := FromFloat64([]int{2, 2}, make([]float64, 3)); err == nil {
		t.Error("FromFloat64 accepted 3 values for shape [2 2]")
	}
	if _, err := FromFloat32([]int{-1}, nil); err == nil {
		t.Error("FromFloat32 accepted a negative dimension")
	}
	if _, err := FromInt64([]int{2}, []int64{1}); err == nil {
		t.Error("FromInt64 accepted 1 value for shape [2]")
	}
	x, _ := FromFloat32([]int{1}, []float32{1})
	if _, err := x.Float64s(); err == nil {
		t.Error("Float64s decoded an F32 tensor")
	}
	if _, err := x.Int64s(); err == nil {
		t.Error("Int64s decoded an F32 tensor")
	}
	x.Data = x.Data[:3]
	if _, err := x.Float32s(); err == nil {
		t.Error("Float32s decoded a tensor with 3 bytes")
	}
	if F64.Size() != 8 || BF16.Size() != 2 || BOOL.Size() != 1 || DType("F4").Size() != 0 {
		t.Error("DType.Size is wrong")
	}
}

// TestTruncated cuts a valid file at every byte: each prefix must be an error from Read and ReadFile, and one
// extra trailing byte must be an error too.
func TestTruncated(t *testing.T) {
	a, _ := FromFloat64([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	var b bytes.Buffer
	if err := Write(&b, map[string]Tensor{"a": a, "x": {DType: U8, Shape: []int{3}, Data: []byte{1, 2, 3}}},
		map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full := b.Bytes()
	dir := t.TempDir()
	path := filepath.Join(dir, "t.safetensors")
	for _, file := range [][]byte{golden, full} {
		for n := 0; n < len(file); n++ {
			if _, _, err := Read(bytes.NewReader(file[:n])); err == nil {
				t.Errorf("Read of %d of %d bytes succeeded", n, len(file))
			}
			if err := os.WriteFile(path, file[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ReadFile(path); err == nil {
				t.Errorf("ReadFile of %d of %d bytes succeeded", n, len(file))
			}
		}
		long := append(append([]byte{}, file...), 0)
		if _, _, err := Read(bytes.NewReader(long)); err == nil {
			t.Error("Read accepted a trailing byte")
		}
		if err := os.WriteFile(path, long, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadFile(path); err == nil {
			t.Error("ReadFile accepted a trailing byte")
		}
	}
}

func TestCorrupt(t *testing.T) {
	f32 := func(off0, off1 int) string {
		return `{"dtype":"F32","shape":[1],"data_offsets":[` + strconv.Itoa(off0) + `,` + strconv.Itoa(off1) + `]}`
	}
	buf8 := make([]byte, 8)
	cases := []struct {
		name, hdr string
		buf       []byte
	}{
		{"empty header", ``, nil},
		{"not JSON", `hello`, nil},
		{"truncated JSON", `{"a":` + f32(0, 4), buf8[:4]},
		{"array", `[]`, nil},
		{"leading space", ` {}`, nil},
		{"trailing garbage", `{}x`, nil},
		{"second object", `{} {}`, nil},
		{"invalid UTF-8", "{\"\xff\":" + f32(0, 4) + "}", buf8[:4]},
		{"unknown dtype", `{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"sub-byte dtype", `{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, buf8[:1]},
		{"dtype not string", `{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"dtype null", `{"a":{"dtype":null,"shape":[1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"fractional dim", `{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, buf8[:4]},
		{"exponent dim", `{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, buf8[:4]},
		{"string dim", `{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, buf8[:4]},
		{"shape null", `{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, buf8[:4]},
		{"shape overflow", `{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil},
		{"dim beyond uint64", `{"a":{"dtype":"F64","shape":[99999999999999999999],"data_offsets":[0,8]}}`, buf8},
		{"missing dtype", `{"a":{"shape":[1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"missing shape", `{"a":{"dtype":"F32","data_offsets":[0,4]}}`, buf8[:4]},
		{"missing offsets", `{"a":{"dtype":"F32","shape":[1]}}`, buf8[:4]},
		{"extra field", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, buf8[:4]},
		{"three offsets", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, buf8[:4]},
		{"negative offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, buf8[:4]},
		{"reversed offsets", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, buf8[:4]},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, buf8[:4]},
		{"entry not object", `{"a":[1,2]}`, nil},
		{"duplicate tensor", `{"a":` + f32(0, 4) + `,"a":` + f32(4, 8) + `}`, buf8},
		{"duplicate field", `{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, buf8[:4]},
		{"duplicate metadata", `{"__metadata__":{},"__metadata__":{}}`, nil},
		{"duplicate metadata key", `{"__metadata__":{"k":"1","k":"2"}}`, nil},
		{"metadata number", `{"__metadata__":{"k":1}}`, nil},
		{"metadata array", `{"__metadata__":["k"]}`, nil},
		{"overlap", `{"a":` + f32(0, 4) + `,"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, buf8},
		{"same range", `{"a":` + f32(0, 4) + `,"b":` + f32(0, 4) + `}`, buf8[:4]},
		{"empty inside another", `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},` +
			`"e":{"dtype":"F64","shape":[0],"data_offsets":[4,4]}}`, buf8},
		{"hole at start", `{"a":` + f32(4, 8) + `}`, buf8},
		{"hole in middle", `{"a":` + f32(0, 4) + `,"b":` + f32(8, 12) + `}`, make([]byte, 12)},
		{"out of range", `{"a":` + f32(0, 4) + `,"b":` + f32(4, 8) + `}`, buf8[:6]},
		{"buffer too long", `{"a":` + f32(0, 4) + `}`, buf8},
		{"offsets beyond uint64", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}`, buf8},
	}
	for _, c := range cases {
		file := build(c.hdr, c.buf)
		if _, _, err := Read(bytes.NewReader(file)); err == nil {
			t.Errorf("%s: Read accepted %q", c.name, file)
		}
		if _, _, err := read(bytes.NewReader(file), int64(len(file))); err == nil {
			t.Errorf("%s: read with known size accepted %q", c.name, file)
		}
	}
	// A null metadata is legal JSON for "no metadata" and is accepted.
	if _, meta, err := Read(bytes.NewReader(build(`{"__metadata__":null}`, nil))); err != nil || meta != nil {
		t.Errorf("null metadata: %v, %v", meta, err)
	}
}

// TestHugeClaimsDoNotAllocate: a short stream whose header claims an enormous header or buffer must fail without
// allocating anything near the claim (a corrupt checkpoint must not take the machine's memory).
func TestHugeClaimsDoNotAllocate(t *testing.T) {
	cases := map[string][]byte{
		"header length 2^63": binary.LittleEndian.AppendUint64(nil, 1<<63),
		"header length cap+1": append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1),
			"{}"...),
		"header length at cap": append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize), "{}"...),
		"buffer 8 TB": build(`{"a":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}}`,
			make([]byte, 64)),
	}
	for name, file := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Read(bytes.NewReader(file))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte stream", name, got, len(file))
		}
	}
}
