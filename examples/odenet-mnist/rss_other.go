//go:build !unix

package main

// peakRSS returns 0: the peak resident set size is only read on Unix systems.
func peakRSS() uint64 { return 0 }
