// Command spiral is the classic neural ODE demo (torchdiffeq's ode_demo.py): learn the
// dynamics dy/dt = y^3 A, A = [[-0.1, 2], [-2, -0.1]] (y a row vector), from one
// trajectory y(t), t = linspace(0, 25, 1000), y(0) = [2, 0].
//
// Each iteration draws 20 random windows of 10 consecutive points, solves the model
// f(y) = Linear(50,2)(tanh(Linear(2,50)(y^3))) from the windows' first points over the
// 10 window-relative times in ONE batched Dopri5 solve (state [20, 2], rtol 1e-7,
// atol 1e-9: odeint's defaults, which are torchdiffeq's), takes the L1 loss against the
// data, backpropagates through the solve (-method direct: through the solver's steps;
// -method adjoint: the paper's backsolve adjoint) and takes an RMSProp step (lr 1e-3).
//
// It reports the median wall time and NFE per iteration and the learned model's mean L1
// error over the whole trajectory, and draws true against learned trajectories and the
// learned vector field (PNG).
//
//	go run ./examples/spiral [-method direct|adjoint] [-iters 2000] [-out dir] [-json] [-quick]
//
// With -json the final report is printed as one JSON object on the last line; -quick
// trains for a few iterations and finishes in about a second.
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
	"sort"
	"time"

	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "spiral:", err)
		os.Exit(1)
	}
}

// torchdiffeq's ode_demo on this machine kind (PyTorch 1.13, 2 threads, dopri5 at rtol
// 1e-7 / atol 1e-9, batch of 20 windows): the per-iteration reference of the issue.
const (
	refDirectMS   = 19.9
	refAdjointMS  = 111
	refDirectNFE  = 57
	refAdjointNFE = 182
	refDirectL1   = 0.081
	refAdjointL1  = 0.171
)

// config holds the command-line settings.
type config struct {
	Method    string  `json:"method"`
	Iters     int     `json:"iters"`
	BatchSize int     `json:"batch_size"`
	BatchTime int     `json:"batch_time"`
	DataSize  int     `json:"data_size"`
	LR        float64 `json:"lr"`
	RTol      float64 `json:"rtol"`
	ATol      float64 `json:"atol"`
	Seminorm  bool    `json:"seminorm"`
	Workers   int     `json:"workers"`
	TestFreq  int     `json:"test_freq"`
	Seed      uint64  `json:"seed"`
	Schedule  string  `json:"schedule"`
	Optim     string  `json:"optim"`
	out       string
	json      bool
	quick     bool
	noPlot    bool
}

// Report is the final report (printed as JSON with -json).
type Report struct {
	Config config `json:"config"`
	// MSPerIter is the median wall time of an iteration: batch, forward solve, loss,
	// backward pass and optimiser step.
	MSPerIter float64 `json:"ms_per_iter"`
	// NFE is the median number of evaluations of f (forward) plus VJPs (backward) per iteration.
	NFE         float64 `json:"nfe_per_iter"`
	ForwardNFE  float64 `json:"forward_nfe"`
	BackwardNFE float64 `json:"backward_nfe"`
	// L1 is the mean absolute error of the learned trajectory from y(0) over all
	// DataSize times after the last iteration.
	L1 float64 `json:"l1"`
	// L1History is the whole-trajectory error every TestFreq iterations.
	L1History []float64 `json:"l1_history"`
	// RefMS and RefNFE are torchdiffeq's figures for the same method; TimeRatio is
	// MSPerIter / RefMS.
	RefMS     float64  `json:"ref_ms"`
	RefNFE    float64  `json:"ref_nfe"`
	RefL1     float64  `json:"ref_l1"`
	TimeRatio float64  `json:"time_ratio"`
	Seconds   float64  `json:"seconds"`
	PNGs      []string `json:"pngs"`
}

