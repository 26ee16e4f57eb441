package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuralode/neuralode/odeint"
)

// TestQuickJSON runs the program with -quick -json, checks that the last line is the
// JSON report and that the plots exist, and asserts the memory claims on the quick rows
// (N = 10 and 100 RK4 steps): backsolve flat, direct linear in the steps, checkpointed
// far below direct.
func TestQuickJSON(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-quick", "-json", "-out", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, lines[len(lines)-1])
	}
	t.Logf("table:\n%s", strings.Join(lines[:len(lines)-1], "\n"))
	for _, p := range []string{"memory.png", "live.png", "time.png", "adaptive.png"} {
		if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.Size() == 0 {
			t.Errorf("missing plot %s: %v", p, err)
		}
	}
	if len(rep.PNGs) != 4 {
		t.Errorf("report lists %d plots", len(rep.PNGs))
	}
	if n := len(methods) * 2; len(rep.Fixed) != n || len(rep.Adaptive) != n {
		t.Fatalf("%d fixed and %d adaptive rows, want %d each", len(rep.Fixed), len(rep.Adaptive), n)
	}
	// The reference must be far more accurate than anything it judges: Backsolve at the
	// same tolerance agrees with it to ~1e-12 or better.
	if rep.Reference.CrossCheck > 1e-11 {
		t.Errorf("reference and its backsolve cross-check differ by %g", rep.Reference.CrossCheck)
	}

	row := func(rows []Row, method string, n int) Row {
		t.Helper()
		for _, r := range rows {
			if r.Method == method && r.N == n {
				return r
			}
		}
		t.Fatalf("no row %s N=%d", method, n)
		return Row{}
	}
	for _, r := range append(append([]Row(nil), rep.Fixed...), rep.Adaptive...) {
		if !(r.GradError < 1e-3) || r.ForwardNFE <= 0 || r.BackwardNFE <= 0 || r.RetainedBytes <= 0 {
			t.Errorf("bad row %+v", r)
		}
	}
	for _, m := range methods {
		// RK4 is fourth order: 10x the steps cut the gradient error ~1e4x (the gradient
		// of the discrete solve converges at the method's order, and so does Backsolve's
		// RK4 backward solve). 1e3 leaves room for the pre-asymptotic N = 10.
		e10, e100 := row(rep.Fixed, m.name, 10).GradError, row(rep.Fixed, m.name, 100).GradError
		if e10/e100 < 1e3 {
			t.Errorf("%s: gradient error %g at N=10, %g at N=100: not fourth order", m.name, e10, e100)
		}
	}

	// Backsolve: the analytic figure is flat within 10 %, the measured tape (a KiB of
	// outputs) moves by no more than the heap measurement's noise, a few KiB, and the
	// live heap of the backward pass (augmented-state buffers) is flat within 10 %.
	for _, m := range []string{"backsolve", "backsolve+seminorm"} {
		a, b := row(rep.Fixed, m, 10), row(rep.Fixed, m, 100)
		if r := float64(b.RetainedBytes) / float64(a.RetainedBytes); r > 1.1 || r < 1/1.1 {
			t.Errorf("%s retained %d bytes at N=10, %d at N=100", m, a.RetainedBytes, b.RetainedBytes)
		}
		if d := b.MeasuredBytes - a.MeasuredBytes; d > 16<<10 || d < -16<<10 {
			t.Errorf("%s tape heap %d bytes at N=10, %d at N=100", m, a.MeasuredBytes, b.MeasuredBytes)
		}
		if r := float64(b.BackwardLiveBytes) / float64(a.BackwardLiveBytes); r > 1.1 || r < 1/1.1 {
			t.Errorf("%s live heap in the backward pass %d bytes at N=10, %d at N=100", m, a.BackwardLiveBytes, b.BackwardLiveBytes)
		}
	}

	// Direct: every step keeps at least its start state and its four RK4 stages, D
	// floats each, so 90 more steps add at least 90*5*D*8 bytes; the analytic figure
	// and the measured tape both grow close to 10x (a constant for the outputs, and
	// append's spare capacity for the measurement).
	d10, d100 := row(rep.Fixed, "direct", 10), row(rep.Fixed, "direct", 100)
	D := rep.Config.Width * rep.Config.Batch
	perStep := float64(d100.RetainedBytes-d10.RetainedBytes) / 90
	if min := float64(5 * D * 8); perStep < min || perStep > 2*min {
		t.Errorf("direct keeps %.0f bytes per step, want between %.0f and twice that", perStep, min)
	}
	if r := float64(d100.RetainedBytes) / float64(d10.RetainedBytes); r < 8 || r > 10.5 {
		t.Errorf("direct retained x%.2f from N=10 to N=100, want ~10", r)
	}
	if r := float64(d100.MeasuredBytes) / float64(d10.MeasuredBytes); r < 6 || r > 12 {
		t.Errorf("direct tape heap x%.2f from N=10 to N=100 (%d -> %d bytes), want ~10", r, d10.MeasuredBytes, d100.MeasuredBytes)
	}
	// The measurement checks the analytic figure: within 35 % (append's growth factor).
	if r := float64(d100.MeasuredBytes) / float64(d100.RetainedBytes); r < 0.9 || r > 1.35 {
		t.Errorf("direct at N=100: tape heap %d bytes, retained %d", d100.MeasuredBytes, d100.RetainedBytes)
	}
	// Checkpointed every 10 steps: 9 more checkpoints of D floats and 24 bytes of step
	// bookkeeping per step, far below direct.
	c10, c100 := row(rep.Fixed, "checkpointed", 10), row(rep.Fixed, "checkpointed", 100)
	if got, want := c100.RetainedBytes-c10.RetainedBytes, int64(9*D*8+90*24); got != want {
		t.Errorf("checkpointed grew by %d bytes from N=10 to N=100, want %d", got, want)
	}
	if c100.RetainedBytes*5 > d100.RetainedBytes {
		t.Errorf("checkpointed %d bytes, direct %d at N=100", c100.RetainedBytes, d100.RetainedBytes)
	}
	if c100.BackwardNFE < d100.BackwardNFE+len(odeint.RK4.B)*100 { // RK4 re-solves its 4 stages per step
		t.Errorf("checkpointed backward NFE %d: does not include re-solving the steps (direct %d)", c100.BackwardNFE, d100.BackwardNFE)
	}
	// The seminorm saves backward evaluations of the adaptive backsolve.
	for i, s := range rep.Ratios.SeminormNFESaving {
		if !(s.Value > 0) {
			t.Errorf("rtol %g: seminorm saving %g", s.RTol, s.Value)
		}
		if e := rep.Ratios.SeminormOverFullError[i].Value; math.IsNaN(e) {
			t.Errorf("rtol %g: no error ratio", s.RTol)
		}
	}
}

// TestBadFlags checks that bad settings are errors, not panics.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-every", "0"}, {"-width", "0"}, {"-T", "-1"}, {"-nope"}, {"extra"}} {
		if err := run(append(args, "-out", t.TempDir()), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
