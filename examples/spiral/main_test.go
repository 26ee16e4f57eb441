package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// runQuick runs the example with -quick -json and returns the parsed final report.
func runQuick(t *testing.T, method string) *Report {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-quick", "-json", "-method", method, "-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out.String())
	}
	if len(rep.PNGs) != 2 {
		t.Fatalf("want 2 PNGs, got %v", rep.PNGs)
	}
	for _, p := range rep.PNGs {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Fatalf("PNG %s missing or empty: %v", p, err)
		}
	}
	return &rep
}

func TestQuickDirectAndAdjoint(t *testing.T) {
	d := runQuick(t, "direct")
	a := runQuick(t, "adjoint")
	for _, r := range []*Report{d, a} {
		if !(r.L1 > 0) || math.IsInf(r.L1, 0) || r.NFE <= 0 || r.MSPerIter <= 0 {
			t.Fatalf("%s: bad report %+v", r.Config.Method, r)
		}
	}
	// Both methods compute the gradient of the same loss: the paper's adjoint integrates
	// it backwards at rtol 1e-7, direct backprop differentiates the discrete solve. After
	// 30 RMSProp steps of size ~1e-3 the two models differ by far less than the error of
	// either (~0.6 at this stage), so the whole-trajectory errors agree to 1e-2.
	if math.Abs(d.L1-a.L1) > 1e-2 {
		t.Fatalf("direct L1 %g and adjoint L1 %g disagree", d.L1, a.L1)
	}
	if a.BackwardNFE <= d.BackwardNFE/2 {
		t.Fatalf("adjoint backward NFE %g implausibly small against direct %g", a.BackwardNFE, d.BackwardNFE)
	}
}

func TestTrueDynamics(t *testing.T) {
	// y^3 A at y = [1, 2]: [1, 8] A = [-0.1 - 16, 2 - 0.8].
	y, dy := []float64{1, 2}, make([]float64, 2)
	if err := trueDynamics(0, y, dy); err != nil {
		t.Fatal(err)
	}
	if math.Abs(dy[0]+16.1) > 1e-12 || math.Abs(dy[1]-1.2) > 1e-12 {
		t.Fatalf("y^3 A = %v, want [-16.1 1.2]", dy)
	}
}

func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-method", "euler"}, `-method "euler"`},
		{[]string{"-optim", "sgd"}, `-optim "sgd"`},
		{[]string{"-schedule", "step"}, `-schedule "step"`},
		{[]string{"-iters", "0"}, "invalid settings"},
		{[]string{"-lr", "-1"}, "invalid settings"},
	} {
		var out bytes.Buffer
		err := run(c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
