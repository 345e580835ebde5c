package kernels

import (
	"fmt"
	"sync/atomic"
)

// All matrices are dense row-major float32 slices. A threads value below 1
// means one thread.

func checkGemm(name string, c, a, b []float32, m, k, n int) {
	if m < 0 || k < 0 || n < 0 || len(c) < m*n || len(a) < m*k || len(b) < k*n {
		panic(fmt.Sprintf("kernels.%s: bad shapes m=%d k=%d n=%d len(c)=%d len(a)=%d len(b)=%d (need m,k,n >= 0, len(c) >= m*n, len(a) >= m*k, len(b) >= k*n)", name, m, k, n, len(c), len(a), len(b)))
	}
}

// MatMul computes C[m×n] = A[m×k]·B[k×n], or C += A·B when acc is true.
func MatMul(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMul", c, a, b, m, k, n)
	if o := override.Load(); o != nil {
		(*o)(threads, false, false, c, a, b, m, k, n, acc)
		return
	}
	gemm(active, threads, gemmArgs{
		c: c, ldc: n,
		a: a, lda: k,
		b: b, ldb: n,
		m: m, k: k, n: n, acc: acc,
	})
}

// MatMulNT computes C[m×n] = A[m×k]·B[n×k]ᵀ, or C += A·Bᵀ when acc is true.
func MatMulNT(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMulNT", c, a, b, m, k, n)
	if o := override.Load(); o != nil {
		(*o)(threads, false, true, c, a, b, m, k, n, acc)
		return
	}
	gemm(active, threads, gemmArgs{
		c: c, ldc: n,
		a: a, lda: k,
		b: b, ldb: k, transB: true,
		m: m, k: k, n: n, acc: acc,
	})
}

// MatMulTN computes C[m×n] = A[k×m]ᵀ·B[k×n], or C += Aᵀ·B when acc is true.
// It is the weight-gradient product dW = Xᵀ·dY: the reduction runs over the
// rows (tokens) in ascending order for every element of C.
func MatMulTN(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMulTN", c, a, b, m, k, n)
	if o := override.Load(); o != nil {
		(*o)(threads, true, false, c, a, b, m, k, n, acc)
		return
	}
	gemm(active, threads, gemmArgs{
		c: c, ldc: n,
		a: a, lda: m, transA: true,
		b: b, ldb: n,
		m: m, k: k, n: n, acc: acc,
	})
}

// KernelSet names the GEMM micro-kernel chosen for this process at start-up:
// "avx512", "avx2" or "purego". All of them give the same bits; the name is
// recorded with a run's environment because it decides the speed.
func KernelSet() string { return active.name }

// GemmFunc is a whole-GEMM implementation with the semantics of MatMul
// (transA: A is k×m; transB: B is n×k; acc: add to C).
type GemmFunc func(threads int, transA, transB bool, c, a, b []float32, m, k, n int, acc bool)

var override atomic.Pointer[GemmFunc]

// WithGEMM runs fn with every MatMul, MatMulNT and MatMulTN of the process
// routed through g, and restores the kernels afterwards. It exists for
// benchmarks that time a whole model against a reference BLAS: g's sums run
// in its own order, so results differ in bits from the kernels' and must
// never be recorded as a run. Other goroutines calling the GEMMs while fn
// runs use g too.
func WithGEMM(g GemmFunc, fn func()) {
	override.Store(&g)
	defer override.Store(nil)
	fn()
}

// Use selects the GEMM kernel set by name for the rest of the process ("" is
// the fastest set this CPU runs, the start-up choice). All sets give the
// same bits, so the choice changes speed only; it is recorded with each run
// through KernelSet. Call it before any GEMM runs: it is not synchronised
// with GEMMs in flight.
func Use(name string) error {
	sets := availableKernels()
	if name == "" {
		active = sets[0]
		return nil
	}
	for _, ks := range sets {
		if ks.name == name {
			active = ks
			return nil
		}
	}
	return fmt.Errorf("kernel set %q is not available on this machine (available: %v)", name, kernelNames(sets))
}
