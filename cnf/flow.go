package cnf

import (
	"math"
	"math/rand/v2"

	"github.com/neuralode/neuralode/adjoint"
	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
)

// Config describes a continuous normalizing flow. The zero value of every field but Dim
// takes the default given with it; the defaults are FFJORD's toy settings.
type Config struct {
	// Dim is the data dimension D (required).
	Dim int
	// DataTime and BaseTime are where the data and the base distribution live: data are
	// integrated from DataTime to BaseTime to evaluate their density, base samples from
	// BaseTime to DataTime to sample. Defaults 0 and 0.5 (FFJORD); the paper's cnf.py
	// uses DataTime 10, BaseTime 0.
	DataTime, BaseTime float64
	// BaseStd is the standard deviation sigma of the base N(0, sigma^2 I) (default 1).
	BaseStd float64
	// Trace is graph.TraceExact (default) or graph.TraceHutchinson.
	Trace graph.TraceMode
	// Probe is the Hutchinson probe distribution (Gaussian by default), drawn once per solve.
	Probe Probe
	// Kinetic and Frobenius are the weights of the RNODE regularisers (Finlay et al.
	// 2020) in the training loss: Kinetic * ∫|f|^2 dt + Frobenius * ∫||df/dz||_F^2 dt
	// (per-sample means, integrals over the flow's time span). A positive weight adds
	// the corresponding state to the augmented dynamics.
	Kinetic, Frobenius float64
	// Solver configures every solve (default dopri5 with RTol = ATol = 1e-5).
	Solver odeint.Options
	// Adjoint configures training's gradient (default: backsolve adjoint with Solver's
	// settings; its Solver field is overwritten by Solver).
	Adjoint adjoint.Options
	// Graph configures the dynamics' compiled graphs (Workers 0 uses every core).
	Graph graph.Options
	// Seed seeds the probes (and nothing else; the parameters come from the Params' rng).
	Seed uint64
}

// Flow is a continuous normalizing flow: an augmented neural ODE whose parameters live in
// a graph.Params set. Its methods are not safe for concurrent use.
type Flow struct {
	cfg Config
	f   *graph.Dynamics
	aug *Augmented
	rng *rand.Rand
}

// New returns the flow with dynamics build over the parameter set ps.
func New(build graph.BuildFunc, ps *graph.Params, cfg Config) (*Flow, error) {
	if cfg.Dim <= 0 {
		return nil, errors.Errorf("cnf: data dimension %d", cfg.Dim)
	}
	if cfg.DataTime == 0 && cfg.BaseTime == 0 {
		cfg.BaseTime = 0.5
	}
	if cfg.DataTime == cfg.BaseTime {
		return nil, errors.Errorf("cnf: data and base times are both %g", cfg.DataTime)
	}
	if cfg.BaseStd == 0 {
		cfg.BaseStd = 1
	}
	if cfg.BaseStd < 0 || math.IsNaN(cfg.BaseStd) || math.IsInf(cfg.BaseStd, 0) {
		return nil, errors.Errorf("cnf: base standard deviation %g", cfg.BaseStd)
	}
	if cfg.Trace == 0 {
		cfg.Trace = graph.TraceExact
	}
	if cfg.Kinetic < 0 || cfg.Frobenius < 0 {
		return nil, errors.Errorf("cnf: negative regulariser weight (kinetic %g, frobenius %g)", cfg.Kinetic, cfg.Frobenius)
	}
	if cfg.Solver.RTol == 0 {
		cfg.Solver.RTol = 1e-5
	}
	if cfg.Solver.ATol == 0 {
		cfg.Solver.ATol = 1e-5
	}
	cfg.Adjoint.Solver = cfg.Solver
	f, err := graph.NewDynamics(build, ps, []int{cfg.Dim}, cfg.Graph)
	if err != nil {
		return nil, errors.Wrap(err, "cnf: building the dynamics")
	}
	aug, err := NewAugmented(f, cfg.Trace, cfg.Kinetic > 0, cfg.Frobenius > 0)
	if err != nil {
		return nil, err
	}
	return &Flow{cfg: cfg, f: f, aug: aug, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))}, nil
}

// Config returns the flow's configuration with its defaults filled in.
func (fl *Flow) Config() Config { return fl.cfg }

// Dynamics returns the flow's dynamics f.
func (fl *Flow) Dynamics() *graph.Dynamics { return fl.f }

// Augmented returns the flow's augmented dynamics (its probe is the last one drawn).
func (fl *Flow) Augmented() *Augmented { return fl.aug }

// BaseLogDensity returns log N(z; 0, sigma^2 I) of one D-dimensional point.
func (fl *Flow) BaseLogDensity(z []float64) float64 {
	s2 := fl.cfg.BaseStd * fl.cfg.BaseStd
	q := 0.0
	for _, v := range z {
		q += v * v
	}
	return -0.5*float64(len(z))*math.Log(2*math.Pi*s2) - q/(2*s2)
}

// Result reports a batch solve: per-sample values and the cost.
type Result struct {
	// LogP is log p(x) of each sample under the flow (at the solve's end for Sample).
	LogP []float64
	// Z is the other end of each trajectory (the base point for LogDensity, the data
	// point for Sample), B*D values.
	Z []float64
	// Kinetic and Frobenius are the per-sample regulariser integrals over the time span,
	// taken positive (nil when the flow does not track them).
	Kinetic, Frobenius []float64
	// NFE counts evaluations of the augmented dynamics.
	NFE int
}

