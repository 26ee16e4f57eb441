package graph

import (
	"math"
	"reflect"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Data-movement kernels. Gorgonia v0.9.18 has no preallocated form of Transpose or
// Concat (each run allocates, and Transpose copies the whole tensor twice: a safe copy,
// then an iterator-driven permutation), and its Repeat copies a broadcast dimension of
// size 1 one element at a time through reflection. In the convolutional dynamics of the
// MNIST ODE-Net these three ops took about 40 % of a training step. The kernels below
// write the same values straight into the node's persistent buffer with strided loops.
//
// A kernel is only used for an op whose result it reproduces bit for bit: on the first
// run the program computes the op with Gorgonia's Do, runs the kernel into the buffer,
// and keeps the kernel only if the two agree exactly (they move values without arithmetic,
// so anything else is a bug), both on those inputs and on copies filled with distinct
// values (kernelAgreesOnProbe: the first inputs may be all zeros). Later runs fall back to the op whenever an input is not a
// dense, contiguous tensor of the recorded shape.

const (
	kernTranspose = iota + 1
	kernBroadcast
	kernConcat
	kernIm2col
	kernCol2im
	kernSlice
)

type kernel struct {
	kind   int
	perm   []int   // transpose: output axis k is input axis perm[k]
	axis   int     // concat: the axis joined; broadcast: the axis repeated
	shapes [][]int // recorded input shapes (tensor arguments only)
	rep    any     // broadcast: the repeat count the op was compiled with

	// Scratch for the strided copies (no allocation per run).
	shape, dstStrides, srcStrides []int

	// im2col, col2im (kernels_conv.go): the geometry and a padded image plane of
	// scratchLen elements, allocated on the first run in the op's dtype.
	conv       *convGeom
	offsets    []int // kernel rows' offsets in the padded plane
	scratchLen int
	scratch64  []float64
	scratch32  []float32

	// slice: the first index along axis and the sliced shape (the axis kept, length 1
	// for a single index).
	start      int
	sliceShape []int
}

// newKernel returns a kernel for op, or nil when the op is not one of the data-movement
// ops above or its fields cannot be read.
func newKernel(op G.Op, args []G.Value, out tensor.Tensor) *kernel {
	rv := reflect.ValueOf(op)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	k := &kernel{}
	switch name := rv.Type().String(); name {
	case "gorgonia.im2colOp", "gorgonia.col2imOp":
		return newConvKernel(k, rv, name, args, out)
	case "gorgonia.sliceOp":
		return newSliceKernel(k, op, rv, args, out)
	case "gorgonia.transposeOp":
		f := rv.FieldByName("pattern")
		if !f.IsValid() || f.Kind() != reflect.Slice || len(args) != 1 {
			return nil
		}
		k.kind = kernTranspose
		for i := 0; i < f.Len(); i++ {
			k.perm = append(k.perm, int(f.Index(i).Int()))
		}
	case "gorgonia.repeatOp":
		if len(args) != 2 {
			return nil
		}
		in, ok := args[0].(tensor.Tensor)
		if !ok || in.Dims() != out.Dims() {
			return nil
		}
		// Only a broadcast: every input axis equals the output's or has size 1.
		for i, d := range in.Shape() {
			if d != out.Shape()[i] && d != 1 {
				return nil
			}
		}
		f := rv.FieldByName("along")
		if !f.IsValid() || f.Kind() != reflect.Int || int(f.Int()) >= in.Dims() {
			return nil
		}
		k.kind, k.axis, k.rep = kernBroadcast, int(f.Int()), args[1].Data()
	case "gorgonia.concatOp":
		f := rv.FieldByName("axis")
		if !f.IsValid() || f.Kind() != reflect.Int || len(args) < 2 {
			return nil
		}
		k.kind, k.axis = kernConcat, int(f.Int())
	default:
		return nil
	}
	n := out.Dims()
	k.shape, k.dstStrides, k.srcStrides = make([]int, n), make([]int, n), make([]int, n)
	for i, a := range args {
		if k.kind == kernBroadcast && i > 0 {
			break
		}
		t, ok := a.(*tensor.Dense)
		if !ok || t.Dims() != n && k.kind != kernTranspose {
			return nil
		}
		k.shapes = append(k.shapes, slices.Clone([]int(t.Shape())))
	}
	return k
}

// run writes the op's result into dst. It reports false, having written nothing, when
// the arguments are not what the kernel was compiled for.
func (k *kernel) run(dst *tensor.Dense, args []G.Value) bool {
	if k.kind == kernBroadcast {
		if len(args) != 2 || args[1].Data() != k.rep {
			return false
		}
		args = args[:1]
	}
	if len(args) != len(k.shapes) || !dst.IsMaterializable() && dst.RequiresIterator() {
		return false
	}
	for i, a := range args {
		t, ok := a.(*tensor.Dense)
		if !ok || t.Dtype() != dst.Dtype() || t.RequiresIterator() || !slices.Equal([]int(t.Shape()), k.shapes[i]) {
			return false
		}
	}
	switch dst.Dtype() {
	case tensor.Float64:
		return runKernel(k, dst.Float64s(), args, (*tensor.Dense).Float64s)
	case tensor.Float32:
		return runKernel(k, dst.Float32s(), args, (*tensor.Dense).Float32s)
	}
	return false
}

func runKernel[T float32 | float64](k *kernel, dst []T, args []G.Value, data func(*tensor.Dense) []T) bool {
	out, ds, ss := k.shape, k.dstStrides, k.srcStrides
	switch k.kind {
	case kernIm2col, kernCol2im:
		var scratch []T
		switch p := any(&scratch).(type) {
		case *[]float64:
			if k.scratch64 == nil {
				k.scratch64 = make([]float64, k.scratchLen)
			}
			*p = k.scratch64
		case *[]float32:
			if k.scratch32 == nil {
				k.scratch32 = make([]float32, k.scratchLen)
			}
			*p = k.scratch32
		}
		return runConv(k, dst, data(args[0].(*tensor.Dense)), scratch)
	case kernSlice:
		if size(k.sliceShape) != len(dst) {
			return false
		}
		copy(out, k.sliceShape)
		rowMajor(ds, out)
		rowMajor(ss, k.shapes[0])
		src := data(args[0].(*tensor.Dense))
		stridedCopy(dst, ds, src[k.start*ss[k.axis]:], ss, out)
	case kernTranspose:
		in := k.shapes[0]
		if len(in) != len(k.perm) || len(out) != len(in) {
			return false
		}
		var inStrides [8]int
		if len(in) > len(inStrides) {
			return false
		}
		rowMajor(inStrides[:len(in)], in)
		for i, p := range k.perm {
			out[i], ss[i] = in[p], inStrides[p]
		}
		rowMajor(ds, out)
		if size(out) != len(dst) {
			return false
		}
		stridedCopy(dst, ds, data(args[0].(*tensor.Dense)), ss, out)
	case kernBroadcast:
		// A repeatOp repeats axis k.axis (of size 1); dst's length says how many times.
		in := k.shapes[0]
		rest := size(in)
		if rest == 0 || len(dst)%rest != 0 {
			return false
		}
		copy(out, in)
		rowMajor(ss, in)
		for i, d := range in {
			if d == 1 {
				ss[i] = 0
			}
		}
		if grow := len(dst) / rest; grow != 1 {
			if in[k.axis] != 1 {
				return false
			}
			out[k.axis] = grow
		}
		rowMajor(ds, out)
		stridedCopy(dst, ds, data(args[0].(*tensor.Dense)), ss, out)
	case kernConcat:
		total := 0
		for _, s := range k.shapes {
			total += s[k.axis]
		}
		if size(k.shapes[0])/max(k.shapes[0][k.axis], 1)*total != len(dst) {
			return false
		}
		off := 0
		for i, a := range args {
			in := k.shapes[i]
			copy(out, in)
			out[k.axis] = total
			rowMajor(ds, out)
			out[k.axis] = in[k.axis]
			rowMajor(ss, in)
			start := off * ds[k.axis]
			off += in[k.axis]
			stridedCopy(dst[start:], ds, data(a.(*tensor.Dense)), ss, out)
		}
	}
	return true
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// rowMajor writes the row-major strides of shape into s.
func rowMajor(s, shape []int) {
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
}

// stridedCopy copies the elements of a tensor of the given shape from src to dst, each
// addressed by its own strides (a source stride of 0 broadcasts).
func stridedCopy[T float32 | float64](dst []T, ds []int, src []T, ss []int, shape []int) {
	n := collapse(ds, ss, shape)
	stridedCopyN(dst, ds[:n], src, ss[:n], shape[:n])
}

// collapse merges neighbouring axes that both tensors lay out contiguously (so a
// [B, C, H, W] block copy becomes [B, C*H*W]), in place, and returns the new rank.
func collapse(ds, ss, shape []int) int {
	n := 0
	for i := range shape {
		if n > 0 && ds[n-1] == ds[i]*shape[i] && ss[n-1] == ss[i]*shape[i] {
			shape[n-1] *= shape[i]
			ds[n-1], ss[n-1] = ds[i], ss[i]
			continue
		}
		shape[n], ds[n], ss[n] = shape[i], ds[i], ss[i]
		n++
	}
	return n
}

func stridedCopyN[T float32 | float64](dst []T, ds []int, src []T, ss []int, shape []int) {
	n := len(shape)
	if n == 0 {
		dst[0] = src[0]
		return
	}
	if n == 1 {
		m, d, s := shape[0], ds[0], ss[0]
		switch {
		case d == 1 && s == 1:
			copy(dst[:m], src[:m])
		case d == 1 && s == 0:
			v := src[0]
			for i := range dst[:m] {
				dst[i] = v
			}
		default:
			for i := 0; i < m; i++ {
				dst[i*d] = src[i*s]
			}
		}
		return
	}
	if n == 2 && ds[1] == 1 { // a matrix transpose or broadcast row by row: no recursion per row
		rows, m, d0, s0, s1 := shape[0], shape[1], ds[0], ss[0], ss[1]
		for i := 0; i < rows; i++ {
			dr := dst[i*d0 : i*d0+m]
			if s1 == 0 {
				v := src[i*s0]
				for j := range dr {
					dr[j] = v
				}
				continue
			}
			sr := src[i*s0 : i*s0+(m-1)*s1+1]
			for j := range dr {
				dr[j] = sr[j*s1]
			}
		}
		return
	}
	for i := 0; i < shape[0]; i++ {
		stridedCopyN(dst[i*ds[0]:], ds[1:], src[i*ss[0]:], ss[1:], shape[1:])
	}
}

// sameValues reports whether a and b hold the same values bit for bit, element by
// element in row-major order (b may be a view that needs an iterator).
func sameValues(a, b *tensor.Dense) bool {
	if a.Dtype() != b.Dtype() || !a.Shape().Eq(b.Shape()) {
		return false
	}
	if b.RequiresIterator() {
		b = b.Materialize().(*tensor.Dense)
	}
	switch a.Dtype() {
	case tensor.Float64:
		x, y := a.Float64s(), b.Float64s()
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return len(x) == len(y)
	case tensor.Float32:
		x, y := a.Float32s(), b.Float32s()
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return len(x) == len(y)
	}
	return false
}
