package layers

import (
	"github.com/neuralode/neuralode/graph"
	"github.com/pkg/errors"
)

// Model is a chain of stages over one parameter set, trained by backpropagating
// vector-Jacobian products stage to stage. It keeps every stage's input (the
// activations) from the last Forward for the backward pass, in buffers that are reused
// while the batch size stays the same. A Model is not safe for concurrent use; its
// stages run their own workers inside each call.
type Model struct {
	// Params holds every parameter of every stage, and their accumulated gradients.
	Params *graph.Params
	// Stages are applied in order; stage i's OutShape is stage i+1's InShape.
	Stages []Stage
	// Config describes the model (any JSON-encodable value, typically the struct the
	// model was built from); checkpoints store it and Load checks it.
	Config any

	batch int
	acts  [][]float64 // acts[i] is the input of stage i, acts[len(Stages)] the output
	cots  [][]float64 // cots[i] is the cotangent of acts[i]
	dims  []int       // elements per sample of acts[i]
	ready bool        // a Forward has run since the last Backward-invalidating change
	lossG bool        // cots[len] holds a loss gradient (Loss ran)
}

// NewModel returns the chain of stages over ps, checking that consecutive shapes agree.
func NewModel(ps *graph.Params, config any, stages ...Stage) (*Model, error) {
	if ps == nil || len(stages) == 0 {
		return nil, errors.New("layers: NewModel needs a parameter set and at least one stage")
	}
	m := &Model{Params: ps, Stages: stages, Config: config}
	m.dims = append(m.dims, size(stages[0].InShape()))
	for i, s := range stages {
		if s == nil {
			return nil, errors.Errorf("layers: stage %d is nil", i)
		}
		if i > 0 && !equalInts(stages[i-1].OutShape(), s.InShape()) {
			return nil, errors.Errorf("layers: stage %d outputs samples of shape %v, stage %d takes %v", i-1, stages[i-1].OutShape(), i, s.InShape())
		}
		m.dims = append(m.dims, size(s.OutShape()))
	}
	return m, nil
}

// InDim returns the number of input elements per sample; OutDim the output elements.
func (m *Model) InDim() int { return m.dims[0] }

// OutDim returns the number of output elements per sample (the classes of a classifier).
func (m *Model) OutDim() int { return m.dims[len(m.dims)-1] }

// resize (re)allocates the activation buffers for a batch of b samples.
func (m *Model) resize(b int) {
	if b == m.batch {
		return
	}
	m.batch = b
	n := len(m.dims)
	if m.acts == nil {
		m.acts, m.cots = make([][]float64, n), make([][]float64, n)
	}
	for i, d := range m.dims {
		if cap(m.acts[i]) < b*d {
			m.acts[i] = make([]float64, b*d)
			m.cots[i] = make([]float64, b*d)
		}
		m.acts[i], m.cots[i] = m.acts[i][:b*d], m.cots[i][:b*d]
	}
}

// Forward runs the stages on x (B samples, len(x) = B*InDim) and returns the outputs,
// B*OutDim values in a buffer owned by the model and overwritten by the next call.
func (m *Model) Forward(x []float64) ([]float64, error) {
	m.ready, m.lossG = false, false
	if len(x) == 0 || len(x)%m.dims[0] != 0 {
		return nil, errors.Errorf("layers: input has length %d, not a positive multiple of %d", len(x), m.dims[0])
	}
	m.resize(len(x) / m.dims[0])
	copy(m.acts[0], x) // the caller may refill x before Backward
	for i, s := range m.Stages {
		if err := s.Forward(m.acts[i], m.acts[i+1]); err != nil {
			return nil, errors.Wrapf(err, "layers: stage %d forward", i)
		}
	}
	m.ready = true
	return m.acts[len(m.Stages)], nil
}

// Loss runs Forward on x and returns the mean softmax cross-entropy of the outputs
// (logits over OutDim classes) against labels (one per sample) and the accuracy. It
// keeps the gradient of the loss for Backward.
func (m *Model) Loss(x []float64, labels []int) (loss, accuracy float64, err error) {
	out, err := m.Forward(x)
	if err != nil {
		return 0, 0, err
	}
	if len(labels) != m.batch {
		m.ready = false
		return 0, 0, errors.Errorf("layers: %d labels for a batch of %d", len(labels), m.batch)
	}
	loss, correct, err := CrossEntropy(out, m.OutDim(), labels, m.cots[len(m.Stages)])
	if err != nil {
		m.ready = false
		return 0, 0, err
	}
	m.lossG = true
	return loss, float64(correct) / float64(m.batch), nil
}

// Backward backpropagates the gradient of the last Loss through every stage, adding
// each parameter's gradient into Params.FlatGrad (call Params.ZeroGrad, or let the
// optimiser's step zero them, between batches). The gradient with respect to the input
// is then available from InputGrad.
func (m *Model) Backward() error {
	if !m.ready || !m.lossG {
		return errors.New("layers: Backward without a preceding Loss")
	}
	return m.backward()
}

// BackwardFrom backpropagates an arbitrary cotangent dout (B*OutDim values: the gradient
// of some loss with respect to the outputs of the last Forward) through every stage,
// adding the parameter gradients into Params.
func (m *Model) BackwardFrom(dout []float64) error {
	if !m.ready {
		return errors.New("layers: BackwardFrom without a preceding Forward")
	}
	last := m.cots[len(m.Stages)]
	if len(dout) != len(last) {
		return errors.Errorf("layers: output cotangent has length %d, want %d", len(dout), len(last))
	}
	copy(last, dout)
	return m.backward()
}

func (m *Model) backward() error {
	for i := len(m.Stages) - 1; i >= 0; i-- {
		if err := m.Stages[i].Backward(m.acts[i], m.acts[i+1], m.cots[i+1], m.cots[i]); err != nil {
			return errors.Wrapf(err, "layers: stage %d backward", i)
		}
	}
	return nil
}

// InputGrad returns the gradient of the loss with respect to the input of the last
// Forward, as computed by the last Backward (a buffer owned by the model).
func (m *Model) InputGrad() []float64 {
	if m.cots == nil {
		return nil
	}
	return m.cots[0]
}

// NFE returns the dynamics evaluations of the last Forward and Backward, summed over the
// stages that report them (ODE blocks); 0 for a model without any.
func (m *Model) NFE() (forward, backward int) {
	for _, s := range m.Stages {
		if r, ok := s.(NFEReporter); ok {
			f, b := r.NFE()
			forward += f
			backward += b
		}
	}
	return forward, backward
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
