// Command cnf2d trains a continuous normalizing flow on a two-dimensional toy data set
// and shows what it learned.
//
// It trains with the adjoint method and Adam on batches drawn from the data set, then
// reports the test negative log-likelihood (and, for 8gaussians, the true density's NLL
// on the same test set), the number of function evaluations (NFE) per solve, and writes
//
//   - samples.png: data | model samples | model density (heat maps);
//   - flow.png: the base density transported to several times between the base and the
//     data (top row: density on a grid, bottom row: samples), the paper's figure.
//
// Usage:
//
//	go run ./examples/cnf2d -data 8gaussians -iters 3000
//	go run ./examples/cnf2d -paper            # the paper's two circles, M = 64 hypernetwork flow
//	go run ./examples/cnf2d -quick -json      # a few seconds; last line is a JSON report
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/neuralode/neuralode/cnf"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// Report is the final JSON line.
type Report struct {
	Data      string  `json:"data"`
	Model     string  `json:"model"`
	Trace     string  `json:"trace"`
	Iters     int     `json:"iters"`
	Batch     int     `json:"batch"`
	Kinetic   float64 `json:"kinetic"`
	Frobenius float64 `json:"frobenius"`
	Params    int     `json:"params"`
	// TestNLL is the mean -log p(x) in nats over the test set (exact trace).
	TestNLL float64 `json:"test_nll"`
	// TrueNLL is the data distribution's own NLL on the same test set, when known.
	TrueNLL *float64 `json:"true_nll,omitempty"`
	// TestNFE is the NFE of the test-set log-density solve.
	TestNFE int `json:"test_nfe"`
	// AtTol repeats the test-set evaluation at the tolerances of -eval-tols: how the
	// cost of the learned dynamics grows as the solve tightens.
	AtTol []TolEval `json:"at_tol,omitempty"`
	// ForwardNFE, BackwardNFE are the training solves' means over the last 10 % of iterations.
	ForwardNFE  float64 `json:"forward_nfe"`
	BackwardNFE float64 `json:"backward_nfe"`
	// MsPerIter is the mean wall time of a training iteration.
	MsPerIter float64  `json:"ms_per_iter"`
	Seconds   float64  `json:"seconds"`
	Pictures  []string `json:"pictures,omitempty"`
}

// TolEval is the test-set log-density solve at one tolerance (rtol = atol).
type TolEval struct {
	Tol     float64 `json:"tol"`
	NFE     int     `json:"nfe"`
	TestNLL float64 `json:"test_nll"`
}

type config struct {
	data, model, trace, probe, out, form, evalTols              string
	iters, batch, test, width, hidden, grid, seed, times        int
	lr, kinetic, frob, rtol, dataTime, baseTime, baseStd, gridL float64
	quick, paper, jsonOut, noPics                               bool
	tols                                                        []float64 // parsed -eval-tols
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cnf2d:", err)
		os.Exit(1)
	}
}

