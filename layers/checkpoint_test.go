package layers

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/internal/safetensors"
)

func forwardCopy(t *testing.T, m *Model, x []float64) []float64 {
	t.Helper()
	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), y...)
}

// TestCheckpointRoundTrip: save -> load into a freshly (differently) initialised model
// gives bit-identical parameters and outputs; F32 checkpoints load as the float32
// roundings; the configuration is readable on its own.
func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := convResNet(t, graph.NewParams(rand.New(rand.NewPCG(30, 31))), graph.Options{Workers: 1})
	rng := rand.New(rand.NewPCG(32, 33))
	for i := range src.Params.Flat() { // non-round values everywhere, GroupNorm's included
		src.Params.Flat()[i] += 0.1 * rng.NormFloat64()
	}
	x := randVec(rng, 4*src.InDim())
	want := forwardCopy(t, src, x)
	path := filepath.Join(dir, "model.safetensors")
	if err := src.Save(path, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := convResNet(t, graph.NewParams(rand.New(rand.NewPCG(99, 98))), graph.Options{Workers: 1})
	if err := dst.Load(path); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst.Params.Flat() {
		if math.Float64bits(v) != math.Float64bits(src.Params.Flat()[i]) {
			t.Fatalf("parameter value %d: %v loaded, %v saved", i, v, src.Params.Flat()[i])
		}
	}
	got := forwardCopy(t, dst, x)
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("output %d: %v after loading, %v before saving", i, got[i], want[i])
		}
	}
	var cfg map[string]any
	if err := ReadConfig(path, &cfg); err != nil || cfg["model"] != "conv-resnet" || cfg["channels"] != 4.0 {
		t.Errorf("ReadConfig: %v, %v", cfg, err)
	}

	p32 := filepath.Join(dir, "model32.safetensors")
	if err := src.Save(p32, SaveOptions{Float32: true}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Load(p32); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst.Params.Flat() {
		if v != float64(float32(src.Params.Flat()[i])) {
			t.Fatalf("F32 checkpoint, value %d: %v, want the float32 rounding of %v", i, v, src.Params.Flat()[i])
		}
	}
	// The file is plain safetensors: names and shapes as PyTorch would see them.
	ts, _, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := ts["down.0.weight"]; w.DType != safetensors.F64 || !equalInts(w.Shape, []int{4, 1, 3, 3}) {
		t.Errorf("down.0.weight stored as %s %v", w.DType, w.Shape)
	}
}

// TestCheckpointRejects: corrupt, truncated and mismatched files give an error and
// leave the model untouched. (A flipped bit inside the tensor data cannot be detected:
// safetensors has no checksum.)
func TestCheckpointRejects(t *testing.T) {
	dir := t.TempDir()
	ps := graph.NewParams(rand.New(rand.NewPCG(40, 41)))
	src := convResNet(t, ps, graph.Options{Workers: 1})
	good := filepath.Join(dir, "good.safetensors")
	if err := src.Save(good, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdr := int(binary.LittleEndian.Uint64(raw))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A file with the model's names but one tensor changed in some way.
	variant := func(name string, edit func(map[string]safetensors.Tensor), meta map[string]string) string {
		ts, md, err := safetensors.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		edit(ts)
		if meta != nil {
			md = meta
		}
		p := filepath.Join(dir, name)
		if err := safetensors.WriteFile(p, ts, md); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), raw...)
	corrupt[8+hdr/2] ^= 0x5a // inside the JSON header
	badLen := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint64(badLen, uint64(len(raw)))

	cases := map[string]string{
		"truncated":       write("truncated", raw[:len(raw)-13]),
		"header only":     write("header", raw[:8+hdr]),
		"empty":           write("empty", nil),
		"corrupt header":  write("corrupt", corrupt),
		"header too long": write("badlen", badLen),
		"missing file":    filepath.Join(dir, "nope.safetensors"),
		"missing tensor":  variant("missing", func(m map[string]safetensors.Tensor) { delete(m, "head.3.bias") }, nil),
		"extra tensor":    variant("extra", func(m map[string]safetensors.Tensor) { m["head.4.weight"] = m["head.3.bias"] }, nil),
		"renamed tensor":  variant("renamed", func(m map[string]safetensors.Tensor) { m["head.3.b"] = m["head.3.bias"]; delete(m, "head.3.bias") }, nil),
		"wrong shape": variant("shape", func(m map[string]safetensors.Tensor) {
			w := m["head.3.weight"]
			w.Shape = []int{4, 3}
			m["head.3.weight"] = w
		}, nil),
		"wrong dtype": variant("dtype", func(m map[string]safetensors.Tensor) {
			w := m["head.3.bias"]
			w.DType = safetensors.I64
			m["head.3.bias"] = w
		}, nil),
		"mixed dtypes": variant("mixed", func(m map[string]safetensors.Tensor) {
			m["head.3.bias"], _ = safetensors.FromFloat32([]int{3}, []float32{1, 2, 3})
		}, nil),
		"other config": variant("config", func(map[string]safetensors.Tensor) {}, map[string]string{"config": `{"model":"conv-resnet","channels":8}`}),
		"no config":    variant("noconfig", func(map[string]safetensors.Tensor) {}, map[string]string{"format": "x"}),
	}
	m := convResNet(t, graph.NewParams(rand.New(rand.NewPCG(50, 51))), graph.Options{Workers: 1})
	before := append([]float64(nil), m.Params.Flat()...)
	for name, path := range cases {
		if err := m.Load(path); err == nil {
			t.Errorf("%s: no error", name)
		}
		for i, v := range m.Params.Flat() {
			if math.Float64bits(v) != math.Float64bits(before[i]) {
				t.Fatalf("%s: the failed load changed parameter value %d", name, i)
			}
		}
	}
	// Key order and spacing of the configuration JSON do not matter.
	same := variant("sameconfig", func(map[string]safetensors.Tensor) {}, map[string]string{"config": `{ "channels": 4, "model": "conv-resnet" }`})
	if err := m.Load(same); err != nil {
		t.Errorf("equivalent configuration rejected: %v", err)
	}
}

// TestCheckpointMetadata: extra metadata round-trips through ReadMetadata next to the
// configuration; the checkpoint's own keys cannot be overwritten.
func TestCheckpointMetadata(t *testing.T) {
	ps := graph.NewParams(nil)
	if _, err := ps.Add("w", []int{2}, graph.Constant(1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := SaveParams(path, ps, map[string]int{"n": 2}, SaveOptions{Metadata: map[string]string{"progress": `{"epoch":3}`}}); err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["progress"] != `{"epoch":3}` || meta["config"] != `{"n":2}` {
		t.Errorf("metadata %v", meta)
	}
	for _, k := range []string{"config", "format"} {
		if err := SaveParams(path, ps, nil, SaveOptions{Metadata: map[string]string{k: "x"}}); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("metadata key %q: error %v", k, err)
		}
	}
	if _, err := ReadMetadata(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadMetadata of a missing file: no error")
	}
}
