// Command solvers runs the work-precision study of the odeint package: for
// every adaptive method and rtol = atol = 1e-3 ... 1e-11 it solves standard
// non-stiff problems with known solutions (the Arenstorf orbit and a Kepler
// orbit of eccentricity 0.5, both periodic so y(T) = y0), prints a table of
// evaluations against error, draws error-vs-NFE curves with SciPy's reference
// points (PNG, one per problem) and checks the floors: Dopri5 at or below
// SciPy RK45, Dopri8 at or below SciPy DOP853.
//
//	go run ./examples/solvers [-out dir] [-json] [-quick]
//
// With -json the final report is printed as one JSON object on the last
// line; -quick uses three tolerances and finishes in well under a second.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/neuralode/neuralode/odeint"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "solvers:", err)
		os.Exit(1)
	}
}

// problem is a periodic test problem: y(T) = y0 exactly.
type problem struct {
	Name  string
	f     odeint.Func
	y0    []float64
	T     float64
	scipy map[string][]Point // reference curves measured with SciPy
}

// Point is one solve of the study.
type Point struct {
	Tol      float64 `json:"tol"`
	NFE      int     `json:"nfe"`
	Error    float64 `json:"error"`
	Accepted int     `json:"accepted,omitempty"`
	Rejected int     `json:"rejected,omitempty"`
	Failed   string  `json:"failed,omitempty"`
}

// Curve is the work-precision curve of one method.
type Curve struct {
	Method string  `json:"method"`
	Points []Point `json:"points"`
}

// Floor compares one of our curves with a SciPy reference point.
type Floor struct {
	Problem string  `json:"problem"`
	Method  string  `json:"method"`
	SciPy   string  `json:"scipy"`
	NFE     float64 `json:"nfe"`
	SciPyE  float64 `json:"scipy_error"`
	OursE   float64 `json:"our_error"`
	OK      bool    `json:"ok"`
}

// Result is the report of one problem.
type Result struct {
	Problem string  `json:"problem"`
	Curves  []Curve `json:"curves"`
	PNG     string  `json:"png"`
}

// Report is the final JSON object.
type Report struct {
	Results []Result `json:"results"`
	Floors  []Floor  `json:"floors"`
	OK      bool     `json:"ok"`
}

const mu = 0.012277471

func arenstorf(t float64, y, dy []float64) error {
	mup := 1 - mu
	a, b := y[0]+mu, y[0]-mup
	d1 := math.Pow(a*a+y[1]*y[1], 1.5)
	d2 := math.Pow(b*b+y[1]*y[1], 1.5)
	dy[0], dy[1] = y[2], y[3]
	dy[2] = y[0] + 2*y[3] - mup*a/d1 - mu*b/d2
	dy[3] = y[1] - 2*y[2] - mup*y[1]/d1 - mu*y[1]/d2
	return nil
}

func kepler(t float64, y, dy []float64) error {
	r3 := math.Pow(y[0]*y[0]+y[1]*y[1], 1.5)
	dy[0], dy[1], dy[2], dy[3] = y[2], y[3], -y[0]/r3, -y[1]/r3
	return nil
}

func problems() []problem {
	const e = 0.5
	return []problem{
		{
			Name: "arenstorf", f: arenstorf,
			y0: []float64{0.994, 0, 0, -2.00158510637908252240537862224},
			T:  17.0652165601579625588917206249,
			// SciPy solve_ivp on this machine kind, rtol = atol = 1e-8 and 1e-11.
			scipy: map[string][]Point{
				"RK45":   {{Tol: 1e-8, NFE: 2114, Error: 1.5e-4}, {Tol: 1e-11, NFE: 7562, Error: 3.6e-7}},
				"DOP853": {{Tol: 1e-8, NFE: 1778, Error: 8.4e-5}, {Tol: 1e-11, NFE: 3578, Error: 2.3e-8}},
			},
		},
		{
			// Unit gravitational parameter, start at pericentre: period 2 pi.
			Name: "kepler-e0.5", f: kepler,
			y0: []float64{1 - e, 0, 0, math.Sqrt((1 + e) / (1 - e))},
			T:  2 * math.Pi,
			// SciPy 1.10.1 solve_ivp (Debian's python3-scipy) on this machine kind,
			// rtol = atol = 1e-8 and 1e-11, the same error measure.
			scipy: map[string][]Point{
				"RK45":   {{Tol: 1e-8, NFE: 410, Error: 3.62e-6}, {Tol: 1e-11, NFE: 1616, Error: 1.83e-9}},
				"DOP853": {{Tol: 1e-8, NFE: 350, Error: 1.33e-7}, {Tol: 1e-11, NFE: 698, Error: 5.13e-10}},
			},
		},
	}
}

