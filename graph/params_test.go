package graph

import (
	"strings"
	"testing"
)

// TestValuesLength: a Values initialiser must have exactly the parameter's size; a
// mismatch is an error naming the parameter, and the set is left as it was.
func TestValuesLength(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
		v     []float64
		want  string // "" for success
	}{
		{"exact", []int{3}, []float64{1, 2, 3}, ""},
		{"exact matrix", []int{2, 2}, []float64{1, 2, 3, 4}, ""},
		{"too few", []int{3}, []float64{1}, `initialising parameter "p" of shape [3]: Values has 1 values for shape [3] (3 elements)`},
		{"too many", []int{2, 2}, []float64{1, 2, 3, 4, 5}, `initialising parameter "p" of shape [2 2]: Values has 5 values for shape [2 2] (4 elements)`},
		{"none", []int{1}, nil, `Values has 0 values for shape [1] (1 elements)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := NewParams(nil)
			if _, err := ps.Add("before", []int{2}, Constant(7)); err != nil {
				t.Fatal(err)
			}
			p, err := ps.Add("p", c.shape, Values(c.v...))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := ps.Value(p)
				for i := range c.v {
					if got[i] != c.v[i] {
						t.Fatalf("values %v, want %v", got, c.v)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if p != nil || ps.Lookup("p") != nil || ps.Len() != 2 || len(ps.FlatGrad()) != 2 || len(ps.List()) != 1 {
				t.Errorf("a failed Add changed the set: p %v, Len %d, %d params", p, ps.Len(), len(ps.List()))
			}
		})
	}
	// Values keeps its own copy: changing the caller's slice afterwards has no effect.
	v := []float64{1, 2}
	init := Values(v...)
	v[0] = 99
	ps := NewParams(nil)
	p, err := ps.Add("q", []int{2}, init)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.Value(p); got[0] != 1 {
		t.Errorf("Values aliased the caller's slice: %v", got)
	}
}

// TestValueGradSafe: Value and Grad of a nil parameter, of one from another set, or of
// a hand-built Param return nil instead of panicking or reading another parameter's
// slots; of the set's own parameter they return views of exactly its size.
func TestValueGradSafe(t *testing.T) {
	ps, other := NewParams(nil), NewParams(nil)
	a, err := ps.Add("a", []int{2}, Constant(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ps.Add("b", []int{3}, Constant(2))
	if err != nil {
		t.Fatal(err)
	}
	// Same name, shape and offset in another set: must not be accepted by ps.
	foreign, err := other.Add("a", []int{2}, Constant(5))
	if err != nil {
		t.Fatal(err)
	}
	var nilSet *Params
	for _, c := range []struct {
		name string
		ps   *Params
		p    *Param
	}{
		{"nil param", ps, nil},
		{"missing name", ps, ps.Lookup("nope")},
		{"other set", ps, foreign},
		{"hand-built", ps, &Param{Name: "b", Shape: []int{3}, Offset: 2, Size: 3}},
		{"nil set", nilSet, a},
	} {
		if v, g := c.ps.Value(c.p), c.ps.Grad(c.p); v != nil || g != nil || c.ps.Has(c.p) {
			t.Errorf("%s: Value %v, Grad %v, Has %v; want nil, nil, false", c.name, v, g, c.ps.Has(c.p))
		}
	}
	if v := ps.Value(b); len(v) != 3 || cap(v) != 3 || v[0] != 2 {
		t.Errorf("Value(b) = %v (cap %d), want 3 values of 2 with no spare capacity", v, cap(v))
	}
	ps.Grad(b)[1] = 4
	if g := ps.FlatGrad(); g[3] != 4 {
		t.Errorf("Grad is not a view of FlatGrad: %v", g)
	}
	if !ps.Has(a) || !other.Has(foreign) {
		t.Error("Has rejects a set's own parameter")
	}
	if _, err := nilSet.Add("x", []int{1}, nil); err == nil {
		t.Error("Add on a nil Params succeeded")
	}
}

// TestZeroParams: the zero Params works like NewParams(nil).
func TestZeroParams(t *testing.T) {
	var zero Params
	p, err := zero.Add("w", []int{2, 2}, Uniform(1))
	if err != nil {
		t.Fatal(err)
	}
	ref := NewParams(nil)
	q, err := ref.Add("w", []int{2, 2}, Uniform(1))
	if err != nil {
		t.Fatal(err)
	}
	if relErr(zero.Value(p), ref.Value(q)) != 0 || zero.Lookup("w") != p {
		t.Errorf("zero Params: %v, NewParams(nil): %v", zero.Value(p), ref.Value(q))
	}
}
