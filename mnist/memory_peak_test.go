//go:build linux

package mnist

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/neuralode/neuralode/graph"
)

// peakChildEnv carries a ModelConfig (JSON) to the child process of TestTrainingPeakRSS.
const peakChildEnv = "MNIST_PEAK_RSS_CONFIG"

// TestPeakRSSChild is not a test on its own: run by TestTrainingPeakRSS in a fresh
// process, it trains the configuration in $MNIST_PEAK_RSS_CONFIG for one step and
// prints the process's peak resident set size.
func TestPeakRSSChild(t *testing.T) {
	js := os.Getenv(peakChildEnv)
	if js == "" {
		t.Skip("run by TestTrainingPeakRSS")
	}
	var cfg ModelConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatal(err)
	}
	// A small GC target keeps garbage from inflating the peak: the peak RSS is then the
	// largest live heap of the step (plus the runtime's own), not an artefact of when
	// the collector ran.
	debug.SetGCPercent(10)
	train, _, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(cfg, graph.NewParams(rand.New(rand.NewPCG(1, 1))), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(train, BatchOptions{BatchSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float64, 128*Rows*Cols), make([]int, 128)
	steps := 0
	for i := 0; i < 1; i++ { // one step: it also builds and compiles the graphs, the same for every configuration
		if _, err := b.NextFloat64(x, y); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Loss(x, y); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(); err != nil {
			t.Fatal(err)
		}
		fw, _ := m.NFE()
		steps = fw
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PEAK_RSS %d %d\n", ru.Maxrss*1024, steps) // peak bytes, forward NFE of the last step
}

// TestTrainingPeakRSS measures the paper's memory claim as the kernel sees it: the peak
// resident set size of a process that trains the default ODE-Net (24 channels, batch
// 128, float32) for one step, as the ODE block's tolerance tightens (Dopri5, backsolve
// adjoint: 3 to 21 steps), against the RK-Net's as its fixed RK4 step shrinks (direct
// backpropagation: 2 to 32 steps). Each configuration runs in a fresh process, so each
// peak is its own. TestTrainingMemoryAgainstSteps measures the live heap between the
// passes; this one includes the backward pass's working memory and everything else.
//
// Bounds: the RK-Net's peak must grow from 2 to 32 steps by at least 0.8x what its tape
// keeps for the 30 extra steps (6 rows of [128, 24, 7, 7] float64 = 7.2 MB a step;
// measured 2x that, 419 MB: its backward pass holds stage cotangents too). The
// ODE-Net's peak does not grow with its steps (the solver's buffers and the adjoint's
// state do not depend on them) but moves by a few per cent with when the collector
// runs (measured 412-429 MB): its spread must stay under 10 % of its size and under a
// fifth of the RK-Net's growth.
func TestTrainingPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("six child processes on the real data")
	}
	if os.Getenv(peakChildEnv) != "" {
		t.Skip("in a child")
	}
	if _, _, err := LoadDefault(); err != nil {
		t.Fatal(err)
	}
	peak := func(cfg ModelConfig) int64 {
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.v")
		cmd.Env = append(os.Environ(), peakChildEnv+"="+string(js))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			var p, s int64
			if n, _ := fmt.Sscanf(line, "PEAK_RSS %d %d", &p, &s); n == 2 {
				return p
			}
		}
		t.Fatalf("child printed no peak:\n%s", out)
		return 0
	}
	base := ModelConfig{Stem: StemFast, Channels: 24, T: 1, Float32: true}
	var ode, rk []int64
	for _, tol := range []float64{1e-1, 1e-3, 1e-5} {
		c := base
		c.Arch, c.Method, c.RTol, c.ATol, c.Gradient = ArchODENet, "dopri5", tol, tol, "backsolve"
		ode = append(ode, peak(c))
	}
	for _, h := range []float64{1.0 / 2, 1.0 / 8, 1.0 / 32} {
		c := base
		c.Arch, c.Method, c.Step, c.Gradient = ArchRKNet, "rk4", h, "direct"
		rk = append(rk, peak(c))
	}
	mb := func(v []int64) string {
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprintf("%.1f MB", float64(x)/1e6))
		}
		return strings.Join(s, ", ")
	}
	t.Logf("peak RSS, ODE-Net (dopri5, adjoint) at tol 1e-1, 1e-3, 1e-5: %s", mb(ode))
	t.Logf("peak RSS, RK-Net (rk4, direct) at h 1/2, 1/8, 1/32: %s", mb(rk))
	lo, hi := ode[0], ode[0]
	for _, v := range ode {
		lo, hi = min(lo, v), max(hi, v)
	}
	const perStep = 6 * 128 * 24 * 7 * 7 * 8
	grow := rk[2] - rk[0]
	if float64(grow) < 0.8*30*perStep {
		t.Errorf("RK-Net peak RSS grew %d bytes from 2 to 32 steps; its tape keeps %d more", grow, 30*perStep)
	}
	if float64(hi-lo) > 0.1*float64(lo) || 5*(hi-lo) > grow {
		t.Errorf("ODE-Net peak RSS %d .. %d bytes across tolerances: not flat (RK-Net grew %d)", lo, hi, grow)
	}
}
