// Command adjoint-vs-backprop measures the central claim of Chen et al. (2018): the
// adjoint method computes the gradient through an ODE solve in memory that does not grow
// with the number of solver steps, while backpropagating through the solver's steps
// (the paper's RK-Net) needs memory linear in them.
//
// The dynamics are a Gorgonia MLP f(t, z) = tanh(z W1 + t c + b1) W2 + b2 on a 64-wide
// state (graph.NewDynamics) and the loss is L = c . z(T). For every row the program
// computes dL/dz(0) and dL/dtheta with one of the adjoint package's methods
//
//   - backsolve: the paper's adjoint, the augmented state integrated backwards;
//   - backsolve+seminorm: the same with a_theta and a_t left out of the backward error
//     norm (Kidger, Chen and Lyons 2021);
//   - checkpointed: the state kept every -every accepted steps (default 10), each segment
//     re-solved and backpropagated;
//   - direct: backpropagation through every recorded Runge-Kutta step;
//
// and reports the gradient's relative error against a tight-tolerance reference, the
// forward and backward wall time and evaluation counts, the bytes the method retains
// for the backward pass (adjoint.Stats.RetainedBytes) and, as a check on that analytic
// figure, the Go heap growth held by the tape between Forward and Backward.
//
// Two tables: a fixed-step RK4 grid with N = 10, 100, 1000, 10000 steps (the memory
// claim), and adaptive Dopri5 over rtol = 1e-3 ... 1e-11 (steps grow as the tolerance
// tightens; seminorm's backward savings). It writes memory.png (retained bytes against
// steps, the measured tape as rings), live.png (the live heap during the backward pass),
// time.png and adaptive.png (gradient error against NFE) to -out.
//
//	go run ./examples/adjoint-vs-backprop [-out dir] [-json] [-quick] [-reps n] [-every k]
//
// With -json the final report is printed as one JSON object on the last line; -quick
// uses N = 10, 100 and two tolerances and finishes in about a second. Progress goes to
// standard error.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pkg/errors"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "adjoint-vs-backprop:", err)
		os.Exit(1)
	}
}

// config holds the settings of one run.
type config struct {
	Width   int       `json:"width"`  // state width D
	Hidden  int       `json:"hidden"` // hidden width of the MLP
	Batch   int       `json:"batch"`  // trajectories solved together
	Params  int       `json:"params"` // number of parameters theta
	T       float64   `json:"t_end"`  // the solve runs over [0, T]
	Scale   float64   `json:"scale"`  // scale of the output layer's initialisation
	Every   int       `json:"checkpoint_every"`
	Reps    int       `json:"reps"` // timings are the minimum over reps runs
	Steps   []int     `json:"fixed_steps"`
	RTols   []float64 `json:"adaptive_rtols"`
	ATolRel float64   `json:"atol_over_rtol"`
}

// Report is the final JSON object.
type Report struct {
	Config    config     `json:"config"`
	Reference *Reference `json:"reference"`
	Fixed     []Row      `json:"fixed"`
	Adaptive  []Row      `json:"adaptive"`
	Ratios    Ratios     `json:"ratios"`
	PNGs      []string   `json:"pngs"`
}

