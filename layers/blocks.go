package layers

import (
	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear is the affine map y = x W^T + b on inputs of shape [B, In], with PyTorch's
// layout (weight [Out, In], bias [Out]) and default initialisation U(-1/sqrt(In), 1/sqrt(In)).
type Linear struct {
	Out    int
	NoBias bool
}

// Build builds the layer; t is ignored.
func (l Linear) Build(s *graph.Scope, _, x *G.Node) (*G.Node, error) {
	return linear(s, x, l.Out, !l.NoBias)
}

func linear(s *graph.Scope, x *G.Node, out int, bias bool) (*G.Node, error) {
	if x.Dims() != 2 {
		return nil, errors.Errorf("layers: linear needs input [B, In], got %v", x.Shape())
	}
	if out <= 0 {
		return nil, errors.Errorf("layers: linear with %d outputs", out)
	}
	in := x.Shape()[1]
	w, err := s.Param("weight", []int{out, in}, graph.FanIn(in))
	if err != nil {
		return nil, err
	}
	wt, err := G.Transpose(w)
	if err != nil {
		return nil, err
	}
	y, err := G.Mul(x, wt)
	if err != nil {
		return nil, err
	}
	if !bias {
		return y, nil
	}
	b, err := s.Param("bias", []int{out}, graph.FanIn(in))
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(y, b, nil, []byte{0})
}

// ConcatLinear is torchdiffeq's ConcatLinear: Linear applied to [t, x], time prepended
// as an extra input column (weight [Out, In+1], bias [Out]).
type ConcatLinear struct {
	Out int
}

// Build builds the layer; t must not be nil.
func (l ConcatLinear) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) {
	if t == nil {
		return nil, errors.New("layers: ConcatLinear needs the time t")
	}
	if x.Dims() != 2 {
		return nil, errors.Errorf("layers: ConcatLinear needs input [B, In], got %v", x.Shape())
	}
	tc, err := timeFilled(s, t, x.Shape()[0], 1)
	if err != nil {
		return nil, err
	}
	tx, err := G.Concat(1, tc, x)
	if err != nil {
		return nil, err
	}
	return linear(s, tx, l.Out, true)
}

// ConcatSquashLinear is FFJORD's ConcatSquashLinear:
// y = (x W^T + b) * sigmoid(t w_g + b_g) + t w_b, the gate and shift depending on time
// only. Parameters, named as in PyTorch: layer.weight [Out, In], layer.bias [Out],
// hyper_gate.weight [Out, 1], hyper_gate.bias [Out], hyper_bias.weight [Out, 1].
type ConcatSquashLinear struct {
	Out int
}

// Build builds the layer; t must not be nil.
func (l ConcatSquashLinear) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) {
	if t == nil {
		return nil, errors.New("layers: ConcatSquashLinear needs the time t")
	}
	h, err := linear(s.Sub("layer"), x, l.Out, true)
	if err != nil {
		return nil, err
	}
	hg := s.Sub("hyper_gate")
	wg, err := hg.Param("weight", []int{l.Out, 1}, graph.FanIn(1))
	if err != nil {
		return nil, err
	}
	bg, err := hg.Param("bias", []int{l.Out}, graph.FanIn(1))
	if err != nil {
		return nil, err
	}
	wb, err := s.Sub("hyper_bias").Param("weight", []int{l.Out, 1}, graph.FanIn(1))
	if err != nil {
		return nil, err
	}
	gate, err := timeAffine(t, wg, bg, l.Out)
	if err != nil {
		return nil, err
	}
	if gate, err = G.Sigmoid(gate); err != nil {
		return nil, err
	}
	shift, err := timeAffine(t, wb, nil, l.Out)
	if err != nil {
		return nil, err
	}
	y, err := G.BroadcastHadamardProd(h, gate, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(y, shift, nil, []byte{0})
}

// timeAffine returns t * w + b as a vector of n elements (w of shape [n, 1], b [n] or nil).
func timeAffine(t, w, b *G.Node, n int) (*G.Node, error) {
	wv, err := G.Reshape(w, tensor.Shape{n})
	if err != nil {
		return nil, err
	}
	y, err := G.Mul(wv, t)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return y, nil
	}
	return G.Add(y, b)
}

