package kernels

import (
	"fmt"
	"slices"
	"time"
)

// GemmResult is one GEMM throughput measurement.
type GemmResult struct {
	Variant string // "NN" (MatMul), "NT" (MatMulNT) or "TN" (MatMulTN)
	Kernels string // kernel set that ran: "avx512", "avx2" or "purego"
	M, K, N int
	Threads int
	Runs    int     // products timed
	GFLOPS  float64 // best single-product rate, 2·M·K·N flops per product
}

// GemmVariants lists the variant names BenchGEMM accepts.
func GemmVariants() []string { return []string{"NN", "NT", "TN"} }

// KernelSets lists the kernel sets this process can run, fastest first; the
// first one is what MatMul uses.
func KernelSets() []string { return kernelNames(availableKernels()) }

func kernelNames(sets []kernelSet) []string {
	names := make([]string, len(sets))
	for i, ks := range sets {
		names[i] = ks.name
	}
	return names
}

// BenchGEMM runs one GEMM variant on fixed pseudo-random data repeatedly for
// at least minTime (and at least twice) and reports the best rate. kernels
// names the kernel set to use; "" means the selected one (KernelSet()).
func BenchGEMM(kernels, variant string, m, k, n, threads int, minTime time.Duration) (GemmResult, error) {
	if kernels == "" {
		kernels = KernelSet()
	}
	sets := availableKernels()
	i := slices.IndexFunc(sets, func(ks kernelSet) bool { return ks.name == kernels })
	if i < 0 {
		return GemmResult{}, fmt.Errorf("bench gemm: kernel set %q not available on this machine (available: %v)", kernels, KernelSets())
	}
	if !slices.Contains(GemmVariants(), variant) {
		return GemmResult{}, fmt.Errorf("bench gemm: unknown variant %q (valid: %v)", variant, GemmVariants())
	}
	if m < 1 || k < 1 || n < 1 {
		return GemmResult{}, fmt.Errorf("bench gemm: shape m=%d k=%d n=%d: all sizes must be at least 1", m, k, n)
	}
	if threads < 1 {
		threads = 1
	}
	g := benchArgs(variant, m, k, n)
	res := GemmResult{Variant: variant, Kernels: kernels, M: m, K: k, N: n, Threads: threads}
	flops := 2 * float64(m) * float64(k) * float64(n)
	start := time.Now()
	for res.Runs < 2 || time.Since(start) < minTime {
		t0 := time.Now()
		gemm(sets[i], threads, g)
		if r := flops / time.Since(t0).Seconds() / 1e9; r > res.GFLOPS {
			res.GFLOPS = r
		}
		res.Runs++
	}
	return res, nil
}

// benchArgs builds operands for one variant filled with small deterministic
// values (no subnormals, so the timing is the steady-state FMA rate).
func benchArgs(variant string, m, k, n int) gemmArgs {
	fill := func(size int, seed uint32) []float32 {
		x := make([]float32, size)
		h := seed
		for i := range x {
			h = h*1664525 + 1013904223
			x[i] = float32(h>>8)/float32(1<<24) - 0.5
		}
		return x
	}
	g := gemmArgs{
		c: make([]float32, m*n), ldc: n,
		a: fill(m*k, 1), lda: k,
		b: fill(k*n, 2), ldb: n,
		m: m, k: k, n: n,
	}
	switch variant {
	case "NT":
		g.ldb, g.transB = k, true
	case "TN":
		g.lda, g.transA = m, true
	}
	return g
}