func parse(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("cnf2d", flag.ContinueOnError)
	fs.StringVar(&c.data, "data", "8gaussians", fmt.Sprintf("toy data set: one of %v", cnf.ToyNames()))
	fs.StringVar(&c.model, "model", "squash", "dynamics: squash (FFJORD's ConcatSquash MLP) or hyper (the paper's gated hypernetwork flow)")
	fs.StringVar(&c.form, "hyper-form", "paper", "hyper: paper (one gate per unit, sum over units, the paper's formula) or torchdiffeq (gate per unit and dimension, mean: examples/cnf.py)")
	fs.StringVar(&c.trace, "trace", "exact", "training trace: exact or hutchinson")
	fs.StringVar(&c.probe, "probe", "rademacher", "Hutchinson probe: gaussian or rademacher")
	fs.StringVar(&c.out, "out", "cnf2d-out", "folder for the pictures")
	fs.IntVar(&c.iters, "iters", 3000, "training iterations")
	fs.IntVar(&c.batch, "batch", 256, "samples per iteration")
	fs.IntVar(&c.test, "test", 5000, "test samples")
	fs.IntVar(&c.width, "width", 64, "hidden width (squash: per layer, hyper: units M)")
	fs.IntVar(&c.hidden, "hidden", 3, "squash: number of hidden layers; hyper: ignored (hypernetwork width 32)")
	fs.IntVar(&c.grid, "grid", 100, "grid cells per side of the density pictures")
	fs.Float64Var(&c.gridL, "range", 4, "the pictures show [-range, range]^2")
	fs.IntVar(&c.times, "times", 5, "panels of the flow picture")
	fs.IntVar(&c.seed, "seed", 1, "random seed")
	fs.Float64Var(&c.lr, "lr", 1e-3, "Adam learning rate (cosine-annealed to 1/10 of it)")
	fs.Float64Var(&c.kinetic, "kinetic", 0, "RNODE kinetic-energy weight")
	fs.Float64Var(&c.frob, "frobenius", 0, "RNODE Jacobian Frobenius weight")
	fs.Float64Var(&c.rtol, "tol", 1e-5, "dopri5 rtol = atol")
	fs.StringVar(&c.evalTols, "eval-tols", "", "comma-separated extra tolerances at which to repeat the test evaluation (NFE and NLL), e.g. 1e-7,1e-9")
	fs.Float64Var(&c.dataTime, "t-data", 0, "time of the data")
	fs.Float64Var(&c.baseTime, "t-base", 0.5, "time of the base distribution")
	fs.Float64Var(&c.baseStd, "base-std", 1, "standard deviation of the base N(0, s^2 I)")
	fs.BoolVar(&c.quick, "quick", false, "tiny settings that run in seconds")
	fs.BoolVar(&c.paper, "paper", false, "the paper's setting: two circles, hyper M=64, base N(0, 0.1^2) at t=0, data at t=10, exact trace, batch 512, 1000 iterations, range 1.5")
	fs.BoolVar(&c.jsonOut, "json", false, "print the final report as JSON on the last line")
	fs.BoolVar(&c.noPics, "no-pictures", false, "skip the pictures")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	def := func(name string, p any, v any) {
		if set[name] {
			return
		}
		switch p := p.(type) {
		case *int:
			*p = v.(int)
		case *float64:
			*p = v.(float64)
		case *string:
			*p = v.(string)
		}
	}
	if c.paper {
		def("data", &c.data, "twocircles")
		def("model", &c.model, "hyper")
		def("batch", &c.batch, 512)
		def("iters", &c.iters, 1000)
		def("t-data", &c.dataTime, 10.0)
		def("t-base", &c.baseTime, 0.0)
		def("base-std", &c.baseStd, 0.1)
		def("range", &c.gridL, 1.5)
	}
	if c.quick {
		def("iters", &c.iters, 30)
		def("batch", &c.batch, 64)
		def("test", &c.test, 500)
		def("width", &c.width, 16)
		def("hidden", &c.hidden, 2)
		def("grid", &c.grid, 40)
		def("times", &c.times, 3)
		def("tol", &c.rtol, 1e-4)
		def("lr", &c.lr, 1e-2)
	}
	for _, f := range strings.Split(c.evalTols, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		tol, err := strconv.ParseFloat(f, 64)
		if err != nil || !(tol > 0) {
			return nil, errors.Errorf("cnf2d: -eval-tols: %q is not a positive tolerance", f)
		}
		c.tols = append(c.tols, tol)
	}
	if c.iters <= 0 || c.batch <= 0 || c.test <= 0 || c.width <= 0 || c.grid <= 1 || c.times < 2 {
		return nil, errors.Errorf("cnf2d: iters, batch, test, width must be positive, grid > 1, times >= 2 (got %+v)", *c)
	}
	return c, nil
}

