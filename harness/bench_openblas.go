//go:build openblas

package main

import (
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels/openblas"
)

func init() {
	benchRefs = append(benchRefs, experiment.Reference{Name: "openblas", Run: func(threads int, c, a, b []float32, m, k, n int) {
		openblas.SetThreads(threads)
		_ = openblas.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	}})
}
