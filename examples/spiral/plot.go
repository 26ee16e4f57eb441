package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/neuralode/neuralode/graph"
)

var (
	trueColor = color.RGBA{R: 30, G: 120, B: 200, A: 255}
	predColor = color.RGBA{R: 220, G: 60, B: 40, A: 255}
)

// line returns a line plotter through (x[i], y[i]).
func line(x, y []float64, c color.Color, dashed bool) (*plotter.Line, error) {
	pts := make(plotter.XYs, len(x))
	for i := range x {
		pts[i].X, pts[i].Y = x[i], y[i]
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil, errors.Wrap(err, "spiral: plot")
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	return l, nil
}

// column returns component d of every state.
func column(y [][]float64, d int) []float64 {
	out := make([]float64, len(y))
	for i := range y {
		out[i] = y[i][d]
	}
	return out
}

// plotTrajectories draws x(t), y(t) and the phase portrait, true against learned.
func plotTrajectories(path string, ts []float64, trueY, pred [][]float64, rep *Report) error {
	pt := plot.New()
	pt.Title.Text = fmt.Sprintf("trajectories (%s, %d iterations)", rep.Config.Method, rep.Config.Iters)
	pt.X.Label.Text, pt.Y.Label.Text = "t", "x, y"
	pp := plot.New()
	pp.Title.Text = fmt.Sprintf("phase portrait, mean L1 %.4f", rep.L1)
	pp.X.Label.Text, pp.Y.Label.Text = "x", "y"
	for d, name := range []string{"x", "y"} {
		lt, err := line(ts, column(trueY, d), trueColor, d == 1)
		if err != nil {
			return err
		}
		lp, err := line(ts, column(pred, d), predColor, d == 1)
		if err != nil {
			return err
		}
		pt.Add(lt, lp)
		pt.Legend.Add("true "+name, lt)
		pt.Legend.Add("learned "+name, lp)
	}
	lt, err := line(column(trueY, 0), column(trueY, 1), trueColor, false)
	if err != nil {
		return err
	}
	lp, err := line(column(pred, 0), column(pred, 1), predColor, false)
	if err != nil {
		return err
	}
	pp.Add(lt, lp)
	pp.Legend.Add("true", lt)
	pp.Legend.Add("learned", lp)
	return savePanels(path, 12*vg.Inch, 4.5*vg.Inch, pt, pp)
}

// arrows is a plotter of short segments with heads: a quiver plot.
type arrows struct {
	from, to plotter.XYs
	color    color.Color
}

// Plot implements plot.Plotter.
func (a *arrows) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	sty := draw.LineStyle{Color: a.color, Width: vg.Points(0.8)}
	for i := range a.from {
		p0 := vg.Point{X: trX(a.from[i].X), Y: trY(a.from[i].Y)}
		p1 := vg.Point{X: trX(a.to[i].X), Y: trY(a.to[i].Y)}
		c.StrokeLine2(sty, p0.X, p0.Y, p1.X, p1.Y)
		dx, dy := float64(p1.X-p0.X), float64(p1.Y-p0.Y)
		l := math.Hypot(dx, dy)
		if l == 0 {
			continue
		}
		ux, uy := dx/l, dy/l
		h := math.Min(4, 0.4*l)
		for _, s := range []float64{1, -1} {
			hx := -ux*math.Cos(0.5) - s*uy*math.Sin(0.5)
			hy := -uy*math.Cos(0.5) + s*ux*math.Sin(0.5)
			c.StrokeLine2(sty, p1.X, p1.Y, p1.X+vg.Length(h*hx), p1.Y+vg.Length(h*hy))
		}
	}
}

// DataRange implements plot.DataRanger.
func (a *arrows) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, s := range []plotter.XYs{a.from, a.to} {
		for _, p := range s {
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
		}
	}
	return
}

// plotField draws the learned vector field on a grid (arrows of unit length scaled to
// the grid spacing, so directions are readable everywhere) next to the true field, with
// the trajectories on top.
func plotField(path string, f *graph.Dynamics, trueY, pred [][]float64) error {
	const n = 21
	grid := make([]float64, 2*n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			grid[2*(i*n+j)] = -2 + 4*float64(j)/float64(n-1)
			grid[2*(i*n+j)+1] = -2 + 4*float64(i)/float64(n-1)
		}
	}
	learned := make([]float64, len(grid))
	if err := f.Eval(0, grid, learned); err != nil {
		return errors.Wrap(err, "spiral: vector field")
	}
	exact := make([]float64, len(grid))
	if err := trueDynamics(0, grid, exact); err != nil {
		return err
	}
	panel := func(title string, v []float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text, p.Y.Label.Text = "x", "y"
		a := &arrows{color: color.Gray{Y: 90}}
		step := 4.0 / float64(n-1) * 0.8
		for k := 0; k < n*n; k++ {
			x, y := grid[2*k], grid[2*k+1]
			u, w := v[2*k], v[2*k+1]
			l := math.Hypot(u, w)
			if l == 0 {
				continue
			}
			a.from = append(a.from, plotter.XY{X: x, Y: y})
			a.to = append(a.to, plotter.XY{X: x + step*u/l, Y: y + step*w/l})
		}
		p.Add(a)
		lt, err := line(column(trueY, 0), column(trueY, 1), trueColor, false)
		if err != nil {
			return nil, err
		}
		lp, err := line(column(pred, 0), column(pred, 1), predColor, true)
		if err != nil {
			return nil, err
		}
		p.Add(lt, lp)
		p.Legend.Add("true trajectory", lt)
		p.Legend.Add("learned trajectory", lp)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -2.3, 2.3, -2.3, 2.3
		return p, nil
	}
	pl, err := panel("learned vector field", learned)
	if err != nil {
		return err
	}
	pe, err := panel("true vector field y^3 A", exact)
	if err != nil {
		return err
	}
	return savePanels(path, 12*vg.Inch, 6*vg.Inch, pl, pe)
}

// savePanels draws the plots side by side into one PNG.
func savePanels(path string, w, h vg.Length, ps ...*plot.Plot) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(ps), PadX: vg.Points(10), PadLeft: vg.Points(5), PadRight: vg.Points(5), PadTop: vg.Points(5), PadBottom: vg.Points(5)}
	canvases := plot.Align([][]*plot.Plot{ps}, tiles, dc)
	for i, p := range ps {
		p.Draw(canvases[0][i])
	}
	fh, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "spiral: png")
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(fh); err != nil {
		fh.Close()
		return errors.Wrapf(err, "spiral: writing %s", path)
	}
	return errors.Wrapf(fh.Close(), "spiral: closing %s", path)
}
