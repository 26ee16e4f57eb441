package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickJSON runs the study with -quick -json and checks that the last
// line is one JSON report and that the plots exist.
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
	if len(rep.Results) != 2 {
		t.Fatalf("%d problems in the report", len(rep.Results))
	}
	for _, r := range rep.Results {
		if len(r.Curves) != 5 {
			t.Errorf("%s: %d curves", r.Problem, len(r.Curves))
		}
		for _, c := range r.Curves {
			for _, p := range c.Points {
				if p.Failed != "" || p.NFE <= 0 || !(p.Error > 0) {
					t.Errorf("%s %s: bad point %+v", r.Problem, c.Method, p)
				}
			}
		}
		if st, err := os.Stat(filepath.Join(dir, r.Problem+".png")); err != nil || st.Size() == 0 {
			t.Errorf("missing plot for %s: %v", r.Problem, err)
		}
	}
}
