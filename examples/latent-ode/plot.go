package main

import (
	"fmt"
	"image/color"
	"os"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	truthColor  = color.Gray{Y: 120}
	obsColor    = color.RGBA{R: 20, G: 20, B: 20, A: 255}
	latentColor = color.RGBA{R: 30, G: 110, B: 210, A: 255}
	rnnColor    = color.RGBA{R: 220, G: 60, B: 40, A: 255}
)

func xys(pts [][2]float64) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i].X, out[i].Y = p[0], p[1]
	}
	return out
}

// addLine adds a line through pts to p with a legend entry.
func addLine(p *plot.Plot, pts [][2]float64, c color.Color, width float64, dashed bool, label string) error {
	l, err := plotter.NewLine(xys(pts))
	if err != nil {
		return errors.Wrap(err, "latent-ode: plot")
	}
	l.Color, l.Width = c, vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// plotSpirals draws, for each spiral (2x2 panels), the noise-free ground truth over the
// window and the extrapolation interval, the noisy irregular observations, the latent
// ODE's reconstruction and extrapolation and the RNN's extrapolation (either model may
// be absent).
func plotSpirals(path string, data []spiral, latent, rnn [][][2]float64, obs int) error {
	ps := make([][]*plot.Plot, 2)
	for i, sp := range data {
		p := plot.New()
		dir := "counter-clockwise"
		if sp.Clockwise {
			dir = "clockwise"
		}
		p.Title.Text = fmt.Sprintf("held-out spiral %d (%s, %d observations)", i, dir, obs)
		if err := addLine(p, sp.Truth, truthColor, 3, false, "ground truth"); err != nil {
			return err
		}
		sc, err := plotter.NewScatter(xys(sp.Obs))
		if err != nil {
			return errors.Wrap(err, "latent-ode: plot")
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = obsColor, vg.Points(1.8), draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add("observations", sc)
		if latent != nil {
			if err := addLine(p, latent[i][:nWindow], latentColor, 1.3, false, "latent ODE reconstruction"); err != nil {
				return err
			}
			if err := addLine(p, latent[i][nWindow-1:], latentColor, 1.3, true, "latent ODE extrapolation"); err != nil {
				return err
			}
		}
		if rnn != nil {
			if err := addLine(p, rnn[i], rnnColor, 1.3, true, "RNN extrapolation"); err != nil {
				return err
			}
		}
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		ps[i/2] = append(ps[i/2], p)
	}
	for len(ps[1]) < len(ps[0]) {
		ps[1] = append(ps[1], nil)
	}
	img := vgimg.New(12*vg.Inch, 11*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: len(ps[0]), PadX: vg.Points(12), PadY: vg.Points(12),
		PadLeft: vg.Points(5), PadRight: vg.Points(5), PadTop: vg.Points(5), PadBottom: vg.Points(5)}
	canvases := plot.Align(ps, tiles, dc)
	for r := range ps {
		for c, p := range ps[r] {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "latent-ode: png")
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(fh); err != nil {
		fh.Close()
		return errors.Wrapf(err, "latent-ode: writing %s", path)
	}
	return errors.Wrapf(fh.Close(), "latent-ode: closing %s", path)
}
