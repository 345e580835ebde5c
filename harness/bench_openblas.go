//go:build openblas

package main

import (
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels/openblas"
)

func init() {
	benchRefs = append(benchRefs, experiment.Reference{Name: "openblas", Gemm: func(threads int, transA, transB bool, c, a, b []float32, m, k, n int, acc bool) {
		openblas.SetThreads(threads)
		lda, ldb := k, n
		if transA {
			lda = m
		}
		if transB {
			ldb = k
		}
		var beta float32
		if acc {
			beta = 1
		}
		if err := openblas.Sgemm(transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, n); err != nil {
			panic(err)
		}
	}})
}
