package graph

import (
	"runtime"
	"sync"

	"github.com/pkg/errors"
	"gorgonia.org/tensor"
)

// Options configure a Dynamics.
type Options struct {
	// Dtype of the graphs: tensor.Float64 (the default) or tensor.Float32. Time, state and
	// gradients stay float64 at the API; float32 graphs convert at the boundary.
	Dtype tensor.Dtype
	// Workers is the most goroutines one call may use; each has its own programs and
	// shares the parameters read-only. 0 means runtime.GOMAXPROCS(0); 1 disables splitting.
	Workers int
	// MinChunk is the smallest batch a worker is given (default 32): below it, Gorgonia's
	// fixed per-node cost outweighs what a second core gains.
	MinChunk int
}

// Dynamics is a neural ODE right-hand side f(t, z; theta) defined by a Gorgonia graph
// builder, evaluated through compiled programs. The state it sees is a flat []float64
// holding B samples of the per-sample shape given to NewDynamics, B inferred from the
// slice length; each batch size gets its own compiled graphs on first use.
//
// A Dynamics is not safe for concurrent use: one call at a time (it runs its own workers
// inside a call). The parameters must not change during a call.
type Dynamics struct {
	build  BuildFunc
	ps     *Params
	sample []int // per-sample state shape
	dim    int   // elements per sample
	out    []int // per-sample output shape (== sample for a Dynamics)
	outDim int
	square bool // the output must have the input's shape (ODE right-hand sides)
	opt    Options
	params []*Param
	nparam int
	units  map[unitKey]*unit
	chunks []chunk
}

type unitKey struct{ worker, batch int }

type chunk struct {
	u      *unit
	lo, hi int // sample range
	err    error
	dt     float64
}

// NewDynamics returns the dynamics built by build over the parameter set ps for states
// whose samples have the given shape (for example [D] for vectors, [C, H, W] for
// images). It builds the graph once for a batch of one sample, which registers and
// initialises the parameters and checks that f has the state's shape.
func NewDynamics(build BuildFunc, ps *Params, sampleShape []int, opt Options) (*Dynamics, error) {
	return newDynamics(build, ps, sampleShape, opt, true)
}

