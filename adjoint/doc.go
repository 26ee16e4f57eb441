// Package adjoint computes gradients through an ODE solve: the gradient of a scalar loss
// L(z(t_0), ..., z(t_N)) with respect to the initial state z(t_0), the parameters theta of
// the dynamics and every output time t_i, given dL/dz(t_i).
//
// Three methods share one API:
//
//   - Backsolve, the adjoint sensitivity method of Chen et al. (2018): the augmented
//     state [z, a, a_theta, a_t] is integrated backwards with dz/dt = f,
//     da/dt = -a df/dz, da_theta/dt = -a df/dtheta, da_t/dt = -a df/dt, one output
//     interval at a time. Memory does not grow with the number of solver steps. With
//     Seminorm the backward error norm ignores a_theta and a_t (Kidger, Chen and Lyons 2021),
//     which saves backward steps at no cost in accuracy.
//   - Checkpointed: the forward pass keeps the state every few accepted steps; the
//     backward pass re-solves each segment from its checkpoint with the forward's step
//     sizes and backpropagates through it. The gradient is that of the discrete forward
//     solution (no backward drift), memory grows with the number of checkpoints.
//   - Direct: backpropagation through the solver's Runge-Kutta steps (the paper's
//     RK-Net): every accepted step's stages are kept, memory linear in the steps.
//
// The one call that matters:
//
//	tape, err := adjoint.Forward(f, y0, ts, adjoint.Options{Method: adjoint.Backsolve})
//	// ... compute the loss from tape.Y() and its gradients dLdy ...
//	g, err := tape.Backward(dLdy) // g.Y0, g.Params, g.T
//
// The dynamics are anything with Eval and VJP (graph.Dynamics is the usual one).
package adjoint
