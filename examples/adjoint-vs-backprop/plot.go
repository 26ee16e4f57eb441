package main

import (
	"math"
	"strconv"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// series is one curve: a method's points, drawn as a line with markers, optionally
// with a second set of points drawn as hollow markers only (the measured heap).
type series struct {
	name  string
	xy    plotter.XYs
	extra plotter.XYs
	label string // legend entry of extra
}

// logTicks are plot.LogTicks with labels of at most three significant digits
// (LogTicks' own labels print 1e-6 as 9.999999999999997e-06), and labels on the minor
// ticks 2 and 5 times a power of ten when the range shows fewer than two powers of ten.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.LogTicks{Prec: -1}.Ticks(min, max)
	labelled := 0
	for _, t := range ts {
		if t.Label != "" && t.Value >= min && t.Value <= max {
			labelled++
		}
	}
	for i := range ts {
		v := ts[i].Value
		lead := v / math.Pow(10, math.Floor(math.Log10(v)+1e-9))
		minor := math.Abs(lead-2) < 1e-6 || math.Abs(lead-5) < 1e-6
		if ts[i].Label != "" || (labelled < 2 && minor) {
			ts[i].Label = strconv.FormatFloat(v, 'g', 3, 64)
		}
	}
	return ts
}

// logLog draws the series on log-log axes, the legend in the top left corner (or the
// bottom left with legendBottom), and saves the plot as a PNG.
func logLog(path, title, xlabel, ylabel string, legendBottom bool, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = logTicks{}, logTicks{}
	p.Legend.Top, p.Legend.Left = !legendBottom, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(12), vg.Points(-6)
	if legendBottom {
		p.Legend.YOffs = vg.Points(6)
	}
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		xy := positive(s.xy)
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return errors.Wrapf(err, "%s: %s", path, s.name)
		}
		l.Color, l.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		l.Width = vg.Points(1.5)
		pts.Color, pts.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
		if ex := positive(s.extra); len(ex) > 0 {
			sc, err := plotter.NewScatter(ex)
			if err != nil {
				return errors.Wrapf(err, "%s: %s", path, s.label)
			}
			sc.Color, sc.Shape, sc.Radius = plotutil.Color(i), draw.RingGlyph{}, vg.Points(5)
			p.Add(sc)
			p.Legend.Add(s.label, sc)
		}
	}
	if err := p.Save(7*vg.Inch, 5*vg.Inch, path); err != nil {
		return errors.Wrapf(err, "saving %s", path)
	}
	return nil
}

// positive drops points a log axis cannot show.
func positive(xy plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for _, p := range xy {
		if p.X > 0 && p.Y > 0 {
			out = append(out, p)
		}
	}
	return out
}

// writePlots writes memory.png (retained bytes, with the measured tape), live.png (live
// heap during the backward pass) and time.png against the steps of the fixed-step RK4
// grid, and adaptive.png (Dopri5: gradient error against total NFE), and returns their
// paths.
func writePlots(dir string, rep *Report) ([]string, error) {
	var mem, liv, tim, ada []series
	for _, v := range methods {
		var m, meas, l, t, c, a plotter.XYs
		for _, r := range byMethod(rep.Fixed, v.name) {
			x := float64(r.Steps)
			m = append(m, plotter.XY{X: x, Y: float64(r.RetainedBytes)})
			if v.name != "backsolve+seminorm" { // the same tape as backsolve
				meas = append(meas, plotter.XY{X: x, Y: float64(r.MeasuredBytes)})
			}
			l = append(l, plotter.XY{X: x, Y: float64(r.BackwardLiveBytes)})
			t = append(t, plotter.XY{X: x, Y: r.ForwardSec + r.BackwardSec})
			c = append(c, plotter.XY{X: x, Y: r.CPUSec})
		}
		for _, r := range byMethod(rep.Adaptive, v.name) {
			a = append(a, plotter.XY{X: float64(r.ForwardNFE + r.BackwardNFE), Y: r.GradError})
		}
		s := series{name: v.name, xy: m}
		if meas != nil {
			s.extra, s.label = meas, v.name+" (tape heap, measured)"
		}
		mem = append(mem, s)
		liv = append(liv, series{name: v.name, xy: l})
		tim = append(tim, series{name: v.name, xy: t, extra: c, label: v.name + " (CPU time)"})
		ada = append(ada, series{name: v.name, xy: a})
	}
	plots := []struct {
		name, title, x, y string
		bottom            bool
		ss                []series
	}{
		{"memory.png", "Bytes retained for the gradient (fixed-step RK4)", "solver steps", "bytes", false, mem},
		{"live.png", "Live heap during the backward pass (tape + working memory, RK4)", "solver steps", "bytes", false, liv},
		{"time.png", "Forward + backward time (RK4): wall (lines), CPU (rings)", "solver steps", "seconds", false, tim},
		{"adaptive.png", "Gradient error against work (Dopri5, one point per rtol)", "NFE forward + backward", "relative gradient error", true, ada},
	}
	var paths []string
	for _, pl := range plots {
		path := pngPath(dir, pl.name)
		if err := logLog(path, pl.title, pl.x, pl.y, pl.bottom, pl.ss); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