// Conv2d is a 2-D convolution of [B, C, H, W] inputs with square kernels, PyTorch's
// layout (weight [Out, C, K, K], bias [Out]) and default initialisation
// U(-1/sqrt(C K K), 1/sqrt(C K K)). Stride 0 means 1.
type Conv2d struct {
	Out, Kernel, Stride, Padding int
	NoBias                       bool
}

// Build builds the layer; t is ignored.
func (l Conv2d) Build(s *graph.Scope, _, x *G.Node) (*G.Node, error) {
	return conv2d(s, x, l, false)
}

// ConcatConv2d is torchdiffeq's ConcatConv2d: Conv2d applied to the input with the time
// prepended as a constant channel (weight [Out, C+1, K, K]).
type ConcatConv2d Conv2d

// Build builds the layer; t must not be nil.
func (l ConcatConv2d) Build(s *graph.Scope, t, x *G.Node) (*G.Node, error) {
	if t == nil {
		return nil, errors.New("layers: ConcatConv2d needs the time t")
	}
	if x.Dims() != 4 {
		return nil, errors.Errorf("layers: ConcatConv2d needs input [B, C, H, W], got %v", x.Shape())
	}
	sh := x.Shape()
	tc, err := timeFilled(s, t, sh[0], 1, sh[2], sh[3])
	if err != nil {
		return nil, err
	}
	tx, err := G.Concat(1, tc, x)
	if err != nil {
		return nil, err
	}
	return conv2d(s, tx, Conv2d(l), true)
}

func conv2d(s *graph.Scope, x *G.Node, l Conv2d, concat bool) (*G.Node, error) {
	if x.Dims() != 4 {
		return nil, errors.Errorf("layers: Conv2d needs input [B, C, H, W], got %v", x.Shape())
	}
	stride := l.Stride
	if stride == 0 {
		stride = 1
	}
	sh := x.Shape()
	c := sh[1]
	switch {
	case l.Out <= 0 || l.Kernel <= 0 || stride < 0 || l.Padding < 0:
		return nil, errors.Errorf("layers: Conv2d %+v: invalid configuration", l)
	case sh[2]+2*l.Padding < l.Kernel || sh[3]+2*l.Padding < l.Kernel:
		return nil, errors.Errorf("layers: Conv2d kernel %d larger than the padded input %v", l.Kernel, sh)
	}
	fan := c * l.Kernel * l.Kernel
	k, err := s.Param("weight", []int{l.Out, c, l.Kernel, l.Kernel}, graph.FanIn(fan))
	if err != nil {
		return nil, err
	}
	y, err := G.Conv2d(x, k, tensor.Shape{l.Kernel, l.Kernel}, []int{l.Padding, l.Padding}, []int{stride, stride}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	if l.NoBias {
		return y, nil
	}
	b, err := s.Param("bias", []int{l.Out}, graph.FanIn(fan))
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(y, b, nil, []byte{0, 2, 3})
}

// timeFilled returns a constant tensor of the given shape, of the graph's dtype, filled with t.
func timeFilled(s *graph.Scope, t *G.Node, shape ...int) (*G.Node, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	var back interface{}
	if s.Dtype() == tensor.Float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		back = v
	} else {
		v := make([]float64, n)
		for i := range v {
			v[i] = 1
		}
		back = v
	}
	ones := G.NewConstant(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(back)))
	return G.Mul(ones, t)
}

