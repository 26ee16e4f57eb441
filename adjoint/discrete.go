package adjoint

import (
	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
)

// recorder keeps, during the forward solve, what Direct and Checkpointed need: every
// accepted step's start time, size and end time, and either all its stages (Direct) or
// the state at every every-th step (Checkpointed).
type recorder struct {
	m      *odeint.Method
	n      int
	stages int // S: stages per step including the dense-output extras
	rows   [][]float64
	c      []float64
	direct bool
	every  int
	forY1  []bool

	t0, h, t1 []float64
	data      []float64 // Direct: per step y0 then S stage rows; Checkpointed: y0 of every every-th step
}

func newRecorder(m *odeint.Method, n int, direct bool, every int) *recorder {
	r := &recorder{m: m, n: n, stages: m.NumStages(), direct: direct, every: every}
	s := len(m.B)
	// Stage i is k_i = f(t0 + c_i h, y0 + h sum_j rows[i][j] k_j): the step's own
	// stages, the dense-output extras, and for non-FSAL Hermite interpolation f(t1, y1)
	// (whose row is B).
	for i := 0; i < s; i++ {
		var row []float64
		if i < len(m.A) {
			row = m.A[i]
		}
		r.rows = append(r.rows, row)
		r.c = append(r.c, m.C[i])
	}
	for i := range m.ExtraA {
		r.rows = append(r.rows, m.ExtraA[i])
		r.c = append(r.c, m.ExtraC[i])
	}
	if len(r.rows) < r.stages { // Hermite's appended f(t1, y1)
		r.rows = append(r.rows, m.B)
		r.c = append(r.c, 1)
	}
	// forY1[i]: y1 depends on stage i, directly through B or through a later stage.
	r.forY1 = make([]bool, r.stages)
	for i := s - 1; i >= 0; i-- {
		r.forY1[i] = m.B[i] != 0
		for j := i + 1; j < s && !r.forY1[i]; j++ {
			r.forY1[i] = r.forY1[j] && i < len(r.rows[j]) && r.rows[j][i] != 0
		}
	}
	return r
}

func (r *recorder) record(s *odeint.StepInfo) {
	k := len(r.t0)
	r.t0 = append(r.t0, s.T0)
	r.h = append(r.h, s.H)
	r.t1 = append(r.t1, s.T1)
	if r.direct {
		r.data = append(r.data, s.Y0...)
		for i := 0; i < r.stages; i++ {
			r.data = append(r.data, s.K[i][:r.n]...)
		}
		return
	}
	if k%r.every == 0 {
		r.data = append(r.data, s.Y0...)
	}
}

// stepView fills k with views of the stages of a step stored at data[off:].
func (r *recorder) stepView(data []float64, off int, k [][]float64) (y0 []float64) {
	n := r.n
	y0 = data[off : off+n]
	for i := range k {
		k[i] = data[off+n+i*n : off+n+(i+1)*n]
	}
	return y0
}

// stageInput writes y0 + h sum_j row_j k_j into dst.
func stageInput(dst, y0 []float64, h float64, row []float64, k [][]float64) {
	copy(dst, y0)
	for j, a := range row {
		if a == 0 {
			continue
		}
		c := h * a
		kj := k[j]
		for x := range dst {
			dst[x] += c * kj[x]
		}
	}
}

// rerun recomputes a step's stages from y0 with the recorded t0 and h and returns the
// number of evaluations. Unless all is set it skips the stages y1 does not depend on
// (an FSAL method's last stage, the dense-output extras): their cotangents are zero when
// no output falls inside the step. Skipped rows are zeroed.
func (r *recorder) rerun(f Dynamics, t0, h, t1 float64, y0 []float64, k [][]float64, tmp []float64, all bool) (int, error) {
	nfe := 0
	for i := range k {
		if !all && !r.forY1[i] {
			clear(k[i])
			continue
		}
		stageInput(tmp, y0, h, r.rows[i], k)
		t := t0 + r.c[i]*h
		if r.c[i] == 1 {
			t = t1
		}
		if err := f.Eval(t, tmp, k[i]); err != nil {
			return nfe, errors.Wrapf(err, "adjoint: re-solving the step at t=%g", t0)
		}
		nfe++
	}
	return nfe, nil
}

