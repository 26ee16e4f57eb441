package safetensors

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/pkg/errors"
)

// DType is a tensor element type, spelled as in the file's header ("F64", "F32", ...).
type DType string

// The element types of the safetensors specification whose elements are whole bytes. Size reports their widths.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	C64    DType = "C64"
)

// Size returns the width of one element in bytes, or 0 for a dtype this package does not know.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E5M2, F8E4M3:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64, C64:
		return 8
	}
	return 0
}

// Tensor is one named array of a file: its element type, its shape (row-major; an empty shape is a scalar) and its
// raw little-endian bytes. Tensors returned by Read share one buffer; their Data slices have capped capacity, so
// appending to one never overwrites another.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// numBytes returns the byte size that shape and dtype imply, or an error for an unknown dtype, a negative
// dimension, or a product that does not fit in an int.
func numBytes(dtype DType, shape []int) (int, error) {
	size := dtype.Size()
	if size == 0 {
		return 0, errors.Errorf("unknown dtype %q", string(dtype))
	}
	n := uint64(size)
	for _, d := range shape {
		if d < 0 {
			return 0, errors.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, errors.Errorf("shape %v of %s overflows the addressable size", shape, dtype)
		}
		n = lo
	}
	return int(n), nil
}

// Validate reports whether t is consistent: a known dtype, no negative dimension, and len(Data) equal to the
// product of the shape times the dtype's size.
func (t Tensor) Validate() error {
	n, err := numBytes(t.DType, t.Shape)
	if err != nil {
		return err
	}
	if len(t.Data) != n {
		return errors.Errorf("%s tensor of shape %v needs %d bytes, has %d", t.DType, t.Shape, n, len(t.Data))
	}
	return nil
}

// checkLen validates a constructor's shape against the number of elements it was given.
func checkLen(dtype DType, shape []int, n int) error {
	bytes, err := numBytes(dtype, shape)
	if err != nil {
		return err
	}
	if bytes/dtype.Size() != n {
		return errors.Errorf("shape %v holds %d elements, data has %d", shape, bytes/dtype.Size(), n)
	}
	return nil
}

// FromFloat64 returns an F64 tensor holding a copy of data with the given shape (copied too). It returns an error
// if a dimension is negative or the shape's product differs from len(data).
func FromFloat64(shape []int, data []float64) (Tensor, error) {
	if err := checkLen(F64, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{DType: F64, Shape: append([]int{}, shape...), Data: b}, nil
}

// FromFloat32 returns an F32 tensor holding a copy of data with the given shape (copied too). It returns an error
// if a dimension is negative or the shape's product differs from len(data).
func FromFloat32(shape []int, data []float32) (Tensor, error) {
	if err := checkLen(F32, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{DType: F32, Shape: append([]int{}, shape...), Data: b}, nil
}

// FromInt64 returns an I64 tensor holding a copy of data with the given shape (copied too), for counters such as
// an optimiser's step. It returns an error if a dimension is negative or the shape's product differs from len(data).
func FromInt64(shape []int, data []int64) (Tensor, error) {
	if err := checkLen(I64, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{DType: I64, Shape: append([]int{}, shape...), Data: b}, nil
}

// Float64s decodes an F64 tensor into a new slice; the bits are preserved exactly (NaN payloads, -0, subnormals).
// It returns an error if the dtype is not F64 or the tensor is inconsistent (see Validate).
func (t Tensor) Float64s() ([]float64, error) {
	if t.DType != F64 {
		return nil, errors.Errorf("tensor is %s, not F64", t.DType)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]float64, len(t.Data)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Float32s decodes an F32 tensor into a new slice; the bits are preserved exactly (NaN payloads, -0, subnormals).
// It returns an error if the dtype is not F32 or the tensor is inconsistent (see Validate).
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != F32 {
		return nil, errors.Errorf("tensor is %s, not F32", t.DType)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Int64s decodes an I64 tensor into a new slice. It returns an error if the dtype is not I64 or the tensor is
// inconsistent (see Validate).
func (t Tensor) Int64s() ([]int64, error) {
	if t.DType != I64 {
		return nil, errors.Errorf("tensor is %s, not I64", t.DType)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Data)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}