// GroupNorm is group normalisation (Wu and He 2018) of [B, C, ...] inputs composed from
// primitive ops: each sample's channels are split into Groups groups, normalised to zero
// mean and unit variance over the group's channels and positions (biased variance, eps
// 1e-5 as PyTorch), then scaled and shifted per channel by weight (initialised to 1) and
// bias (0). Groups 0 means min(32, C), the choice of torchdiffeq's ODE-Net; C must be a
// multiple of Groups.
//
// Gorgonia has its own GroupNorm op, but v0.9.18's backward pass logs the whole gradient
// tensor on every call (op_group_norm.go:569), and its diff op has no symbolic derivative.
type GroupNorm struct {
	Groups int
	Eps    float64 // 0 means 1e-5
}

// Build builds the layer; t is ignored.
func (l GroupNorm) Build(s *graph.Scope, _, x *G.Node) (*G.Node, error) {
	sh := x.Shape()
	if len(sh) < 2 {
		return nil, errors.Errorf("layers: GroupNorm needs input [B, C, ...], got %v", sh)
	}
	b, c := sh[0], sh[1]
	groups := l.Groups
	if groups == 0 {
		groups = min(32, c)
	}
	if groups <= 0 || c%groups != 0 {
		return nil, errors.Errorf("layers: GroupNorm: %d channels are not divisible into %d groups", c, groups)
	}
	eps := l.Eps
	if eps == 0 {
		eps = 1e-5
	}
	n := sh.TotalSize() / (b * groups) // elements per group
	xr, err := G.Reshape(x, tensor.Shape{b, groups, n})
	if err != nil {
		return nil, err
	}
	inv := s.Scalar(1 / float64(n))
	mean, err := G.Sum(xr, 2)
	if err != nil {
		return nil, err
	}
	if mean, err = G.Mul(mean, inv); err != nil {
		return nil, err
	}
	xc, err := G.BroadcastSub(xr, mean, nil, []byte{2})
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(xc)
	if err != nil {
		return nil, err
	}
	v, err := G.Sum(sq, 2)
	if err != nil {
		return nil, err
	}
	if v, err = G.Mul(v, inv); err != nil {
		return nil, err
	}
	if v, err = G.Add(v, s.Scalar(eps)); err != nil {
		return nil, err
	}
	sd, err := G.Sqrt(v)
	if err != nil {
		return nil, err
	}
	xn, err := G.BroadcastHadamardDiv(xc, sd, nil, []byte{2})
	if err != nil {
		return nil, err
	}
	if xn, err = G.Reshape(xn, sh.Clone()); err != nil {
		return nil, err
	}
	w, err := s.Param("weight", []int{c}, graph.Constant(1))
	if err != nil {
		return nil, err
	}
	bias, err := s.Param("bias", []int{c}, graph.Zeros())
	if err != nil {
		return nil, err
	}
	pattern := []byte{0}
	for i := 2; i < len(sh); i++ {
		pattern = append(pattern, byte(i))
	}
	if xn, err = G.BroadcastHadamardProd(xn, w, nil, pattern); err != nil {
		return nil, err
	}
	return G.BroadcastAdd(xn, bias, nil, pattern)
}

// Activation is an element-wise nonlinearity; it is a Layer without parameters.
type Activation int

// The activations. ELU uses alpha = 1.
const (
	Tanh Activation = iota + 1
	ReLU
	Softplus
	ELU
	Sigmoid
)

// String returns the activation's name.
func (a Activation) String() string {
	switch a {
	case Tanh:
		return "tanh"
	case ReLU:
		return "relu"
	case Softplus:
		return "softplus"
	case ELU:
		return "elu"
	case Sigmoid:
		return "sigmoid"
	}
	return "activation(?)"
}