// discrete backpropagates through the recorded (Direct) or re-solved (Checkpointed)
// Runge-Kutta steps: the exact gradient of the discrete forward solution for its steps.
func (tp *Tape) discrete(dLdy [][]float64, g *Gradients) error {
	r := tp.rec
	n, p, S := tp.n, tp.p, r.stages
	nsteps := len(r.t0)
	bp := &stepBackprop{
		r: r, f: tp.f, n: n,
		kbar: make([][]float64, S), k: make([][]float64, S),
		tmp: make([]float64, n), dy: make([]float64, n), dp: make([]float64, p),
		w: make([]float64, S), wd: make([]float64, S),
		times: !tp.opt.NoTimeGradients, last: nsteps - 1,
	}
	for i := range bp.kbar {
		bp.kbar[i] = make([]float64, n)
	}
	g.Stats.WorkBytes = int64(8 * (S*n + 3*n + p + S))
	// Which step produced each output: the first whose end reaches it, as odeint does.
	dir := 1.0
	if len(tp.ts) > 1 && tp.ts[len(tp.ts)-1] < tp.ts[0] {
		dir = -1
	}
	outStep := make([]int, len(tp.ts))
	j := 1
	for k := 0; k < nsteps && j < len(tp.ts); k++ {
		for j < len(tp.ts) && dir*(tp.ts[j]-r.t1[k]) <= 0 {
			outStep[j] = k
			j++
		}
	}
	if j < len(tp.ts) {
		return errors.Errorf("adjoint: the recorded steps end before output time %g", tp.ts[j])
	}
	// Outputs that fall on a step end (not inside a step) take f there as their time
	// derivative; see the end of this function.
	bp.onEnd = make([]bool, len(tp.ts))
	for j := 1; j < len(tp.ts); j++ {
		bp.onEnd[j] = tp.ts[j] == r.t1[outStep[j]]
	}
	ybar := make([]float64, n)
	// Outputs are visited from the last one back; next is the next one to attribute.
	next := len(tp.ts) - 1
	stepBytes := (1 + S) * n
	if tp.opt.Method == Direct {
		g.Stats.RetainedBytes = int64(8 * (len(r.data) + 3*nsteps))
		for k := nsteps - 1; k >= 0; k-- {
			y0 := r.stepView(r.data, k*stepBytes, bp.k)
			var err error
			if next, err = bp.step(k, y0, tp.ts, dLdy, outStep, next, ybar, g); err != nil {
				return err
			}
		}
	} else {
		every := r.every
		seg := make([]float64, min(every, nsteps)*stepBytes)
		g.Stats.RetainedBytes = int64(8 * (len(r.data) + 3*nsteps))
		g.Stats.WorkBytes += int64(8 * len(seg))
		// Steps with an output strictly inside them need every stage (the dense output
		// uses them); the others only the stages that y1 depends on.
		interior := make([]bool, nsteps)
		for j := 1; j < len(tp.ts); j++ {
			if tp.ts[j] != r.t1[outStep[j]] {
				interior[outStep[j]] = true
			}
		}
		nseg := (nsteps + every - 1) / every
		for sgi := nseg - 1; sgi >= 0; sgi-- {
			first, last := sgi*every, min((sgi+1)*every, nsteps)
			// Re-solve the segment from its checkpoint with the forward's steps.
			copy(seg[:n], r.data[sgi*n:(sgi+1)*n])
			for k := first; k < last; k++ {
				off := (k - first) * stepBytes
				y0 := r.stepView(seg, off, bp.k)
				nfe, err := r.rerun(tp.f, r.t0[k], r.h[k], r.t1[k], y0, bp.k, bp.tmp, interior[k])
				g.Stats.BackwardNFE += nfe
				if err != nil {
					return err
				}
				if k+1 < last { // y1 = y0 + h sum b_i k_i starts the next step
					stageInput(seg[off+stepBytes:off+stepBytes+n], y0, r.h[k], r.m.B, bp.k)
				}
			}
			for k := last - 1; k >= first; k-- {
				y0 := r.stepView(seg, (k-first)*stepBytes, bp.k)
				var err error
				if next, err = bp.step(k, y0, tp.ts, dLdy, outStep, next, ybar, g); err != nil {
					return err
				}
			}
		}
	}
	if dLdy[0] != nil {
		addTo(ybar, dLdy[0])
	}
	copy(g.Y0, ybar)
	if tp.opt.NoTimeGradients {
		return nil
	}
	// Time gradients of the discrete solution, with the solver's steps held fixed
	// except the last, which ends on t_N (what a fixed-step solve does; for an adaptive
	// solve the controller's dependence on the times is not differentiated). Outputs
	// inside a step got the time derivative of the dense output (in step); outputs on a
	// step end (other than t_N) get that of the interpolant there, f(t_i, y_i) (the
	// interpolants are C1); t_N moves the last step's end: dL/dh of that step. Moving
	// t_0 translates every step (each stage time moves with it: the sum of the stages'
	// dL/dt), shortens the last one, and moves every output relative to the steps.
	nfe := 0
	for i := 1; i < len(tp.ts)-1; i++ {
		if dLdy[i] == nil || !bp.onEnd[i] {
			continue
		}
		if err := tp.f.Eval(tp.ts[i], tp.sol.Y[i], bp.tmp); err != nil {
			return errors.Wrapf(err, "adjoint: f at output time %g", tp.ts[i])
		}
		nfe++
		g.T[i] = dot(dLdy[i], bp.tmp)
	}
	g.Stats.BackwardNFE += nfe
	if nsteps > 0 {
		g.T[len(tp.ts)-1] = bp.dH
	}
	g.T[0] = bp.sumDt - bp.dH
	for i := 1; i < len(tp.ts)-1; i++ {
		g.T[0] -= g.T[i]
	}
	return nil
}