// run parses args, runs both tables, prints them to stdout (and with -json the report
// as the last line), writes the plots and reports progress to progress.
func run(args []string, stdout, progress io.Writer) error {
	fs := flag.NewFlagSet("adjoint-vs-backprop", flag.ContinueOnError)
	fs.SetOutput(progress)
	out := fs.String("out", "out", "directory for the PNG plots")
	asJSON := fs.Bool("json", false, "print the final report as one JSON object on the last line")
	quick := fs.Bool("quick", false, "tiny settings (N = 10, 100; two tolerances) that run in about a second")
	reps := fs.Int("reps", 0, "timing repetitions, the minimum is reported (default 5, 1 with -quick)")
	every := fs.Int("every", 10, "accepted steps between checkpoints of the checkpointed method")
	width := fs.Int("width", 64, "state width")
	hidden := fs.Int("hidden", 64, "hidden width of the MLP")
	batch := fs.Int("batch", 1, "trajectories solved together (the state is batch*width)")
	tEnd := fs.Float64("T", 4, "end time of the solve")
	scale := fs.Float64("scale", 2, "scale of the MLP's output layer (about the Lipschitz constant of f)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.Errorf("unexpected arguments %v", fs.Args())
	}
	cfg := config{Width: *width, Hidden: *hidden, Batch: *batch, T: *tEnd, Scale: *scale, Every: *every, Reps: *reps, ATolRel: 1e-2,
		Steps: []int{10, 100, 1000, 10000}, RTols: []float64{1e-3, 1e-5, 1e-7, 1e-9, 1e-11}}
	if *quick {
		cfg.Steps, cfg.RTols = []int{10, 100}, []float64{1e-3, 1e-6}
	}
	if cfg.Reps == 0 {
		cfg.Reps = 5
		if *quick {
			cfg.Reps = 1
		}
	}
	switch {
	case cfg.Width < 1 || cfg.Hidden < 1 || cfg.Batch < 1:
		return errors.Errorf("width %d, hidden %d and batch %d must be positive", cfg.Width, cfg.Hidden, cfg.Batch)
	case cfg.Every < 1:
		return errors.Errorf("-every %d must be positive", cfg.Every)
	case cfg.Reps < 1:
		return errors.Errorf("-reps %d must be positive", cfg.Reps)
	case !(cfg.T > 0) || !(cfg.Scale > 0):
		return errors.Errorf("-T %g and -scale %g must be positive", cfg.T, cfg.Scale)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return errors.Wrap(err, "creating the output directory")
	}

	p, err := newProblem(cfg.Width, cfg.Hidden, cfg.Batch, cfg.Scale, cfg.T)
	if err != nil {
		return err
	}
	cfg.Params = p.f.NumParams()
	fmt.Fprintf(progress, "adjoint-vs-backprop: reference gradient (direct through dopri8 at rtol 1e-12)\n")
	ref, err := p.reference()
	if err != nil {
		return err
	}
	rep := &Report{Config: cfg, Reference: ref}
	b := &bench{p: p, ref: ref, cfg: cfg, progress: progress}
	if err := b.warmUp(); err != nil {
		return err
	}
	b.total = len(methods) * (len(cfg.Steps) + len(cfg.RTols))
	if rep.Fixed, err = b.fixedTable(); err != nil {
		return err
	}
	if rep.Adaptive, err = b.adaptiveTable(); err != nil {
		return err
	}
	rep.Ratios = ratios(rep.Fixed, rep.Adaptive)

	fmt.Fprintf(stdout, "Gradient of L = c.z(T) through a %d-wide Gorgonia MLP (hidden %d, batch %d, %d parameters) over [0, %g].\n",
		cfg.Width, cfg.Hidden, cfg.Batch, cfg.Params, cfg.T)
	fmt.Fprintf(stdout, "Reference: %s through %s at rtol %.0e, atol %.0e (%d steps); backsolve at the same tolerance differs by %.1e.\n",
		ref.Method, ref.Solver, ref.RTol, ref.ATol, ref.Steps, ref.CrossCheck)
	fmt.Fprintf(stdout, "Checkpointed keeps the state every %d accepted steps. Times are the fastest of %d run(s).\n\n", cfg.Every, cfg.Reps)
	fmt.Fprintf(stdout, "Fixed-step RK4, N steps over [0, %g]:\n", cfg.T)
	printTable(stdout, rep.Fixed, false)
	fmt.Fprintf(stdout, "\nAdaptive Dopri5, atol = rtol/100:\n")
	printTable(stdout, rep.Adaptive, true)
	fmt.Fprintln(stdout)
	printRatios(stdout, rep.Ratios)

	if rep.PNGs, err = writePlots(*out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nPlots: %v\n", rep.PNGs)
	if *asJSON {
		js, err := json.Marshal(rep)
		if err != nil {
			return errors.Wrap(err, "encoding the report")
		}
		fmt.Fprintln(stdout, string(js))
	}
	return nil
}

// pngPath joins the output directory and a plot's name.
func pngPath(dir, name string) string { return filepath.Join(dir, name) }
