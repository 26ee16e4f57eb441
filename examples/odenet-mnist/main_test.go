package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuick runs the main job with -quick on the real data, saves the model, evaluates
// the checkpoint, and checks the JSON reports.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.safetensors")
	var out, errb bytes.Buffer
	if err := run([]string{"-quick", "-json", "-out", dir, "-save", ckpt}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line is not a JSON report: %v\n%s", err, out.String())
	}
	if r.Params == 0 || r.TestImages != 200 || r.NFEForward != 8 || r.NFEBackward == 0 {
		t.Errorf("report %+v", r)
	}
	if _, err := os.Stat(r.Plot); err != nil {
		t.Errorf("no training-curve PNG: %v", err)
	}
	out.Reset()
	if err := run([]string{"-eval", ckpt, "-test-limit", "200", "-json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	var e Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
		t.Fatal(err)
	}
	// The checkpoint reproduces the trained model: same accuracy on the same images.
	if e.TestAccuracy != r.TestAccuracy {
		t.Errorf("evaluating the checkpoint gave %.4f, training reported %.4f", e.TestAccuracy, r.TestAccuracy)
	}
}

// TestResume: a checkpoint whose configuration differs from the flags' defaults (float64
// graphs, an adaptive solver, so no fixed step) is resumed from a default command line;
// its own configuration is the one trained, and the run continues at the next epoch
// with its earlier epochs in the report. Resuming a finished run without -epochs is an
// error that says so.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "f64.safetensors")
	var out, errb bytes.Buffer
	if err := run([]string{"-quick", "-out", dir, "-float32=false", "-method", "dopri5", "-rtol", "1e-2", "-atol", "1e-2", "-save", ckpt}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if err := run([]string{"-quick", "-out", dir, "-resume", ckpt}, &out, &errb); err == nil || !strings.Contains(err.Error(), "its run is complete (epoch 1 of 1)") {
		t.Errorf("resuming a finished run: error %v", err)
	}
	out.Reset()
	if err := run([]string{"-quick", "-out", dir, "-resume", ckpt, "-epochs", "2", "-save", ckpt, "-json"}, &out, &errb); err != nil {
		t.Fatalf("resuming: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Model.Float32 || r.Model.Method != "dopri5" || r.Model.Step != 0 || r.Model.RTol != 1e-2 {
		t.Errorf("resumed with %+v, want the checkpoint's float64 dopri5 model", r.Model)
	}
	if len(r.Epochs) != 2 || r.Epochs[0].Epoch != 1 || r.Epochs[1].Epoch != 2 || r.Train.Epochs != 2 {
		t.Errorf("resumed run reports epochs %+v of %d, want 1 (before) and 2 (now) of 2", r.Epochs, r.Train.Epochs)
	}
	// The checkpoint now records the finished 2-epoch run.
	if err := run([]string{"-quick", "-out", dir, "-resume", ckpt}, &out, &errb); err == nil || !strings.Contains(err.Error(), "epoch 2 of 2") {
		t.Errorf("resuming the 2-epoch run: error %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-model", "transformer", "-quick"},
		{"-method", "magic", "-quick"},
		{"-eval", "/nonexistent.safetensors"},
		{"stray"},
		{"-quick", "-optim", "lbfgs"},
		{"-quick", "-batch", "0"},
		{"-quick", "-epochs", "-1"},
		{"-quick", "-resume", "/nonexistent.safetensors"},
	} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
