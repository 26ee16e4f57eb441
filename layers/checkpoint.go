package layers

import (
	"bytes"
	"encoding/json"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/internal/safetensors"
	"github.com/pkg/errors"
)

// Metadata keys of a checkpoint's safetensors header.
const (
	metaFormat = "format"
	metaConfig = "config"
	formatName = "neuralode/layers v1"
)

// SaveOptions configure a checkpoint.
type SaveOptions struct {
	// Float32 stores the parameters as F32 (half the size; loading widens them back to
	// float64 exactly, but the values are the float32 roundings). The default is F64,
	// which round-trips bit for bit.
	Float32 bool
	// Metadata holds extra string entries for the file's header (training progress,
	// provenance), read back with ReadMetadata. The keys "config" and "format" are the
	// checkpoint's own and may not be used.
	Metadata map[string]string
}

// SaveParams writes every parameter of ps under its name to a safetensors file at path,
// with config encoded as JSON in the header's metadata ("config"). The file is written
// atomically (a temporary file renamed over path). Any tool that reads safetensors
// (PyTorch's safetensors.torch.load_file, for one) reads it.
func SaveParams(path string, ps *graph.Params, config any, opt SaveOptions) error {
	if ps == nil {
		return errors.New("layers: SaveParams needs a parameter set")
	}
	tensors := make(map[string]safetensors.Tensor, len(ps.List()))
	for _, p := range ps.List() {
		v := ps.Value(p)
		var t safetensors.Tensor
		var err error
		if opt.Float32 {
			f := make([]float32, len(v))
			for i, x := range v {
				f[i] = float32(x)
			}
			t, err = safetensors.FromFloat32(p.Shape, f)
		} else {
			t, err = safetensors.FromFloat64(p.Shape, v)
		}
		if err != nil {
			return errors.Wrapf(err, "layers: parameter %q", p.Name)
		}
		tensors[p.Name] = t
	}
	meta := map[string]string{metaFormat: formatName}
	for k, v := range opt.Metadata {
		if k == metaFormat || k == metaConfig {
			return errors.Errorf("layers: metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	if config != nil {
		b, err := json.Marshal(config)
		if err != nil {
			return errors.Wrap(err, "layers: encoding the model configuration")
		}
		meta[metaConfig] = string(b)
	}
	if err := safetensors.WriteFile(path, tensors, meta); err != nil {
		return errors.Wrap(err, "layers: saving checkpoint")
	}
	return nil
}

// LoadParams reads a checkpoint written by SaveParams (or any safetensors file of F64 or
// F32 tensors) into ps. It validates the whole file before changing anything: the file
// must be a well-formed safetensors file, hold exactly the parameters of ps (no missing
// and no extra names), each with the parameter's shape, all in one dtype, F64 or F32;
// and if config is not nil, the file's configuration must be present and equal to
// config encoded as JSON. On any error ps is left untouched.
func LoadParams(path string, ps *graph.Params, config any) error {
	if ps == nil {
		return errors.New("layers: LoadParams needs a parameter set")
	}
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return errors.Wrap(err, "layers: loading checkpoint")
	}
	if config != nil {
		want, err := json.Marshal(config)
		if err != nil {
			return errors.Wrap(err, "layers: encoding the model configuration")
		}
		got, ok := meta[metaConfig]
		if !ok {
			return errors.Errorf("layers: %s has no model configuration", path)
		}
		if !sameJSON([]byte(got), want) {
			return errors.Errorf("layers: %s was saved for the configuration %s, the model has %s", path, got, want)
		}
	}
	if len(tensors) != len(ps.List()) {
		extra := ""
		for name := range tensors {
			if ps.Lookup(name) == nil {
				extra = name
				break
			}
		}
		return errors.Errorf("layers: %s holds %d tensors, the model has %d parameters (first unknown: %q)", path, len(tensors), len(ps.List()), extra)
	}
	staged := make([]float64, ps.Len())
	var dtype safetensors.DType
	for _, p := range ps.List() {
		t, ok := tensors[p.Name]
		if !ok {
			return errors.Errorf("layers: %s has no tensor %q", path, p.Name)
		}
		if !equalInts(t.Shape, p.Shape) {
			return errors.Errorf("layers: %s: tensor %q has shape %v, the parameter %v", path, p.Name, t.Shape, p.Shape)
		}
		if dtype == "" {
			dtype = t.DType
		}
		if t.DType != dtype {
			return errors.Errorf("layers: %s: tensor %q is %s, others %s", path, p.Name, t.DType, dtype)
		}
		dst := staged[p.Offset : p.Offset+p.Size]
		switch t.DType {
		case safetensors.F64:
			v, err := t.Float64s()
			if err != nil {
				return errors.Wrapf(err, "layers: %s: tensor %q", path, p.Name)
			}
			copy(dst, v)
		case safetensors.F32:
			v, err := t.Float32s()
			if err != nil {
				return errors.Wrapf(err, "layers: %s: tensor %q", path, p.Name)
			}
			for i, x := range v {
				dst[i] = float64(x)
			}
		default:
			return errors.Errorf("layers: %s: tensor %q is %s, want F64 or F32", path, p.Name, t.DType)
		}
	}
	return ps.SetFlat(staged)
}

// ReadConfig decodes the model configuration stored in the checkpoint at path into
// config (a pointer), so a program can rebuild the model before loading its parameters.
func ReadConfig(path string, config any) error {
	_, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return errors.Wrap(err, "layers: reading checkpoint")
	}
	c, ok := meta[metaConfig]
	if !ok {
		return errors.Errorf("layers: %s has no model configuration", path)
	}
	return errors.Wrapf(json.Unmarshal([]byte(c), config), "layers: %s: decoding the configuration", path)
}

// ReadMetadata returns the header metadata of a checkpoint (or any safetensors file):
// the entries of SaveOptions.Metadata, and "config" and "format". It validates the whole
// file first, so a truncated or corrupt file is an error.
func ReadMetadata(path string) (map[string]string, error) {
	_, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, errors.Wrap(err, "layers: reading checkpoint")
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return meta, nil
}

// Save writes the model's parameters and Config to path (see SaveParams).
func (m *Model) Save(path string, opt SaveOptions) error {
	return SaveParams(path, m.Params, m.Config, opt)
}

// Load reads the model's parameters from path, checking names, shapes, dtypes and the
// configuration against the model first (see LoadParams); on error the model is unchanged.
func (m *Model) Load(path string) error {
	return LoadParams(path, m.Params, m.Config)
}

// sameJSON reports whether two JSON texts encode the same value (key order and spacing aside).
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}