func run(args []string, w io.Writer) error {
	c, err := parse(args)
	if err != nil {
		return err
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(c.seed), 0xc0ffee))
	test, err := cnf.Toy2D(c.data, rng, c.test)
	if err != nil {
		return err
	}
	var build graph.BuildFunc
	switch c.model {
	case "squash":
		h := make([]int, c.hidden)
		for i := range h {
			h[i] = c.width
		}
		build = cnf.ConcatSquashMLP{Hidden: h}.Build
	case "hyper":
		form := cnf.PaperForm
		switch c.form {
		case "paper":
		case "torchdiffeq":
			form = cnf.TorchdiffeqForm
		default:
			return errors.Errorf("cnf2d: unknown -hyper-form %q (paper or torchdiffeq)", c.form)
		}
		build = cnf.HyperFlow{Width: c.width, Form: form}.Build
	default:
		return errors.Errorf("cnf2d: unknown model %q", c.model)
	}
	mode := graph.TraceExact
	switch c.trace {
	case "exact":
	case "hutchinson":
		mode = graph.TraceHutchinson
	default:
		return errors.Errorf("cnf2d: unknown trace %q", c.trace)
	}
	var probe cnf.Probe
	switch c.probe {
	case "rademacher":
		probe = cnf.Rademacher
	case "gaussian":
		probe = cnf.Gaussian
	default:
		return errors.Errorf("cnf2d: unknown -probe %q (gaussian or rademacher)", c.probe)
	}
	ps := graph.NewParams(rand.New(rand.NewPCG(uint64(c.seed), 7)))
	cfg := cnf.Config{Dim: 2, DataTime: c.dataTime, BaseTime: c.baseTime, BaseStd: c.baseStd, Trace: mode, Probe: probe,
		Kinetic: c.kinetic, Frobenius: c.frob, Solver: odeint.Options{RTol: c.rtol, ATol: c.rtol}, Seed: uint64(c.seed)}
	fl, err := cnf.New(build, ps, cfg)
	if err != nil {
		return err
	}
	// Evaluation uses the exact trace and no regulariser states, on the same parameters.
	ecfg := cfg
	ecfg.Trace, ecfg.Kinetic, ecfg.Frobenius = graph.TraceExact, 0, 0
	eval, err := cnf.New(build, ps, ecfg)
	if err != nil {
		return err
	}
	opt, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: c.lr, Schedule: layers.Cosine(c.iters, 0.1)})
	if err != nil {
		return err
	}
	rep := Report{Data: c.data, Model: c.model, Trace: c.trace, Iters: c.iters, Batch: c.batch, Kinetic: c.kinetic, Frobenius: c.frob, Params: ps.Len()}
	if !c.jsonOut || !c.quick {
		fmt.Fprintf(w, "cnf2d: %s, model %s (%d parameters), %s trace, batch %d, %d iterations\n", c.data, c.model, ps.Len(), c.trace, c.batch, c.iters)
	}
	bar := progressbar.NewOptions(c.iters, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("cnf2d "+c.data),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetVisibility(!c.quick),
		progressbar.OptionClearOnFinish())
	trainStart := time.Now()
	tail := max(1, c.iters/10)
	ema := math.NaN()
	for it := 0; it < c.iters; it++ {
		x, err := cnf.Toy2D(c.data, rng, c.batch)
		if err != nil {
			return err
		}
		r, err := fl.Gradient(x)
		if err != nil {
			return errors.Wrapf(err, "cnf2d: iteration %d", it)
		}
		if _, err := opt.Step(); err != nil {
			return errors.Wrapf(err, "cnf2d: iteration %d", it)
		}
		if it >= c.iters-tail {
			rep.ForwardNFE += float64(r.Stats.ForwardNFE) / float64(tail)
			rep.BackwardNFE += float64(r.Stats.BackwardNFE) / float64(tail)
		}
		if math.IsNaN(ema) {
			ema = r.Loss
		}
		ema = 0.95*ema + 0.05*r.Loss
		bar.Describe(fmt.Sprintf("cnf2d %s loss %.3f nfe %d/%d", c.data, ema, r.Stats.ForwardNFE, r.Stats.BackwardNFE))
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	rep.MsPerIter = float64(time.Since(trainStart).Microseconds()) / 1e3 / float64(c.iters)

	er, err := eval.LogDensity(test)
	if err != nil {
		return errors.Wrap(err, "cnf2d: test log-density")
	}
	rep.TestNFE = er.NFE
	for _, v := range er.LogP {
		rep.TestNLL -= v / float64(len(er.LogP))
	}
	for _, tol := range c.tols {
		tcfg := ecfg
		tcfg.Solver.RTol, tcfg.Solver.ATol = tol, tol
		tf, err := cnf.New(build, ps, tcfg)
		if err != nil {
			return err
		}
		r, err := tf.LogDensity(test)
		if err != nil {
			return errors.Wrapf(err, "cnf2d: test log-density at tolerance %g", tol)
		}
		te := TolEval{Tol: tol, NFE: r.NFE}
		for _, v := range r.LogP {
			te.TestNLL -= v / float64(len(r.LogP))
		}
		rep.AtTol = append(rep.AtTol, te)
	}
	if c.data == "8gaussians" {
		t := 0.0
		for i := 0; i < c.test; i++ {
			t -= cnf.EightGaussiansLogDensity(test[2*i], test[2*i+1]) / float64(c.test)
		}
		rep.TrueNLL = &t
	}
	if !c.noPics {
		if rep.Pictures, err = pictures(c, eval, test, rng); err != nil {
			return err
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if c.jsonOut {
		b, err := json.Marshal(rep)
		if err != nil {
			return errors.Wrap(err, "cnf2d: report")
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	fmt.Fprintf(w, "test NLL %.4f nats (NFE %d)", rep.TestNLL, rep.TestNFE)
	if rep.TrueNLL != nil {
		fmt.Fprintf(w, ", true density's NLL %.4f (gap %.4f)", *rep.TrueNLL, rep.TestNLL-*rep.TrueNLL)
	}
	fmt.Fprintf(w, "\ntraining: %.1f ms/iteration, NFE forward %.1f backward %.1f (last 10%%)\n", rep.MsPerIter, rep.ForwardNFE, rep.BackwardNFE)
	for _, te := range rep.AtTol {
		fmt.Fprintf(w, "test at tolerance %g: NLL %.4f, NFE %d\n", te.Tol, te.TestNLL, te.NFE)
	}
	for _, p := range rep.Pictures {
		fmt.Fprintln(w, "wrote", p)
	}
	return nil
}

// pictures writes samples.png and flow.png into c.out and returns their paths.
func pictures(c *config, fl *cnf.Flow, data []float64, rng *rand.Rand) ([]string, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, errors.Wrap(err, "cnf2d: output folder")
	}
	g := grid{n: c.grid, l: c.gridL}
	pts := g.points()
	scale := max(1, 300/c.grid)
	nsamp := max(len(data)/2, 20000)
	if c.quick {
		nsamp = len(data) / 2
	}
	smp, err := fl.Sample(rng, nsamp)
	if err != nil {
		return nil, errors.Wrap(err, "cnf2d: sampling")
	}
	dens, err := fl.LogDensity(pts)
	if err != nil {
		return nil, errors.Wrap(err, "cnf2d: density on the grid")
	}
	p1 := filepath.Join(c.out, "samples.png")
	if err := writePanels(p1, g.n, scale, [][]panel{{g.histogram(data), g.histogram(smp.Z), exps(dens.LogP)}}); err != nil {
		return nil, err
	}
	// The flow from the base to the data: samples pushed forward and the marginal density
	// at each time.
	cfg := fl.Config()
	ts := make([]float64, c.times)
	for i := range ts {
		ts[i] = cfg.BaseTime + (cfg.DataTime-cfg.BaseTime)*float64(i)/float64(c.times-1)
	}
	traj, err := fl.Trajectory(fl.SampleBase(rng, nsamp), ts)
	if err != nil {
		return nil, errors.Wrap(err, "cnf2d: trajectories")
	}
	var top, bottom []panel
	for i, t := range ts {
		d, err := fl.LogDensityAt(pts, t)
		if err != nil {
			return nil, errors.Wrapf(err, "cnf2d: density at t=%g", t)
		}
		top = append(top, exps(d.LogP))
		bottom = append(bottom, g.histogram(traj[i].Z))
	}
	p2 := filepath.Join(c.out, "flow.png")
	if err := writePanels(p2, g.n, scale, [][]panel{top, bottom}); err != nil {
		return nil, err
	}
	return []string{p1, p2}, nil
}

func exps(lp []float64) panel {
	p := make(panel, len(lp))
	for i, v := range lp {
		p[i] = math.Exp(v)
	}
	return p
}