func parse(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("spiral", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Method, "method", "direct", "gradient method: direct (backprop through the solver) or adjoint (backsolve)")
	fs.IntVar(&c.Iters, "iters", 2000, "training iterations")
	fs.IntVar(&c.BatchSize, "batch", 20, "windows per batch")
	fs.IntVar(&c.BatchTime, "batch-time", 10, "points per window")
	fs.IntVar(&c.DataSize, "data-size", 1000, "points of the true trajectory on [0, 25]")
	fs.Float64Var(&c.LR, "lr", 1e-3, "RMSProp learning rate")
	fs.Float64Var(&c.RTol, "rtol", 1e-7, "Dopri5 relative tolerance of the training solves")
	fs.Float64Var(&c.ATol, "atol", 1e-9, "Dopri5 absolute tolerance of the training solves")
	fs.BoolVar(&c.Seminorm, "seminorm", false, "adjoint: leave the parameter adjoint out of the backward error norm")
	fs.IntVar(&c.Workers, "workers", 1, "goroutines per dynamics call (1: no batch splitting, fastest at batch 20)")
	fs.IntVar(&c.TestFreq, "test-freq", 20, "iterations between whole-trajectory evaluations")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed (initialisation and batches)")
	fs.StringVar(&c.Schedule, "schedule", "constant", "learning rate: constant (torchdiffeq's) or cosine (annealed to 0 over -iters; not the reference setting)")
	fs.StringVar(&c.Optim, "optim", "rmsprop", "optimiser: rmsprop (torchdiffeq's) or adam (not the reference setting)")
	fs.StringVar(&c.out, "out", "out", "directory for the PNGs")
	fs.BoolVar(&c.json, "json", false, "print the final report as one JSON object on the last line")
	fs.BoolVar(&c.quick, "quick", false, "tiny run that finishes in seconds")
	fs.BoolVar(&c.noPlot, "no-plot", false, "skip the PNGs")
	if err := fs.Parse(args); err != nil {
		return nil, errors.Wrap(err, "spiral: flags")
	}
	if c.quick { // tiny settings, except where a flag says otherwise
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["iters"] {
			c.Iters = 30
		}
		if !set["test-freq"] {
			c.TestFreq = 10
		}
	}
	if c.Schedule != "constant" && c.Schedule != "cosine" {
		return nil, errors.Errorf("spiral: -schedule %q: want constant or cosine", c.Schedule)
	}
	if c.Optim != "rmsprop" && c.Optim != "adam" {
		return nil, errors.Errorf("spiral: -optim %q: want rmsprop or adam", c.Optim)
	}
	if c.Method != "direct" && c.Method != "adjoint" {
		return nil, errors.Errorf("spiral: -method %q: want direct or adjoint", c.Method)
	}
	if c.Iters < 1 || c.BatchSize < 1 || c.BatchTime < 2 || c.DataSize < c.BatchTime+c.BatchSize || c.TestFreq < 1 || !(c.LR > 0) {
		return nil, errors.Errorf("spiral: invalid settings %+v", *c)
	}
	return c, nil
}

// trueA is the matrix of the true dynamics dy/dt = y^3 A (y a row vector).
var trueA = [2][2]float64{{-0.1, 2}, {-2, -0.1}}

// trueDynamics is dy/dt = y^3 A for a batch of 2-vectors.
func trueDynamics(_ float64, y, dydt []float64) error {
	for i := 0; i+1 < len(y); i += 2 {
		a, b := y[i]*y[i]*y[i], y[i+1]*y[i+1]*y[i+1]
		dydt[i] = a*trueA[0][0] + b*trueA[1][0]
		dydt[i+1] = a*trueA[0][1] + b*trueA[1][1]
	}
	return nil
}

// linspace returns n points from a to b inclusive.
func linspace(a, b float64, n int) []float64 {
	t := make([]float64, n)
	for i := range t {
		t[i] = a + (b-a)*float64(i)/float64(n-1)
	}
	return t
}

// buildODEFunc is torchdiffeq's ODEFunc: f(t, y) = Linear(50, 2)(tanh(Linear(2, 50)(y^3))),
// weights N(0, 0.1^2) and zero biases as ode_demo initialises them. Weights are stored
// [in, out] so the graph needs no transpose.
func buildODEFunc(s *graph.Scope, _, z *G.Node) (*G.Node, error) {
	x, err := G.Cube(z)
	if err != nil {
		return nil, err
	}
	dense := func(name string, x *G.Node, in, out int) (*G.Node, error) {
		w, err := s.Param(name+".weight", []int{in, out}, graph.Normal(0.1))
		if err != nil {
			return nil, err
		}
		b, err := s.Param(name+".bias", []int{out}, graph.Zeros())
		if err != nil {
			return nil, err
		}
		y, err := G.Mul(x, w)
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(y, b, nil, []byte{0})
	}
	if x, err = dense("0", x, 2, 50); err != nil {
		return nil, err
	}
	if x, err = G.Tanh(x); err != nil {
		return nil, err
	}
	return dense("2", x, 50, 2)
}