// Build applies the activation; t is ignored.
func (a Activation) Build(s *graph.Scope, _, x *G.Node) (*G.Node, error) {
	switch a {
	case Tanh:
		return G.Tanh(x)
	case ReLU:
		return G.Rectify(x)
	case Softplus:
		// Gorgonia's softplus is evaluated stably (x for x > 16, 0 below -708) and its
		// derivative is the sigmoid.
		return G.Softplus(x)
	case Sigmoid:
		return G.Sigmoid(x)
	case ELU:
		// Gorgonia has no ELU: elu(x) = relu(x) + exp(-relu(-x)) - 1, which is x for
		// x > 0 and exp(x) - 1 otherwise, with the derivative 1 or exp(x).
		pos, err := G.Rectify(x)
		if err != nil {
			return nil, err
		}
		nx, err := G.Neg(x)
		if err != nil {
			return nil, err
		}
		neg, err := G.Rectify(nx)
		if err != nil {
			return nil, err
		}
		if neg, err = G.Neg(neg); err != nil {
			return nil, err
		}
		if neg, err = G.Exp(neg); err != nil {
			return nil, err
		}
		if neg, err = G.Sub(neg, s.Scalar(1)); err != nil {
			return nil, err
		}
		return G.Add(pos, neg)
	}
	return nil, errors.Errorf("layers: unknown activation %d", int(a))
}

// GlobalAvgPool averages [B, C, H, W] (or any [B, C, ...]) over every axis after the
// channels, giving [B, C].
type GlobalAvgPool struct{}

// Build builds the pooling; t is ignored.
func (GlobalAvgPool) Build(s *graph.Scope, _, x *G.Node) (*G.Node, error) {
	sh := x.Shape()
	if len(sh) < 3 {
		return nil, errors.Errorf("layers: GlobalAvgPool needs input [B, C, ...], got %v", sh)
	}
	b, c := sh[0], sh[1]
	n := sh.TotalSize() / (b * c)
	xr, err := G.Reshape(x, tensor.Shape{b, c, n})
	if err != nil {
		return nil, err
	}
	y, err := G.Sum(xr, 2)
	if err != nil {
		return nil, err
	}
	return G.Mul(y, s.Scalar(1/float64(n)))
}

// Flatten reshapes [B, ...] into [B, prod(...)].
type Flatten struct{}

// Build builds the reshape; t is ignored.
func (Flatten) Build(_ *graph.Scope, _, x *G.Node) (*G.Node, error) {
	sh := x.Shape()
	if len(sh) < 2 {
		return nil, errors.Errorf("layers: Flatten needs input [B, ...], got %v", sh)
	}
	if len(sh) == 2 {
		return x, nil
	}
	return G.Reshape(x, tensor.Shape{sh[0], sh.TotalSize() / sh[0]})
}

// SoftmaxCrossEntropy builds the mean over the batch of the softmax cross-entropy of
// logits [B, K] against onehot [B, K] (rows of one-hot labels, or any probability
// vectors), a scalar node. It is evaluated as log-sum-exp with each row's maximum
// subtracted, so large logits do not overflow; the maximum cancels algebraically, so its
// gradient contributes nothing. Gorgonia's own LogSumExp is not used: v0.9.18 computes
// log(sum(exp(x - max)) + max) (operations.go:168), which is wrong.
func SoftmaxCrossEntropy(s *graph.Scope, logits, onehot *G.Node) (*G.Node, error) {
	if logits.Dims() != 2 || !logits.Shape().Eq(onehot.Shape()) {
		return nil, errors.Errorf("layers: SoftmaxCrossEntropy needs logits and labels of one shape [B, K], got %v and %v", logits.Shape(), onehot.Shape())
	}
	m, err := G.Max(logits, 1)
	if err != nil {
		return nil, err
	}
	zc, err := G.BroadcastSub(logits, m, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	e, err := G.Exp(zc)
	if err != nil {
		return nil, err
	}
	lse, err := G.Sum(e, 1)
	if err != nil {
		return nil, err
	}
	if lse, err = G.Log(lse); err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(zc, onehot)
	if err != nil {
		return nil, err
	}
	if picked, err = G.Sum(picked, 1); err != nil {
		return nil, err
	}
	l, err := G.Sub(lse, picked)
	if err != nil {
		return nil, err
	}
	if l, err = G.Sum(l); err != nil {
		return nil, err
	}
	return G.Mul(l, s.Scalar(1/float64(logits.Shape()[0])))
}
