package safetensors

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read. It must never panic; whatever it accepts must be valid tensors that
// survive a Write/Read round trip unchanged.
func FuzzRead(f *testing.F) {
	f.Add(golden)
	f.Add(build(`{}`, nil))
	f.Add(build(`{"__metadata__":{"a":"b"}}`, nil))
	f.Add(build(`{"b":{"data_offsets":[0,8],"shape":[],"dtype":"F64"},"a":{"dtype":"I16","shape":[1,2],"data_offsets":[8,12]}}`,
		make([]byte, 12)))
	f.Add(build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`,
		[]byte{1, 2}))
	f.Add(build(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(golden[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		tensors, meta, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, x := range tensors {
			if err := x.Validate(); err != nil {
				t.Fatalf("Read returned invalid tensor %q: %v", name, err)
			}
		}
		var b bytes.Buffer
		if err := Write(&b, tensors, meta); err != nil {
			// Read accepts names Write refuses (e.g. ""); that is the only acceptable failure.
			if _, ok := tensors[""]; ok {
				return
			}
			t.Fatalf("Write of what Read accepted failed: %v", err)
		}
		again, meta2, err := Read(&b)
		if err != nil {
			t.Fatalf("re-reading our own output: %v", err)
		}
		if len(meta) == 0 && len(meta2) == 0 {
			meta, meta2 = nil, nil
		}
		if !reflect.DeepEqual(meta, meta2) || len(again) != len(tensors) {
			t.Fatalf("round trip changed metadata or count")
		}
		for name, x := range tensors {
			y := again[name]
			if x.DType != y.DType || !bytes.Equal(x.Data, y.Data) || len(x.Shape) != len(y.Shape) {
				t.Fatalf("round trip changed tensor %q", name)
			}
			for i := range x.Shape {
				if x.Shape[i] != y.Shape[i] {
					t.Fatalf("round trip changed the shape of %q", name)
				}
			}
		}
	})
}
