// Package layers builds models from Gorgonia graph blocks: layers with PyTorch's
// parameter names and default initialisation, stages compiled into forward and VJP
// programs, models as chains of stages trained by backpropagating vector-Jacobian
// products from stage to stage, Gorgonia's optimisers driven by the accumulated
// gradients, learning-rate schedules, and safetensors checkpoints.
//
// Blocks implement Layer and build into a *graph.Scope: Linear, ConcatLinear,
// ConcatSquashLinear, Conv2d, ConcatConv2d (time as an extra channel), GroupNorm
// (composed from primitive ops), the activations Tanh, ReLU, Softplus, ELU and Sigmoid,
// GlobalAvgPool, Flatten, composed with Sequential and Named; SoftmaxCrossEntropy is the
// loss as a graph block and CrossEntropy the same loss in Go. A Stage is a GraphStage (a
// Layer without time), a ResBlock (x + H f(T, x), f a Layer of time and state: the
// dynamics an ODE block would integrate) or, from the adjoint package's users, an ODE
// block. The one call that matters is a training step:
//
//	loss, acc, err := model.Loss(x, labels) // forward through every stage, mean cross-entropy
//	err = model.Backward()                  // VJPs stage by stage; gradients accumulate in model.Params
//	_, err = opt.Step()                     // clip, weight decay, scheduled rate, Gorgonia's solver
//
// with the model built as
//
//	ps := graph.NewParams(nil)
//	in, _ := layers.NewGraphStage(layers.Named{Name: "in", Layer: layers.Linear{Out: 32}}, ps, []int{2}, graph.Options{})
//	f := layers.Sequential{layers.ConcatLinear{Out: 32}, layers.Tanh, layers.ConcatLinear{Out: 32}}
//	res, _ := layers.NewResBlock(layers.Named{Name: "f", Layer: f}, ps, []int{32}, graph.Options{})
//	head, _ := layers.NewGraphStage(layers.Named{Name: "head", Layer: layers.Linear{Out: 10}}, ps, []int{32}, graph.Options{})
//	model, _ := layers.NewModel(ps, config, in, res, head)
//	opt, _ := layers.NewOptimizer(ps, layers.OptimConfig{Method: layers.Adam, LR: 1e-3})
//
// Models, stages and optimisers are not safe for concurrent use; each graph stage splits
// large batches across its own workers (graph.Options.Workers).
package layers
