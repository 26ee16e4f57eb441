package graph

import (
	"reflect"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Convolution and slice kernels. Gorgonia's Conv2d is im2col -> matrix product ->
// transpose; its im2col and col2im walk every element of the column matrix with a
// bounds test per kernel tap, and its Slice materialises the view through a generic
// iterator. In the MNIST ODE-Net's training step these three took about 30 % of the time
// (im2col alone 18 %, more than half the time of the matrix products).
//
// The kernels below copy each image once into a zero-padded scratch plane, after which
// every kernel tap of every output pixel is inside the plane: im2col becomes a run of
// branch-free row copies, col2im a run of branch-free row additions. col2im adds each
// column entry into the image in the same order as Gorgonia's loop (ascending column
// index, starting from zero), so the sums are bit-identical; the first-run check of
// program.go holds the kernels to that.

// convGeom is the geometry of an im2col or col2im: image [B, C, H, W], columns
// [B, OH, OW, C*KH*KW].
type convGeom struct {
	B, C, H, W     int
	OH, OW, KH, KW int
	PH, PW, SH, SW int
	DH, DW         int
}

// padded returns the height and width of the zero-padded plane. Gorgonia's output size
// is (H + 2 PH - DH (KH - 1) - 1) / SH + 1, so the bottom and right pads can be narrower
// than PH and PW; the plane is sized for the taps that are actually read.
func (g *convGeom) padded() (int, int) {
	return max(g.H+2*g.PH, (g.OH-1)*g.SH+(g.KH-1)*g.DH+1), max(g.W+2*g.PW, (g.OW-1)*g.SW+(g.KW-1)*g.DW+1)
}

// intField reads an int field of an op struct (promoted fields of embedded structs too).
func intField(rv reflect.Value, name string) (int, bool) {
	f := rv.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Int {
		return 0, false
	}
	return int(f.Int()), true
}

// newConvKernel returns the im2col or col2im kernel for op, or nil.
func newConvKernel(k *kernel, rv reflect.Value, name string, args []G.Value, out tensor.Tensor) *kernel {
	if len(args) != 1 || out.Dims() != 4 {
		return nil
	}
	in, ok := args[0].(*tensor.Dense)
	if !ok || in.Dims() != 4 {
		return nil
	}
	g := &convGeom{}
	for _, f := range []struct {
		dst  *int
		name string
	}{{&g.KH, "h"}, {&g.KW, "w"}, {&g.PH, "padH"}, {&g.PW, "padW"}, {&g.SH, "strideH"}, {&g.SW, "strideW"}, {&g.DH, "dilationH"}, {&g.DW, "dilationW"}} {
		if *f.dst, ok = intField(rv, f.name); !ok {
			return nil
		}
	}
	img, col := in.Shape(), out.Shape()
	k.kind = kernIm2col
	if name == "gorgonia.col2imOp" {
		k.kind = kernCol2im
		img, col = out.Shape(), in.Shape()
	}
	g.B, g.C, g.H, g.W = img[0], img[1], img[2], img[3]
	g.OH, g.OW = col[1], col[2]
	if col[0] != g.B || col[3] != g.C*g.KH*g.KW || g.KH <= 0 || g.KW <= 0 || g.SH <= 0 || g.SW <= 0 ||
		g.DH <= 0 || g.DW <= 0 || g.PH < 0 || g.PW < 0 || g.OH <= 0 || g.OW <= 0 {
		return nil
	}
	k.conv = g
	k.shapes = [][]int{append([]int(nil), in.Shape()...)}
	ph, pw := g.padded()
	k.scratchLen = g.C * ph * pw
	k.offsets = rowOffsets(g, ph, pw)
	return k
}

// newSliceKernel returns the kernel of a sliceOp (one axis, unit step), or nil.
func newSliceKernel(k *kernel, op G.Op, rv reflect.Value, args []G.Value, out tensor.Tensor) *kernel {
	if len(args) != 1 {
		return nil
	}
	in, ok := args[0].(*tensor.Dense)
	if !ok || in.Dims() == 0 {
		return nil
	}
	along, ok := intField(rv, "along")
	if !ok || along < 0 || along >= in.Dims() {
		return nil
	}
	is, ok := op.(interface{ IsSlice() tensor.Slice })
	if !ok {
		return nil
	}
	s := is.IsSlice()
	start, step := 0, 1
	if s != nil {
		start, step = s.Start(), s.Step()
	}
	if step != 1 || start < 0 || start >= in.Shape()[along] {
		return nil
	}
	shape := append([]int(nil), in.Shape()...)
	switch out.Dims() {
	case in.Dims():
		shape[along] = out.Shape()[along]
	case in.Dims() - 1: // a single index drops the axis
		shape[along] = 1
	default:
		return nil
	}
	if start+shape[along] > in.Shape()[along] || size(shape) != out.Shape().TotalSize() {
		return nil
	}
	k.kind, k.axis, k.start = kernSlice, along, start
	k.shapes = [][]int{append([]int(nil), in.Shape()...)}
	k.sliceShape = shape
	n := len(shape)
	k.shape, k.dstStrides, k.srcStrides = make([]int, n), make([]int, n), make([]int, n)
	return k
}

// runConv runs an im2col or col2im kernel.
func runConv[T float32 | float64](k *kernel, dst, src []T, scratch []T) bool {
	g := k.conv
	ph, pw := g.padded()
	K := g.C * g.KH * g.KW
	imgLen, colLen := g.C*g.H*g.W, g.OH*g.OW*K
	if k.kind == kernIm2col && (len(src) != g.B*imgLen || len(dst) != g.B*colLen) ||
		k.kind == kernCol2im && (len(src) != g.B*colLen || len(dst) != g.B*imgLen) || len(scratch) != g.C*ph*pw {
		return false
	}
	clear(scratch)
	for b := 0; b < g.B; b++ {
		if k.kind == kernIm2col {
			padImage(scratch, src[b*imgLen:(b+1)*imgLen], g, ph, pw)
			im2colPadded(dst[b*colLen:(b+1)*colLen], scratch, g, k.offsets, pw)
		} else {
			if b > 0 {
				clear(scratch)
			}
			col2imPadded(scratch, src[b*colLen:(b+1)*colLen], g, k.offsets, pw)
			unpadImage(dst[b*imgLen:(b+1)*imgLen], scratch, g, ph, pw)
		}
	}
	return true
}

// padImage copies one [C, H, W] image into the interior of a zeroed [C, ph, pw] plane
// (its border stays zero across images: only the interior is rewritten).
func padImage[T float32 | float64](plane, img []T, g *convGeom, ph, pw int) {
	for c := 0; c < g.C; c++ {
		for y := 0; y < g.H; y++ {
			copy(plane[(c*ph+y+g.PH)*pw+g.PW:][:g.W], img[(c*g.H+y)*g.W:][:g.W])
		}
	}
}

func unpadImage[T float32 | float64](img, plane []T, g *convGeom, ph, pw int) {
	for c := 0; c < g.C; c++ {
		for y := 0; y < g.H; y++ {
			copy(img[(c*g.H+y)*g.W:][:g.W], plane[(c*ph+y+g.PH)*pw+g.PW:][:g.W])
		}
	}
}

// im2colPadded writes the column matrix [OH, OW, C*KH*KW] of one padded image, in
// Gorgonia's element order (output pixel, channel, kernel row, kernel column).
func im2colPadded[T float32 | float64](col, plane []T, g *convGeom, off []int, pw int) {
	i := 0
	kw, rows := g.KW, len(off)
	for oy := 0; oy < g.OH; oy++ {
		for ox := 0; ox < g.OW; ox++ {
			base := oy*g.SH*pw + ox*g.SW
			d := col[i : i+rows*kw]
			i += rows * kw
			switch {
			case g.DW == 1 && kw == 3: // the 3x3 convolutions of ODE-Net dynamics
				for q, o := range off {
					r := base + o
					s, dd := plane[r:r+3], d[3*q:3*q+3]
					dd[0], dd[1], dd[2] = s[0], s[1], s[2]
				}
			case g.DW == 1:
				for q, o := range off {
					r := base + o
					copy(d[kw*q:kw*q+kw], plane[r:r+kw])
				}
			default:
				for q, o := range off {
					r := base + o
					dd := d[kw*q : kw*q+kw]
					for j := range dd {
						dd[j] = plane[r+j*g.DW]
					}
				}
			}
		}
	}
}

// rowOffsets returns where kernel row q = c*KH + ky starts in the padded plane,
// relative to an output pixel's top-left tap.
func rowOffsets(g *convGeom, ph, pw int) []int {
	off := make([]int, 0, g.C*g.KH)
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			off = append(off, (c*ph+ky*g.DH)*pw)
		}
	}
	return off
}

// col2imPadded adds the column matrix of one image into a zeroed padded plane, entry by
// entry in ascending column order (Gorgonia's order, so each sum is bit-identical).
func col2imPadded[T float32 | float64](plane, col []T, g *convGeom, off []int, pw int) {
	i := 0
	kw, rows := g.KW, len(off)
	for oy := 0; oy < g.OH; oy++ {
		for ox := 0; ox < g.OW; ox++ {
			base := oy*g.SH*pw + ox*g.SW
			s := col[i : i+rows*kw]
			i += rows * kw
			switch {
			case g.DW == 1 && kw == 3:
				for q, o := range off {
					r := base + o
					d, ss := plane[r:r+3], s[3*q:3*q+3]
					d[0] += ss[0]
					d[1] += ss[1]
					d[2] += ss[2]
				}
			default:
				for q, o := range off {
					r := base + o
					ss := s[kw*q : kw*q+kw]
					for j := range ss {
						plane[r+j*g.DW] += ss[j]
					}
				}
			}
		}
	}
}