// initial builds the augmented initial state [x, 0...] and, for Hutchinson, draws the
// probe of the solve.
func (fl *Flow) initial(x []float64) ([]float64, int, error) {
	d := fl.cfg.Dim
	if len(x) == 0 || len(x)%d != 0 {
		return nil, 0, errors.Errorf("cnf: %d values are not a batch of %d-dimensional points", len(x), d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, 0, errors.Wrapf(odeint.ErrNonFinite, "cnf: input value %d", i)
		}
	}
	b := len(x) / d
	y0 := make([]float64, fl.aug.StateLen(b))
	copy(y0, x)
	if fl.cfg.Trace == graph.TraceHutchinson {
		if err := fl.aug.DrawProbe(fl.rng, fl.cfg.Probe, b); err != nil {
			return nil, 0, err
		}
	}
	return y0, b, nil
}

// split reads an augmented state into a Result, sign turning the time direction of the
// regularisers' integrals positive.
func (fl *Flow) split(y []float64, b int, sign float64) *Result {
	d := fl.cfg.Dim
	r := &Result{Z: append([]float64(nil), y[:b*d]...)}
	o := b * d
	o += b // Δ: turned into LogP by the caller, which knows the direction
	r.LogP = make([]float64, b)
	if fl.aug.kinetic {
		r.Kinetic = make([]float64, b)
		for s := range r.Kinetic {
			r.Kinetic[s] = sign * y[o+s]
		}
		o += b
	}
	if fl.aug.frobenius {
		r.Frobenius = make([]float64, b)
		for s := range r.Frobenius {
			r.Frobenius[s] = sign * y[o+s]
		}
	}
	return r
}

// LogDensity returns log p(x) of each point of the batch x (B*D values) under the flow:
// x is integrated from DataTime to BaseTime with Δ' = -tr(df/dz), Δ(DataTime) = 0, and
// log p(x) = log p_base(z(BaseTime)) - Δ(BaseTime).
func (fl *Flow) LogDensity(x []float64) (*Result, error) {
	return fl.LogDensityAt(x, fl.cfg.DataTime)
}

// LogDensityAt returns the log-density of the flow's marginal at time t: the density
// that the base distribution at BaseTime is transported to by time t (t = DataTime gives
// LogDensity, t = BaseTime the base density).
func (fl *Flow) LogDensityAt(x []float64, t float64) (*Result, error) {
	y0, b, err := fl.initial(x)
	if err != nil {
		return nil, err
	}
	d := fl.cfg.Dim
	if t == fl.cfg.BaseTime {
		r := fl.split(y0, b, 0)
		r.Kinetic, r.Frobenius = nil, nil
		for s := 0; s < b; s++ {
			r.LogP[s] = fl.BaseLogDensity(x[s*d : (s+1)*d])
		}
		return r, nil
	}
	sol, err := odeint.Solve(fl.aug.Eval, y0, []float64{t, fl.cfg.BaseTime}, fl.cfg.Solver)
	if err != nil {
		return nil, errors.Wrap(err, "cnf: log-density solve")
	}
	y := sol.Y[1]
	r := fl.split(y, b, sign(fl.cfg.BaseTime-t))
	for s := 0; s < b; s++ {
		r.LogP[s] = fl.BaseLogDensity(y[s*d:(s+1)*d]) - y[b*d+s]
	}
	r.NFE = sol.Stats.NFE
	return r, nil
}

// SampleBase draws n points from the base distribution (n*D values).
func (fl *Flow) SampleBase(rng *rand.Rand, n int) []float64 {
	z := make([]float64, n*fl.cfg.Dim)
	for i := range z {
		z[i] = fl.cfg.BaseStd * rng.NormFloat64()
	}
	return z
}

// Sample draws n points from the flow with rng: base samples z are integrated from
// BaseTime to DataTime; r.Z holds the data-space points and r.LogP their log-density,
// log p_base(z) + Δ(DataTime).
func (fl *Flow) Sample(rng *rand.Rand, n int) (*Result, error) {
	if rng == nil || n <= 0 {
		return nil, errors.Errorf("cnf: Sample needs a random source and n > 0 (n = %d)", n)
	}
	return fl.Push(fl.SampleBase(rng, n))
}

// Push integrates base points z (B*D values) from BaseTime to DataTime and returns the
// data-space points in r.Z with their log-density in r.LogP.
func (fl *Flow) Push(z []float64) (*Result, error) {
	trajs, err := fl.Trajectory(z, []float64{fl.cfg.BaseTime, fl.cfg.DataTime})
	if err != nil {
		return nil, err
	}
	return trajs[1], nil
}

// Trajectory integrates base points z (B*D values) from ts[0] through the times ts
// (strictly monotone; ts[0] is usually BaseTime, where z is taken to be distributed as
// the base) and returns, for each time, the points and their log-density
// log p_base(z) + Δ(t). The NFE of the whole solve is reported in the last Result.
func (fl *Flow) Trajectory(z, ts []float64) ([]*Result, error) {
	if len(ts) < 2 {
		return nil, errors.New("cnf: Trajectory needs at least two times")
	}
	y0, b, err := fl.initial(z)
	if err != nil {
		return nil, err
	}
	d := fl.cfg.Dim
	sol, err := odeint.Solve(fl.aug.Eval, y0, ts, fl.cfg.Solver)
	if err != nil {
		return nil, errors.Wrap(err, "cnf: sampling solve")
	}
	out := make([]*Result, len(ts))
	for i, y := range sol.Y {
		r := fl.split(y, b, sign(ts[i]-ts[0]))
		for s := 0; s < b; s++ {
			r.LogP[s] = fl.BaseLogDensity(z[s*d:(s+1)*d]) + y[b*d+s]
		}
		out[i] = r
	}
	out[len(ts)-1].NFE = sol.Stats.NFE
	return out, nil
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}
