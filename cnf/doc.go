// Package cnf implements continuous normalizing flows (Chen et al. 2018, section 4;
// FFJORD, Grathwohl et al. 2019): densities transported by a neural ODE dz/dt = f(t, z),
// whose log-density changes as d log p(z(t))/dt = -tr(df/dz(t)).
//
// Augmented wraps any graph.Dynamics into the state [z, Δ, kinetic, frobenius] (the last
// two optional: the RNODE regularisers of Finlay et al. 2020) with the trace exact (D
// vector-Jacobian products per sample) or Hutchinson's estimate e^T (df/dz) e with a
// Gaussian or Rademacher probe drawn once per solve and reused by the adjoint's backward
// pass. Its VJP comes from Gorgonia's symbolic differentiation of the trace graph
// (graph.Dynamics.TraceVJP), so training needs no hand-written second derivatives.
//
// A Flow puts the data at Config.DataTime and the base N(0, BaseStd^2 I) at
// Config.BaseTime. Integrating x from DataTime to BaseTime with Δ(DataTime) = 0 gives
//
//	log p(x) = log p_base(z(BaseTime)) - Δ(BaseTime),
//
// and sampling integrates base points the other way. The models are the paper's gated
// hypernetwork flow (HyperFlow, in the paper's form or torchdiffeq's cnf.py form) and
// FFJORD's ConcatSquash MLP (ConcatSquashMLP); Toy2D
// draws FFJORD's two-dimensional toy data sets.
//
// The one call that matters is a maximum-likelihood training step:
//
//	ps := graph.NewParams(nil)
//	fl, err := cnf.New(cnf.ConcatSquashMLP{}.Build, ps, cnf.Config{Dim: 2})
//	opt, err := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 1e-3})
//	for ... {
//		res, err := fl.Gradient(x) // mean NLL (+ RNODE terms) of the batch x; adds dLoss/dtheta to ps
//		_, err = opt.Step()        // Adam; clears the gradients
//	}
//
// Flows, like the dynamics they hold, are not safe for concurrent use; each call splits
// large batches across graph.Options.Workers goroutines.
package cnf