// orbitError is max_i |y_i(T) - y0_i| / (1 + |y0_i|).
func orbitError(y, y0 []float64) float64 {
	m := 0.0
	for i := range y {
		m = math.Max(m, math.Abs(y[i]-y0[i])/(1+math.Abs(y0[i])))
	}
	return m
}

// logInterp interpolates log(error) linearly in log(NFE) along pts.
func logInterp(pts []Point, nfe float64) (float64, bool) {
	for i := 1; i < len(pts); i++ {
		a, b := float64(pts[i-1].NFE), float64(pts[i].NFE)
		if pts[i-1].Failed != "" || pts[i].Failed != "" {
			continue
		}
		if (nfe >= a && nfe <= b) || (nfe >= b && nfe <= a) {
			if a == b {
				return math.Min(pts[i-1].Error, pts[i].Error), true
			}
			f := (math.Log(nfe) - math.Log(a)) / (math.Log(b) - math.Log(a))
			return math.Exp(math.Log(pts[i-1].Error) + f*(math.Log(pts[i].Error)-math.Log(pts[i-1].Error))), true
		}
	}
	return 0, false
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("solvers", flag.ContinueOnError)
	fs.SetOutput(stdout)
	out := fs.String("out", "out", "directory for the PNG plots")
	asJSON := fs.Bool("json", false, "print the final report as one JSON object on the last line")
	quick := fs.Bool("quick", false, "tiny settings that finish in seconds (tolerances 1e-3..1e-5)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return errors.Wrap(err, "creating the output directory")
	}
	lo, hi := 3, 11
	if *quick {
		lo, hi = 3, 5
	}
	methods := []*odeint.Method{odeint.HeunEuler, odeint.Bosh3, odeint.Dopri5, odeint.Tsit5, odeint.Dopri8}
	rep := Report{OK: true}
	for _, p := range problems() {
		res := Result{Problem: p.Name}
		fmt.Fprintf(stdout, "\n%s (T = %.16g)\n%-10s %8s %9s %9s %9s %10s\n", p.Name, p.T, "method", "tol", "NFE", "accepted", "rejected", "error")
		for _, m := range methods {
			c := Curve{Method: m.Name}
			for k := lo; k <= hi; k++ {
				tol := math.Pow(10, -float64(k))
				sol, err := odeint.Solve(p.f, p.y0, []float64{0, p.T}, odeint.Options{Method: m, RTol: tol, ATol: tol, MaxSteps: 2000000})
				pt := Point{Tol: tol}
				if err != nil {
					pt.Failed = err.Error()
					fmt.Fprintf(stdout, "%-10s %8.0e  failed: %v\n", m.Name, tol, err)
					c.Points = append(c.Points, pt)
					continue
				}
				pt.NFE, pt.Accepted, pt.Rejected = sol.Stats.NFE, sol.Stats.Accepted, sol.Stats.Rejected
				pt.Error = orbitError(sol.Y[1], p.y0)
				fmt.Fprintf(stdout, "%-10s %8.0e %9d %9d %9d %10.2e\n", m.Name, tol, pt.NFE, pt.Accepted, pt.Rejected, pt.Error)
				c.Points = append(c.Points, pt)
			}
			res.Curves = append(res.Curves, c)
			if ref, name := scipyFor(p, m); ref != nil {
				for _, r := range ref {
					ours, ok := logInterp(c.Points, float64(r.NFE))
					fl := Floor{Problem: p.Name, Method: m.Name, SciPy: name, NFE: float64(r.NFE), SciPyE: r.Error, OursE: ours, OK: ok && ours <= r.Error}
					if !ok {
						fmt.Fprintf(stdout, "  %s vs SciPy %s at NFE %d: outside our curve (run without -quick)\n", m.Name, name, r.NFE)
						continue // quick runs do not reach SciPy's NFE
					}
					rep.OK = rep.OK && fl.OK
					rep.Floors = append(rep.Floors, fl)
					fmt.Fprintf(stdout, "  %s vs SciPy %s at NFE %d: ours %.2e, SciPy %.2e  %s\n", m.Name, name, r.NFE, ours, r.Error, okStr(fl.OK))
				}
			}
		}
		png := filepath.Join(*out, p.Name+".png")
		if err := plotCurves(p, res.Curves, png); err != nil {
			return err
		}
		res.PNG = png
		fmt.Fprintf(stdout, "wrote %s\n", png)
		rep.Results = append(rep.Results, res)
	}
	if *asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return errors.Wrap(err, "encoding the report")
		}
		fmt.Fprintln(stdout, string(b))
	}
	if !rep.OK {
		return errors.New("a work-precision curve lies above SciPy's at one of its points (see the report)")
	}
	return nil
}

