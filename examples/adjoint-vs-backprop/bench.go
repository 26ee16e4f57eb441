package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/pkg/errors"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/odeint"
)

// variant is one gradient method as the tables name it.
type variant struct {
	name     string
	method   adjoint.Method
	seminorm bool
}

// methods are the rows of every block, in table order.
var methods = []variant{
	{"backsolve", adjoint.Backsolve, false},
	{"backsolve+seminorm", adjoint.Backsolve, true},
	{"checkpointed", adjoint.Checkpointed, false},
	{"direct", adjoint.Direct, false},
}

// Row is one gradient computation of the tables.
type Row struct {
	Method string  `json:"method"`
	Solver string  `json:"solver"`
	N      int     `json:"n,omitempty"`    // requested steps (fixed-step table)
	RTol   float64 `json:"rtol,omitempty"` // tolerance (adaptive table)
	// Steps is the number of accepted forward steps, BackwardSteps the backward ones
	// (Backsolve) or the steps backpropagated (the others).
	Steps         int `json:"steps"`
	BackwardSteps int `json:"backward_steps"`
	ForwardNFE    int `json:"forward_nfe"`
	BackwardNFE   int `json:"backward_nfe"`
	// ForwardSec and BackwardSec are wall times, the minimum over the repetitions.
	ForwardSec  float64 `json:"forward_s"`
	BackwardSec float64 `json:"backward_s"`
	// CPUSec is the process's CPU time (user + system, all threads: the Go runtime's
	// collector included) for Forward and Backward together, the minimum over the
	// repetitions. On a shared machine it is steadier than the wall times.
	CPUSec float64 `json:"cpu_s"`
	// RetainedBytes is adjoint.Stats.RetainedBytes: the analytic peak the method holds
	// for the backward pass.
	RetainedBytes int64 `json:"retained_bytes"`
	// MeasuredBytes is the Go heap growth held by the tape between Forward and
	// Backward (after a GC on both sides): the analytic figure checked by measurement.
	// Like RetainedBytes, it leaves out buffers Backward allocates.
	MeasuredBytes int64 `json:"measured_bytes"`
	// BackwardLiveBytes is the live heap during Backward above the level before
	// Forward: the largest of three measurements taken inside the dynamics' calls at
	// 1/4, 1/2 and 3/4 of the backward pass (in a separate, untimed run). It adds to the
	// tape the backward pass's working memory (adjoint.Stats.WorkBytes): Checkpointed's
	// segment buffer, Backsolve's solver buffers for the augmented state
	// [z, a, a_theta, a_t] of size 2D+P+1 each.
	BackwardLiveBytes int64 `json:"backward_live_bytes"`
	// GradError is ||g - g_ref||_2 / ||g_ref||_2 over (dL/dz0, dL/dtheta).
	GradError float64 `json:"grad_error"`
}

// bench runs the rows of both tables on one problem.
type bench struct {
	p        *problem
	ref      *Reference
	cfg      config
	progress io.Writer
	done     int
	total    int
}

func (b *bench) options(v variant, sopt odeint.Options) adjoint.Options {
	return adjoint.Options{Method: v.method, Solver: sopt, Seminorm: v.seminorm, CheckpointEvery: b.cfg.Every}
}

// warmUp runs every method once on the cheapest settings of both tables, so that no
// measured row pays for first-use allocations (compiled programs, lazily built buffers).
func (b *bench) warmUp() error {
	for _, v := range methods {
		for _, sopt := range []odeint.Options{b.fixed(b.cfg.Steps[0]), b.adaptive(b.cfg.RTols[0])} {
			// Through the measuring code itself, so that its own first-use allocations
			// do not land in the first row's heap figure either.
			if err := b.sample(&Row{}, b.options(v, sopt), true); err != nil {
				return errors.Wrapf(err, "warm-up %s", v.name)
			}
		}
	}
	return nil
}

func (b *bench) fixed(n int) odeint.Options {
	// MaxSteps stays at odeint's default (10^5 attempts), ten times the largest grid.
	return odeint.Options{Method: odeint.RK4, Step: b.cfg.T / float64(n)}
}

func (b *bench) adaptive(rtol float64) odeint.Options {
	return odeint.Options{Method: odeint.Dopri5, RTol: rtol, ATol: rtol * b.cfg.ATolRel}
}

// fixedTable runs every method on the RK4 grid of N steps.
func (b *bench) fixedTable() ([]Row, error) {
	var rows []Row
	for _, n := range b.cfg.Steps {
		blk, err := b.block(b.fixed(n))
		if err != nil {
			return nil, errors.Wrapf(err, "rk4 N=%d", n)
		}
		for i := range blk {
			blk[i].N = n
			if blk[i].Steps != n {
				return nil, errors.Errorf("rk4 N=%d %s: the solver took %d steps", n, blk[i].Method, blk[i].Steps)
			}
			b.report(blk[i])
		}
		rows = append(rows, blk...)
	}
	return rows, nil
}

// adaptiveTable runs every method with Dopri5 at every tolerance.
func (b *bench) adaptiveTable() ([]Row, error) {
	var rows []Row
	for _, tol := range b.cfg.RTols {
		blk, err := b.block(b.adaptive(tol))
		if err != nil {
			return nil, errors.Wrapf(err, "dopri5 rtol=%g", tol)
		}
		for i := range blk {
			blk[i].RTol = tol
			b.report(blk[i])
		}
		rows = append(rows, blk...)
	}
	return rows, nil
}