// sampler draws batches of windows without replacement, as ode_demo's get_batch.
type sampler struct {
	rng  *rand.Rand
	perm []int
}

// draw writes k distinct window starts from [0, n) into dst.
func (s *sampler) draw(dst []int, n int) {
	if len(s.perm) != n {
		s.perm = make([]int, n)
		for i := range s.perm {
			s.perm[i] = i
		}
	}
	for i := range dst { // partial Fisher-Yates
		j := i + s.rng.IntN(n-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
		dst[i] = s.perm[i]
	}
}

func run(args []string, stdout io.Writer) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	start := time.Now()
	ts := linspace(0, 25, cfg.DataSize)
	y0 := []float64{2, 0}
	truth, err := odeint.Solve(trueDynamics, y0, ts, odeint.Options{RTol: 1e-10, ATol: 1e-12})
	if err != nil {
		return errors.Wrap(err, "spiral: true trajectory")
	}
	trueY := truth.Y

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	ps := graph.NewParams(rng)
	f, err := graph.NewDynamics(buildODEFunc, ps, []int{2}, graph.Options{Workers: cfg.Workers})
	if err != nil {
		return errors.Wrap(err, "spiral: dynamics")
	}
	// Gorgonia's RMSProp is c = rho c + (1-rho) g^2, w -= lr g / sqrt(c + eps); PyTorch's is
	// v = alpha v + (1-alpha) g^2, w -= lr g / (sqrt(v) + eps). rho = alpha = 0.99 and
	// eps = 1e-16 inside the root match PyTorch's eps = 1e-8 outside it both where
	// c >> 1e-16 (eps negligible in both) and at c = 0 (both divide by 1e-8).
	ocfg := layers.OptimConfig{Method: layers.RMSProp, LR: cfg.LR, Rho: 0.99, Eps: 1e-16}
	if cfg.Optim == "adam" {
		ocfg = layers.OptimConfig{Method: layers.Adam, LR: cfg.LR}
	}
	if cfg.Schedule == "cosine" {
		ocfg.Schedule = layers.Cosine(cfg.Iters, 0)
	}
	opt, err := layers.NewOptimizer(ps, ocfg)
	if err != nil {
		return errors.Wrap(err, "spiral: optimiser")
	}
	// The windows share one fixed time grid: dL/dt_i is never used, so skip it (one f
	// evaluation per output time).
	aopt := adjoint.Options{Method: adjoint.Direct, Solver: odeint.Options{RTol: cfg.RTol, ATol: cfg.ATol}, NoTimeGradients: true}
	if cfg.Method == "adjoint" {
		aopt.Method, aopt.Seminorm = adjoint.Backsolve, cfg.Seminorm
	}

	B, T := cfg.BatchSize, cfg.BatchTime
	bt := ts[:T] // every window shares the relative grid ts[0:T] (ts[0] = 0)
	starts := make([]int, B)
	smp := &sampler{rng: rng}
	by0 := make([]float64, 2*B)
	dLdy := make([][]float64, T)
	for i := range dLdy {
		dLdy[i] = make([]float64, 2*B)
	}
	var msIter, fwdNFE, bwdNFE, totNFE []float64
	rep := &Report{Config: *cfg}

	bar := progressbar.NewOptions(cfg.Iters, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("spiral "+cfg.Method), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetVisibility(!cfg.quick),
		progressbar.OptionClearOnFinish())
	for it := 1; it <= cfg.Iters; it++ {
		t0 := time.Now()
		smp.draw(starts, cfg.DataSize-T)
		for b, s := range starts {
			copy(by0[2*b:], trueY[s])
		}
		tape, err := adjoint.Forward(f, by0, bt, aopt)
		if err != nil {
			return errors.Wrapf(err, "spiral: iteration %d: forward", it)
		}
		// L1 loss mean|pred - true| over T*B*2 values; its subgradient is sign/count.
		count := float64(T * B * 2)
		for i, yi := range tape.Y() {
			for b, s := range starts {
				for d := 0; d < 2; d++ {
					dLdy[i][2*b+d] = sign(yi[2*b+d]-trueY[s+i][d]) / count
				}
			}
		}
		g, err := tape.Backward(dLdy)
		if err != nil {
			return errors.Wrapf(err, "spiral: iteration %d: backward", it)
		}
		if err := f.AccumulateGrad(g.Params); err != nil {
			return err
		}
		if _, err := opt.Step(); err != nil {
			return errors.Wrapf(err, "spiral: iteration %d", it)
		}
		msIter = append(msIter, float64(time.Since(t0).Microseconds())/1000)
		fwdNFE = append(fwdNFE, float64(g.Stats.ForwardNFE))
		bwdNFE = append(bwdNFE, float64(g.Stats.BackwardNFE))
		totNFE = append(totNFE, float64(g.Stats.ForwardNFE+g.Stats.BackwardNFE))
		if it%cfg.TestFreq == 0 || it == cfg.Iters {
			l1, _, err := evaluate(f, y0, ts, trueY)
			if err != nil {
				return errors.Wrapf(err, "spiral: iteration %d: evaluation", it)
			}
			rep.L1History = append(rep.L1History, l1)
			if !cfg.json {
				bar.Describe(fmt.Sprintf("spiral %s L1 %.4f", cfg.Method, l1))
			}
		}
		_ = bar.Add(1)
	}
	_ = bar.Finish()

	l1, pred, err := evaluate(f, y0, ts, trueY)
	if err != nil {
		return errors.Wrap(err, "spiral: final evaluation")
	}
	rep.L1 = l1
	rep.MSPerIter = median(msIter)
	rep.ForwardNFE, rep.BackwardNFE, rep.NFE = median(fwdNFE), median(bwdNFE), median(totNFE)
	rep.RefMS, rep.RefNFE, rep.RefL1 = refDirectMS, refDirectNFE, refDirectL1
	if cfg.Method == "adjoint" {
		rep.RefMS, rep.RefNFE, rep.RefL1 = refAdjointMS, refAdjointNFE, refAdjointL1
	}
	rep.TimeRatio = rep.MSPerIter / rep.RefMS
	if !cfg.noPlot {
		if err := os.MkdirAll(cfg.out, 0o755); err != nil {
			return errors.Wrap(err, "spiral: output directory")
		}
		p1 := filepath.Join(cfg.out, "spiral_"+cfg.Method+"_trajectories.png")
		if err := plotTrajectories(p1, ts, trueY, pred, rep); err != nil {
			return err
		}
		p2 := filepath.Join(cfg.out, "spiral_"+cfg.Method+"_vector_field.png")
		if err := plotField(p2, f, trueY, pred); err != nil {
			return err
		}
		rep.PNGs = []string{p1, p2}
	}
	rep.Seconds = time.Since(start).Seconds()

	fmt.Fprintf(stdout, "spiral (%s): %d iterations, batch %d x %d points, Dopri5 rtol %g atol %g\n", cfg.Method, cfg.Iters, B, T, cfg.RTol, cfg.ATol)
	fmt.Fprintf(stdout, "  per iteration: %.2f ms (torchdiffeq %.1f ms: ratio %.3f), NFE %.0f = %.0f forward + %.0f backward (torchdiffeq %d)\n",
		rep.MSPerIter, rep.RefMS, rep.TimeRatio, rep.NFE, rep.ForwardNFE, rep.BackwardNFE, int(rep.RefNFE))
	fmt.Fprintf(stdout, "  whole-trajectory mean L1 error: %.4f (torchdiffeq after 2000 iterations: %.3f)\n", rep.L1, rep.RefL1)
	for _, p := range rep.PNGs {
		fmt.Fprintf(stdout, "  wrote %s\n", p)
	}
	if cfg.json {
		b, err := json.Marshal(rep)
		if err != nil {
			return errors.Wrap(err, "spiral: report")
		}
		fmt.Fprintln(stdout, string(b))
	}
	return nil
}

// evaluate solves the model from y0 over all times and returns the mean absolute error
// against the true trajectory, and the predicted trajectory.
func evaluate(f *graph.Dynamics, y0, ts []float64, trueY [][]float64) (float64, [][]float64, error) {
	sol, err := odeint.Solve(f.Eval, y0, ts, odeint.Options{})
	if err != nil {
		return 0, nil, err
	}
	s := 0.0
	for i, y := range sol.Y {
		for d := range y {
			s += math.Abs(y[d] - trueY[i][d])
		}
	}
	return s / float64(len(ts)*len(y0)), sol.Y, nil
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// median returns the median of v (0 for none); v is not modified.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
