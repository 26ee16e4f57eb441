package graph

import (
	"reflect"
	"unsafe"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
)

// derivOffset is the offset of Gorgonia's unexported Node.deriv field, or -1 if
// Gorgonia's Node no longer has such a field of type *Node.
var derivOffset = func() uintptr {
	f, ok := reflect.TypeOf(G.Node{}).FieldByName("deriv")
	if !ok || f.Type != reflect.TypeOf((*G.Node)(nil)) {
		return ^uintptr(0)
	}
	return f.Offset
}()

// clearDerivs forgets the derivative every node of g recorded in an earlier
// differentiation pass.
//
// Gorgonia v0.9.18's Backpropagate (differentiation.go:219-222) reuses a node's stored
// deriv from any earlier pass as if it belonged to the current one. A second pass over
// the same graph (a VJP of a VJP, an exact trace from several VJPs, the gradient of a
// Hutchinson estimate) then either fails with "No gradients found for node" or, worse,
// silently returns wrong numbers. Gorgonia exports no way to reset it, so this is the one
// place where the library reaches into Gorgonia's internals; TestSecondPassDefect fails
// if this workaround is removed, and TestGorgoniaStillStale tells us when Gorgonia
// fixes the defect.
func clearDerivs(g *G.ExprGraph) error {
	if derivOffset == ^uintptr(0) {
		return errors.New("graph: gorgonia.Node has no deriv field of type *Node; the stale-derivative workaround needs updating")
	}
	for _, n := range g.AllNodes() {
		*(**G.Node)(unsafe.Add(unsafe.Pointer(n), derivOffset)) = nil
	}
	return nil
}

// ancestors returns the set of nodes that outputs depend on, outputs included.
func ancestors(outputs ...*G.Node) map[*G.Node]bool {
	seen := map[*G.Node]bool{}
	stack := append([]*G.Node(nil), outputs...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, children(n)...)
	}
	return seen
}

// Backprop returns the vector-Jacobian products of outputs with the given cotangents,
// sum_k cot_k^T d out_k / d w, for every node w in wrt, as new nodes of the same graph.
// Entries of the result are nil where w does not influence the outputs (the gradient is
// zero). It may be called any number of times on one graph: it clears the derivatives
// Gorgonia kept from earlier passes first (see clearDerivs), so gradients of gradients
// are correct. A nil node among the arguments, nodes of different graphs, or a
// cotangent whose shape or dtype differs from its output's are errors naming the node.
func Backprop(outputs, cotangents, wrt []*G.Node) ([]*G.Node, error) {
	if len(outputs) == 0 || len(outputs) != len(cotangents) {
		return nil, errors.Errorf("graph: Backprop: %d outputs and %d cotangents", len(outputs), len(cotangents))
	}
	// Gorgonia dereferences nil nodes and mixes graphs without checking: validate here.
	if outputs[0] == nil {
		return nil, errors.New("graph: Backprop: output 0 is nil")
	}
	g := outputs[0].Graph()
	if g == nil {
		return nil, errors.Errorf("graph: Backprop: output 0 (%s) belongs to no graph", nodeName(outputs[0]))
	}
	for i, o := range outputs {
		c := cotangents[i]
		switch {
		case o == nil:
			return nil, errors.Errorf("graph: Backprop: output %d is nil", i)
		case c == nil:
			return nil, errors.Errorf("graph: Backprop: the cotangent of output %d (%s) is nil", i, nodeName(o))
		case o.Graph() != g:
			return nil, errors.Errorf("graph: Backprop: output %d (%s) is in another graph than output 0", i, nodeName(o))
		case c.Graph() != g:
			return nil, errors.Errorf("graph: Backprop: the cotangent %s of output %s is in another graph", nodeName(c), nodeName(o))
		case !o.Shape().Eq(c.Shape()):
			return nil, errors.Errorf("graph: Backprop: output %s and its cotangent %s differ in shape", nodeName(o), nodeName(c))
		case o.Dtype() != c.Dtype():
			return nil, errors.Errorf("graph: Backprop: output %s of dtype %v and its cotangent %s of dtype %v differ in dtype", nodeName(o), o.Dtype(), nodeName(c), c.Dtype())
		}
	}
	for i, w := range wrt {
		if w == nil {
			return nil, errors.Errorf("graph: Backprop: wrt node %d is nil", i)
		}
		if w.Graph() != g {
			return nil, errors.Errorf("graph: Backprop: wrt node %d (%s) is in another graph than the outputs", i, nodeName(w))
		}
	}
	if err := clearDerivs(g); err != nil {
		return nil, err
	}
	// Gorgonia refuses wrt nodes that do not reach an output and outputs that no wrt
	// node reaches; both simply have zero gradients here.
	wrtSet := map[*G.Node]bool{}
	for _, w := range wrt {
		wrtSet[w] = true
	}
	anc := map[*G.Node]bool{}
	var outs, cots []*G.Node
	for i, o := range outputs {
		a := ancestors(o)
		reached := false
		for n := range a {
			if wrtSet[n] {
				reached = true
				break
			}
		}
		if !reached {
			continue
		}
		outs, cots = append(outs, o), append(cots, cotangents[i])
		for n := range a {
			anc[n] = true
		}
	}
	var live []*G.Node
	var pos []int
	for i, w := range wrt {
		if anc[w] {
			live = append(live, w)
			pos = append(pos, i)
		}
	}
	out := make([]*G.Node, len(wrt))
	if len(live) == 0 {
		return out, nil
	}
	grads, err := G.Backpropagate(outs, cots, live)
	if err != nil {
		return nil, errors.Wrap(err, "graph: symbolic differentiation failed")
	}
	if len(grads) != len(live) {
		return nil, errors.Errorf("graph: Backpropagate returned %d gradients for %d nodes", len(grads), len(live))
	}
	for j, i := range pos {
		out[i] = grads[j]
	}
	return out, nil
}
