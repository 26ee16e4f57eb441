//go:build !openblas

package graph

// BLAS names the BLAS implementation the library was built with: gonum's pure-Go BLAS
// by default, OpenBLAS with -tags openblas.
const BLAS = "gonum"