func okStr(ok bool) string {
	if ok {
		return "ok"
	}
	return "ABOVE SciPy"
}

func scipyFor(p problem, m *odeint.Method) ([]Point, string) {
	switch m {
	case odeint.Dopri5:
		return p.scipy["RK45"], "RK45"
	case odeint.Dopri8:
		return p.scipy["DOP853"], "DOP853"
	}
	return nil, ""
}

// sciTicks labels log-scale ticks as 1e-05 instead of 9.999999999999999e-06.
type sciTicks struct{}

func (sciTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%.0e", ts[i].Value)
		}
	}
	return ts
}

func plotCurves(p problem, curves []Curve, path string) error {
	pl := plot.New()
	pl.Title.Text = p.Name + ": error at T vs evaluations of f (rtol = atol)"
	pl.X.Label.Text = "NFE"
	pl.Y.Label.Text = "max |y(T) - y0| / (1 + |y0|)"
	pl.X.Scale, pl.Y.Scale = plot.LogScale{}, plot.LogScale{}
	pl.X.Tick.Marker, pl.Y.Tick.Marker = sciTicks{}, sciTicks{}
	pl.Legend.Top = true
	for i, c := range curves {
		var xy plotter.XYs
		for _, pt := range c.Points {
			if pt.Failed == "" && pt.Error > 0 {
				xy = append(xy, plotter.XY{X: float64(pt.NFE), Y: pt.Error})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return errors.Wrap(err, "plot line")
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return errors.Wrap(err, "plot points")
		}
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(0)
		pl.Add(l, s)
		pl.Legend.Add(c.Method, l)
	}
	k := len(curves)
	for _, name := range []string{"RK45", "DOP853"} {
		ref := p.scipy[name]
		if len(ref) == 0 {
			continue
		}
		var xy plotter.XYs
		for _, r := range ref {
			xy = append(xy, plotter.XY{X: float64(r.NFE), Y: r.Error})
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return errors.Wrap(err, "plot reference")
		}
		s.Color = plotutil.Color(k)
		s.Shape = plotutil.Shape(k)
		s.Radius = vg.Points(5)
		k++
		pl.Add(s)
		pl.Legend.Add("SciPy "+name, s)
	}
	if err := pl.Save(8*vg.Inch, 6*vg.Inch, path); err != nil {
		return errors.Wrapf(err, "saving %s", path)
	}
	return nil
}