// stepBackprop holds the buffers of the backward pass through one Runge-Kutta step.
type stepBackprop struct {
	r         *recorder
	f         Dynamics
	n         int
	kbar, k   [][]float64
	tmp, dy   []float64
	dp, w, wd []float64

	// Time gradients (when times is set): last is the index of the final step, dH
	// collects dL/dh of that step, sumDt the stages' dL/dt over all steps, onEnd marks
	// the outputs that fall on a step end.
	times     bool
	last      int
	dH, sumDt float64
	onEnd     []bool
}

// step turns ybar, the cotangent of the step's end state y1, into that of its start
// state y0, adding the cotangents of the outputs that fall inside the step and the
// parameter gradient into g. It returns the index of the next output to attribute.
func (b *stepBackprop) step(k int, y0 []float64, ts []float64, dLdy [][]float64, outStep []int, next int, ybar []float64, g *Gradients) (int, error) {
	r := b.r
	t0, h, t1 := r.t0[k], r.h[k], r.t1[k]
	s := len(r.m.B)
	// Outputs exactly at t1 are y1 itself.
	for j := next; j >= 1 && outStep[j] == k; j-- {
		if ts[j] == t1 && dLdy[j] != nil {
			addTo(ybar, dLdy[j])
		}
	}
	timeLast := b.times && k == b.last
	if timeLast { // y1 = y0 + h sum b_i k_i: its explicit dependence on h
		for i := 0; i < s; i++ {
			if r.m.B[i] != 0 {
				b.dH += r.m.B[i] * dot(ybar, b.k[i])
			}
		}
	}
	for i := range b.kbar {
		kb := b.kbar[i]
		c := 0.0
		if i < s {
			c = h * r.m.B[i]
		}
		for x := range kb {
			kb[x] = c * ybar[x]
		}
	}
	// Outputs inside the step are y0 + h sum_i w_i(theta) k_i.
	for ; next >= 1 && outStep[next] == k; next-- {
		if ts[next] == t1 || dLdy[next] == nil {
			continue
		}
		theta := (ts[next] - t0) / h
		r.m.InterpWeights(theta, b.w)
		if b.times {
			// y(t) = y0 + h sum w_i(theta) k_i, theta = (t - t0)/h: dy/dt = sum w_i' k_i,
			// and with t fixed, d/dh = sum (w_i - theta w_i') k_i.
			r.m.InterpWeightsDeriv(theta, b.wd)
			dt := 0.0
			for i, wdi := range b.wd {
				if wdi == 0 && (!timeLast || b.w[i] == 0) {
					continue
				}
				v := dot(dLdy[next], b.k[i])
				dt += wdi * v
				if timeLast {
					b.dH += (b.w[i] - theta*wdi) * v
				}
			}
			g.T[next] = dt
		}
		for i, wi := range b.w {
			if wi == 0 {
				continue
			}
			c := h * wi
			kb := b.kbar[i]
			for x, v := range dLdy[next] {
				kb[x] += c * v
			}
		}
		addTo(ybar, dLdy[next])
	}
	// Stages in reverse: k_i = f(t0 + c_i h, y0 + h sum_j rows[i][j] k_j).
	for i := len(b.kbar) - 1; i >= 0; i-- {
		if allZero(b.kbar[i]) {
			continue
		}
		stageInput(b.tmp, y0, h, r.rows[i], b.k)
		t := t0 + r.c[i]*h
		if r.c[i] == 1 {
			t = t1
		}
		dt, err := b.f.VJP(t, b.tmp, b.kbar[i], nil, b.dy, b.dp)
		if err != nil {
			return next, errors.Wrapf(err, "adjoint: VJP of stage %d of the step at t=%g", i, t0)
		}
		g.Stats.BackwardNFE++
		if b.times {
			// The stage is k_i = f(t0 + c_i h, y0 + h sum_j a_ij k_j).
			b.sumDt += dt
			if timeLast {
				b.dH += r.c[i] * dt
				for j, a := range r.rows[i] {
					if a != 0 {
						b.dH += a * dot(b.dy, b.k[j])
					}
				}
			}
		}
		addTo(ybar, b.dy)
		addTo(g.Params, b.dp)
		for j, a := range r.rows[i] {
			if a == 0 {
				continue
			}
			c := h * a
			kb := b.kbar[j]
			for x, v := range b.dy {
				kb[x] += c * v
			}
		}
	}
	g.Stats.BackwardSteps++
	return next, nil
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
