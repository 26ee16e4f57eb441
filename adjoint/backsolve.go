package adjoint

import (
	"math"

	"github.com/neuralode/neuralode/odeint"
	"github.com/pkg/errors"
)

// backsolve integrates the augmented state [z, a, a_theta, a_t] from the last output
// time back to the first, one output interval at a time, restoring z to its stored
// forward value and adding dL/dz(t_i) to a at each output time.
func (tp *Tape) backsolve(dLdy [][]float64, g *Gradients) error {
	n, p := tp.n, tp.p
	f := tp.f
	aug := func(t float64, s, ds []float64) error {
		dt, err := f.VJP(t, s[:n], s[n:2*n], ds[:n], ds[n:2*n], ds[2*n:2*n+p])
		if err != nil {
			return err
		}
		for i := n; i < 2*n+p; i++ {
			ds[i] = -ds[i]
		}
		ds[2*n+p] = -dt
		return nil
	}
	bopt := tp.opt.Solver
	if tp.opt.Backward != nil {
		bopt = *tp.opt.Backward
	}
	bopt.Events, bopt.Dense, bopt.OnStep = nil, false, nil
	if tp.opt.Seminorm {
		user := bopt.Norm
		bopt.Norm = func(scaled []float64) float64 {
			if user != nil {
				return user(scaled[:2*n])
			}
			return rms(scaled[:2*n])
		}
	}
	// odeint keeps 5 + NumStages state-sized vectors and the two outputs of each solve.
	bm := bopt.Method
	if bm == nil {
		bm = odeint.Dopri5
	}
	g.Stats.WorkBytes = int64(8 * (2*n + p + 1) * (5 + bm.NumStages() + 3))
	buf := make([]float64, n)
	nfe, err := tp.timeGrads(dLdy, g, buf)
	g.Stats.BackwardNFE += nfe
	if err != nil {
		return err
	}
	last := len(tp.ts) - 1
	s := make([]float64, 2*n+p+1)
	copy(s[:n], tp.sol.Y[last])
	if dLdy[last] != nil {
		copy(s[n:2*n], dLdy[last])
	}
	s[2*n+p] = -g.T[last]
	span := [2]float64{}
	for i := last; i >= 1; i-- {
		span[0], span[1] = tp.ts[i], tp.ts[i-1]
		sol, err := odeint.Solve(aug, s, span[:], bopt)
		if sol != nil {
			g.Stats.BackwardNFE += sol.Stats.NFE
			g.Stats.BackwardSteps += sol.Stats.Accepted
		}
		if err != nil {
			return errors.Wrapf(err, "adjoint: backward solve from t=%g to t=%g", span[0], span[1])
		}
		copy(s, sol.Y[1])
		copy(s[:n], tp.sol.Y[i-1]) // z restored: the backward z drifts from the forward one
		if dLdy[i-1] != nil {
			addTo(s[n:2*n], dLdy[i-1])
		}
		if i-1 >= 1 {
			s[2*n+p] -= g.T[i-1]
		}
	}
	copy(g.Y0, s[n:2*n])
	copy(g.Params, s[2*n:2*n+p])
	if !tp.opt.NoTimeGradients {
		g.T[0] = s[2*n+p]
	}
	return nil
}

func rms(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s / float64(len(v)))
}