func (b *bench) report(r Row) {
	b.done++
	what := fmt.Sprintf("N=%d", r.N)
	if r.RTol > 0 {
		what = fmt.Sprintf("rtol=%.0e", r.RTol)
	}
	fmt.Fprintf(b.progress, "adjoint-vs-backprop: [%2d/%d] %-6s %-10s %-18s steps %5d  fwd %8.3fs  bwd %8.3fs  retained %s\n",
		b.done, b.total, r.Solver, what, r.Method, r.Steps, r.ForwardSec, r.BackwardSec, bytesString(r.RetainedBytes))
}

// block computes the gradient with every method on the same solver settings, cfg.Reps
// rounds of all methods in turn (so that a busy machine slows every method alike; the
// times are the minimum over the rounds), then measures each method's live heap during
// the backward pass in one more, untimed run.
func (b *bench) block(sopt odeint.Options) ([]Row, error) {
	rows := make([]Row, len(methods))
	for i, v := range methods {
		rows[i] = Row{Method: v.name, Solver: sopt.Method.Name}
	}
	for rep := 0; rep < b.cfg.Reps; rep++ {
		for i, v := range methods {
			if err := b.sample(&rows[i], b.options(v, sopt), rep == 0); err != nil {
				return nil, errors.Wrap(err, v.name)
			}
		}
	}
	for i, v := range methods {
		live, err := b.liveDuringBackward(b.options(v, sopt), rows[i].BackwardNFE)
		if err != nil {
			return nil, errors.Wrapf(err, "%s: measuring the heap during the backward pass", v.name)
		}
		rows[i].BackwardLiveBytes = live
	}
	return rows, nil
}

// sample runs Forward and Backward once and folds the times into r (the minimum over
// samples); the first sample also sets the counts, the memory figures and the error.
func (b *bench) sample(r *Row, opt adjoint.Options, first bool) error {
	var before, after runtime.MemStats
	settle()
	runtime.ReadMemStats(&before)
	start, cpu0 := time.Now(), cpuSeconds()
	tp, err := adjoint.Forward(b.p.f, b.p.y0, b.p.ts, opt)
	if err != nil {
		return err
	}
	fwd, fwdCPU := time.Since(start).Seconds(), cpuSeconds()-cpu0
	if first {
		// The tape is alive here (it is used below), so everything it holds is
		// reachable and survives the collections; the solver's working buffers do not.
		settle()
		runtime.ReadMemStats(&after)
		r.MeasuredBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	start, cpu0 = time.Now(), cpuSeconds()
	g, err := tp.Backward(b.p.dLdy)
	if err != nil {
		return err
	}
	bwd, bwdCPU := time.Since(start).Seconds(), cpuSeconds()-cpu0
	if first {
		r.ForwardSec, r.BackwardSec, r.CPUSec = fwd, bwd, fwdCPU+bwdCPU
		s := g.Stats
		r.Steps, r.BackwardSteps = s.ForwardSteps, s.BackwardSteps
		r.ForwardNFE, r.BackwardNFE = s.ForwardNFE, s.BackwardNFE
		r.RetainedBytes = s.RetainedBytes
		r.GradError = relErr(flat(g), b.ref.grad)
		return nil
	}
	r.ForwardSec, r.BackwardSec = min(r.ForwardSec, fwd), min(r.BackwardSec, bwd)
	r.CPUSec = min(r.CPUSec, fwdCPU+bwdCPU)
	return nil
}

// probe wraps the dynamics and, once armed, measures the live heap inside the calls
// whose numbers are in at.
type probe struct {
	f     adjoint.Dynamics
	armed bool
	calls int
	at    []int
	base  uint64
	peak  int64
}

func (p *probe) Eval(t float64, y, dydt []float64) error {
	p.tick()
	return p.f.Eval(t, y, dydt)
}

func (p *probe) VJP(t float64, y, a, f, dy, dp []float64) (float64, error) {
	p.tick()
	return p.f.VJP(t, y, a, f, dy, dp)
}

func (p *probe) NumParams() int { return p.f.NumParams() }

func (p *probe) tick() {
	if !p.armed {
		return
	}
	p.calls++
	for _, k := range p.at {
		if k == p.calls {
			var m runtime.MemStats
			settle()
			runtime.ReadMemStats(&m)
			p.peak = max(p.peak, int64(m.HeapAlloc)-int64(p.base))
		}
	}
}

// liveDuringBackward runs Forward and Backward once more through a probe that measures
// the live heap at 1/4, 1/2 and 3/4 of the backward pass's nfe evaluations.
func (b *bench) liveDuringBackward(opt adjoint.Options, nfe int) (int64, error) {
	pr := &probe{f: b.p.f, at: []int{max(1, nfe/4), max(1, nfe/2), max(1, 3*nfe/4)}}
	var m runtime.MemStats
	settle()
	runtime.ReadMemStats(&m)
	pr.base = m.HeapAlloc
	tp, err := adjoint.Forward(pr, b.p.y0, b.p.ts, opt)
	if err != nil {
		return 0, err
	}
	pr.armed = true
	if _, err := tp.Backward(b.p.dLdy); err != nil {
		return 0, err
	}
	return pr.peak, nil
}

// settle collects garbage twice: objects dropped into a sync.Pool (Gorgonia's tensor
// pools) survive one collection in the pool's victim cache and are freed by the second.
// Without it the measured heap growth is off by whatever the pools held, either way.
func settle() {
	runtime.GC()
	runtime.GC()
}
