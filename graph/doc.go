// Package graph is the one bridge between this library and Gorgonia execution.
//
// A user writes the dynamics f(t, z; theta) of a neural ODE once, as a function that
// builds a Gorgonia expression graph (see BuildFunc). The package then
//
//   - differentiates that graph with Gorgonia's symbolic differentiation, so every
//     vector-Jacobian product a^T df/dz, a^T df/dtheta, a^T df/dt comes from Gorgonia;
//   - compiles each graph into a Program: the nodes in topological order, one persistent
//     buffer per node, Gorgonia's own ops called directly. This replaces the TapeMachine's
//     Reset+RunAll, which costs 45-80 us and re-allocates every intermediate on each call
//     (see the project's notes on Gorgonia v0.9.18). The one exception is data movement:
//     Transpose, broadcast Repeat, Concat, Slice, Im2col and Col2im run as hand-written
//     strided copies into the persistent buffer (kernels.go says why), each kept only
//     after it reproduced Gorgonia's own op bit for bit on the first run's inputs and on
//     a probe of distinct values; all arithmetic stays Gorgonia's;
//   - exposes the result through Dynamics, whose Eval has the odeint.Func signature and
//     whose VJP feeds the adjoint method.
//
// Parameters live in a Params set: named tensors backed by one flat []float64 of values
// and one of gradients, shared by every graph that uses them.
//
// The one call that matters:
//
//	ps := graph.NewParams(rng)
//	f, err := graph.NewDynamics(mlp, ps, []int{2}, graph.Options{})
//	err = f.Eval(t, y, dydt) // y holds a batch of states, len(y) = B*2
//
// A Program, and therefore a Dynamics, is not safe for concurrent use; Dynamics splits
// large batches across its own workers (Options.Workers), each with its own programs.
package graph
