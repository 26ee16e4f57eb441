package graph

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkConvKernels compares the im2col and col2im kernels of kernels_conv.go with
// Gorgonia's ops on the ODE-Net dynamics' convolution (a [64, 65, 6, 6] float32 image,
// 3x3, pad 1: half the batch of 128 that one of two workers sees):
//
//	go test -run '^$' -bench ConvKernels ./graph/
//
// Gorgonia's op spreads the batch over GOMAXPROCS goroutines; the kernel runs on one.
func BenchmarkConvKernels(b *testing.B) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(64, 65, 6, 6), G.WithName("x"))
	w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(64, 65, 3, 3), G.WithName("w"))
	y := G.Must(G.Conv2d(x, w, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	cost := G.Must(G.Sum(y))
	if _, err := G.Grad(cost, x); err != nil {
		b.Fatal(err)
	}
	ops := map[string]G.Op{}
	for _, n := range g.AllNodes() {
		if op := n.Op(); op != nil {
			for _, name := range []string{"im2col", "col2im"} {
				if strings.HasPrefix(op.String(), name) {
					ops[name] = op
				}
			}
		}
	}
	img := tensor.New(tensor.WithShape(64, 65, 6, 6), tensor.WithBacking(make([]float32, 64*65*36)))
	col := tensor.New(tensor.WithShape(64, 6, 6, 65*9), tensor.WithBacking(make([]float32, 64*36*65*9)))
	for _, name := range []string{"im2col", "col2im"} {
		op, in, out := ops[name], img, col
		if name == "col2im" {
			in, out = col, img.Clone().(*tensor.Dense)
		}
		if op == nil {
			b.Fatalf("no %s op in Conv2d's graph", name)
		}
		k := newKernel(op, []G.Value{in}, out)
		if k == nil {
			b.Fatalf("no kernel for %v", op)
		}
		b.Run(name+"/gorgonia", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := op.(G.UsePreallocDoer).UsePreallocDo(out, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/kernel", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !k.run(out, []G.Value{in}) {
					b.Fatal("kernel refused its arguments")
				}
			}
		})
	}
}
