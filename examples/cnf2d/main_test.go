package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestQuickJSON runs the example with -quick -json on 8gaussians and checks that the last
// line is a JSON report with a finite NLL, a true NLL below it (a model cannot beat the
// data's own density on average by more than sampling noise: 0.2 nat on 500 points is
// many standard errors) and the pictures on disk.
func TestQuickJSON(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-quick", "-json", "-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, lines[len(lines)-1])
	}
	if rep.TrueNLL == nil || !(rep.TestNLL > *rep.TrueNLL-0.2) || rep.TestNLL > 10 {
		t.Errorf("implausible NLL: test %.3f, true %v", rep.TestNLL, rep.TrueNLL)
	}
	if rep.TestNFE <= 0 || rep.ForwardNFE <= 0 || rep.BackwardNFE <= 0 {
		t.Errorf("missing NFE: %+v", rep)
	}
	if len(rep.Pictures) != 2 {
		t.Fatalf("pictures: %v", rep.Pictures)
	}
	for _, p := range rep.Pictures {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("missing picture %s: %v", p, err)
		}
	}
}

// TestBadFlags checks that bad settings are errors.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-data", "nope", "-quick"}, {"-model", "nope", "-quick"}, {"-iters", "0"}, {"-trace", "x", "-quick"},
		{"-probe", "normal", "-quick"}, {"-model", "hyper", "-hyper-form", "x", "-quick"}, {"-eval-tols", "1e-7,x", "-quick"}} {
		if err := run(append(args, "-out", t.TempDir(), "-no-pictures"), &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