func newDynamics(build BuildFunc, ps *Params, sampleShape []int, opt Options, square bool) (*Dynamics, error) {
	if build == nil || ps == nil {
		return nil, errors.New("graph: needs a builder and a parameter set")
	}
	if opt.Dtype.Type == nil {
		opt.Dtype = tensor.Float64
	}
	if opt.Dtype != tensor.Float64 && opt.Dtype != tensor.Float32 {
		return nil, errors.Errorf("graph: unsupported dtype %v", opt.Dtype)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.MinChunk <= 0 {
		opt.MinChunk = 32
	}
	if len(sampleShape) == 0 {
		return nil, errors.New("graph: empty sample shape")
	}
	dim := 1
	for _, s := range sampleShape {
		if s <= 0 {
			return nil, errors.Errorf("graph: invalid sample shape %v", sampleShape)
		}
		dim *= s
	}
	d := &Dynamics{build: build, ps: ps, sample: append([]int(nil), sampleShape...), dim: dim, opt: opt, units: map[unitKey]*unit{}, square: square}
	u, err := d.newUnit(1)
	if err != nil {
		return nil, err
	}
	d.params = u.params
	for _, p := range d.params {
		d.nparam += p.Size
	}
	d.units[unitKey{0, 1}] = u
	return d, nil
}

// SampleDim returns the number of state elements per sample.
func (d *Dynamics) SampleDim() int { return d.dim }

// SampleShape returns the per-sample state shape (a copy).
func (d *Dynamics) SampleShape() []int { return append([]int(nil), d.sample...) }

// Params returns the parameters f depends on, in the order of the gradient layout of VJP.
func (d *Dynamics) Params() []*Param { return d.params }

// ParamSet returns the parameter set the dynamics reads from.
func (d *Dynamics) ParamSet() *Params { return d.ps }

// NumParams returns the number of scalar parameters f depends on: the length of VJP's dp.
func (d *Dynamics) NumParams() int { return d.nparam }

// Dtype returns the element type of the graphs.
func (d *Dynamics) Dtype() tensor.Dtype { return d.opt.Dtype }

// GatherParams copies the current values of the parameters f depends on into dst
// (length NumParams), in VJP's gradient layout.
func (d *Dynamics) GatherParams(dst []float64) error {
	if len(dst) != d.nparam {
		return errors.Errorf("graph: GatherParams: dst has length %d, want %d", len(dst), d.nparam)
	}
	off := 0
	for _, p := range d.params {
		copy(dst[off:off+p.Size], d.ps.Value(p))
		off += p.Size
	}
	return nil
}

// AccumulateGrad adds a gradient in VJP's layout (length NumParams) into the parameter
// set's accumulated gradients.
func (d *Dynamics) AccumulateGrad(dp []float64) error {
	if len(dp) != d.nparam {
		return errors.Errorf("graph: AccumulateGrad: gradient has length %d, want %d", len(dp), d.nparam)
	}
	off := 0
	for _, p := range d.params {
		g := d.ps.Grad(p)
		for i := range g {
			g[i] += dp[off+i]
		}
		off += p.Size
	}
	return nil
}

func (d *Dynamics) batchShape(batch int) []int {
	return append([]int{batch}, d.sample...)
}

// batchOf validates a state slice and returns its batch size.
func (d *Dynamics) batchOf(what string, n int) (int, error) {
	if n == 0 || n%d.dim != 0 {
		return 0, errors.Errorf("graph: %s has length %d, not a positive multiple of the sample size %d (shape %v)", what, n, d.dim, d.sample)
	}
	return n / d.dim, nil
}

// split divides a batch into chunks, one per worker, and returns them with their units.
func (d *Dynamics) split(batch int) ([]chunk, error) {
	w := d.opt.Workers
	if m := batch / d.opt.MinChunk; m < w {
		w = m
	}
	if w < 1 {
		w = 1
	}
	d.chunks = d.chunks[:0]
	for i := 0; i < w; i++ {
		lo, hi := i*batch/w, (i+1)*batch/w
		key := unitKey{i, hi - lo}
		u := d.units[key]
		if u == nil {
			var err error
			if u, err = d.newUnit(hi - lo); err != nil {
				return nil, err
			}
			d.units[key] = u
		}
		d.chunks = append(d.chunks, chunk{u: u, lo: lo, hi: hi})
	}
	return d.chunks, nil
}

// run calls fn on every chunk, in parallel when there is more than one, and returns the
// first error.
func run(chunks []chunk, fn func(c *chunk) error) error {
	if len(chunks) == 1 {
		return fn(&chunks[0])
	}
	var wg sync.WaitGroup
	for i := 1; i < len(chunks); i++ {
		wg.Add(1)
		go func(c *chunk) {
			defer wg.Done()
			c.err = fn(c)
		}(&chunks[i])
	}
	chunks[0].err = fn(&chunks[0])
	wg.Wait()
	for i := range chunks {
		if chunks[i].err != nil {
			return chunks[i].err
		}
	}
	return nil
}

// Eval writes f(t, y) into dydt. It has the signature of odeint.Func. len(y) must be a
// positive multiple of SampleDim and len(dydt) == len(y).
func (d *Dynamics) Eval(t float64, y, dydt []float64) error {
	batch, err := d.batchOf("state", len(y))
	if err != nil {
		return err
	}
	if len(dydt) != batch*d.outDim {
		return errors.Errorf("graph: Eval: output has length %d, want %d for a batch of %d", len(dydt), batch*d.outDim, batch)
	}
	chunks, err := d.split(batch)
	if err != nil {
		return err
	}
	n, m := d.dim, d.outDim
	return run(chunks, func(c *chunk) error {
		u := c.u
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		if err := u.fwd.Run(); err != nil {
			return err
		}
		return read(u.fwd, u.f, dydt[c.lo*m:c.hi*m])
	})
}

// VJP evaluates f(t, y) and the vector-Jacobian products of the cotangent a: it writes
// a^T df/dy into dy, a^T df/dtheta into dp (length NumParams, laid out as Params) and
// returns a^T df/dt. f may be nil when f(t, y) is not wanted. dy, dp and f are
// overwritten, not accumulated. a has the state's length.
func (d *Dynamics) VJP(t float64, y, a, f, dy, dp []float64) (float64, error) {
	batch, err := d.batchOf("state", len(y))
	if err != nil {
		return 0, err
	}
	if m := batch * d.outDim; len(a) != m || len(dy) != len(y) || (f != nil && len(f) != m) {
		return 0, errors.Errorf("graph: VJP: input %d, cotangent %d (want %d), dy %d (want %d), f %d (want %d or nil)", len(y), len(a), m, len(dy), len(y), len(f), m)
	}
	if len(dp) != d.nparam {
		return 0, errors.Errorf("graph: VJP: dp has length %d, want NumParams %d", len(dp), d.nparam)
	}
	chunks, err := d.split(batch)
	if err != nil {
		return 0, err
	}
	n, m := d.dim, d.outDim
	err = run(chunks, func(c *chunk) error {
		u := c.u
		vp, err := u.vjpProgram()
		if err != nil {
			return err
		}
		if err := u.set(t); err != nil {
			return err
		}
		u.write(u.z, y[c.lo*n:c.hi*n])
		u.write(vp.a, a[c.lo*m:c.hi*m])
		if err := vp.p.Run(); err != nil {
			return err
		}
		if f != nil {
			if err := read(vp.p, u.f, f[c.lo*m:c.hi*m]); err != nil {
				return err
			}
		}
		if err := read(vp.p, vp.dz, dy[c.lo*n:c.hi*n]); err != nil {
			return err
		}
		if c.dt, err = readScalar(vp.p, vp.dt); err != nil {
			return err
		}
		return u.readParams(vp.p, vp.dps, u.paramScratch(dp, len(chunks)))
	})
	if err != nil {
		return 0, err
	}
	return sumChunks(chunks, dp), nil
}

// paramScratch returns where a chunk writes its parameter gradient: dp itself when the
// batch is not split, otherwise the unit's own buffer (summed by sumChunks).
func (u *unit) paramScratch(dp []float64, nchunks int) []float64 {
	if nchunks == 1 {
		return dp
	}
	if len(u.grad) != len(dp) {
		u.grad = make([]float64, len(dp))
	}
	return u.grad
}

// sumChunks adds the chunks' parameter gradients into dp (when the batch was split) and
// returns the sum of their time derivatives.
func sumChunks(chunks []chunk, dp []float64) float64 {
	dt := 0.0
	for i := range chunks {
		dt += chunks[i].dt
	}
	if len(chunks) == 1 {
		return dt
	}
	copy(dp, chunks[0].u.grad)
	for i := 1; i < len(chunks); i++ {
		g := chunks[i].u.grad
		for j := range dp {
			dp[j] += g[j]
		}
	}
	return dt
}
