package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	"github.com/pkg/errors"
)

// grid is a square window [-L, L]^2 sampled at n x n cell centres.
type grid struct {
	n int
	l float64
}

// points returns the cell centres, row-major from the top-left (y decreasing down).
func (g grid) points() []float64 {
	h := 2 * g.l / float64(g.n)
	x := make([]float64, 0, 2*g.n*g.n)
	for r := 0; r < g.n; r++ {
		for c := 0; c < g.n; c++ {
			x = append(x, -g.l+(float64(c)+0.5)*h, g.l-(float64(r)+0.5)*h)
		}
	}
	return x
}

// histogram counts the points of x (pairs) in the grid's cells, in points() order.
func (g grid) histogram(x []float64) []float64 {
	v := make([]float64, g.n*g.n)
	h := 2 * g.l / float64(g.n)
	for i := 0; i+1 < len(x); i += 2 {
		c := int(math.Floor((x[i] + g.l) / h))
		r := int(math.Floor((g.l - x[i+1]) / h))
		if c >= 0 && c < g.n && r >= 0 && r < g.n {
			v[r*g.n+c]++
		}
	}
	return v
}

// viridis control points (matplotlib's map, sampled at 0, 0.25, 0.5, 0.75, 1).
var viridis = [][3]float64{{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}

func colour(v float64) color.RGBA {
	if math.IsNaN(v) || v < 0 {
		v = 0
	}
	if v > 1 {
		v = 1
	}
	p := v * float64(len(viridis)-1)
	i := int(p)
	if i >= len(viridis)-1 {
		i = len(viridis) - 2
	}
	f := p - float64(i)
	c := color.RGBA{A: 255}
	mix := func(a, b float64) uint8 { return uint8(a + f*(b-a) + 0.5) }
	c.R = mix(viridis[i][0], viridis[i+1][0])
	c.G = mix(viridis[i][1], viridis[i+1][1])
	c.B = mix(viridis[i][2], viridis[i+1][2])
	return c
}

// panel is one heat map of n x n values, normalised to its own maximum.
type panel []float64

// writePanels writes rows of panels (each n x n values, scaled by its maximum) as one
// PNG, each cell drawn as scale x scale pixels with a 4-pixel white gutter.
func writePanels(path string, n, scale int, rows [][]panel) error {
	const gap = 4
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	side := n * scale
	img := image.NewRGBA(image.Rect(0, 0, cols*(side+gap)+gap, len(rows)*(side+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for ri, r := range rows {
		for ci, p := range r {
			top := 0.0
			for _, v := range p {
				top = math.Max(top, v)
			}
			if top == 0 {
				top = 1
			}
			x0, y0 := gap+ci*(side+gap), gap+ri*(side+gap)
			for k, v := range p {
				c := colour(v / top)
				pr, pc := k/n, k%n
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.SetRGBA(x0+pc*scale+dx, y0+pr*scale+dy, c)
					}
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "cnf2d: creating the picture")
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return errors.Wrapf(err, "cnf2d: writing %s", path)
	}
	return errors.Wrapf(f.Close(), "cnf2d: closing %s", path)
}
