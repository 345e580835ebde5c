//go:build openblas

package openblas

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
)

func fill(n int, seed uint32) []float32 {
	x := make([]float32, n)
	h := seed
	for i := range x {
		h = h*1664525 + 1013904223
		x[i] = float32(h>>8)/float32(1<<24) - 0.5
	}
	return x
}

// TestSgemmAgreesWithKernels checks the wrapper's argument order against the
// deterministic kernels (to rounding: OpenBLAS sums in its own order).
func TestSgemmAgreesWithKernels(t *testing.T) {
	const m, k, n = 37, 70, 45
	a, b := fill(m*k, 1), fill(k*n, 2)
	for _, tc := range []struct {
		name           string
		transA, transB bool
		lda, ldb       int
		ref            func(int, []float32, []float32, []float32, int, int, int, bool)
	}{
		{"NN", false, false, k, n, kernels.MatMul},
		{"NT", false, true, k, k, kernels.MatMulNT},
		{"TN", true, false, m, n, kernels.MatMulTN},
	} {
		want := make([]float32, m*n)
		tc.ref(1, want, a, b, m, k, n, false)
		got := make([]float32, m*n)
		if err := Sgemm(tc.transA, tc.transB, m, n, k, 1, a, tc.lda, b, tc.ldb, 0, got, n); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				t.Fatalf("%s: C[%d] = %v, want %v", tc.name, i, got[i], want[i])
			}
		}
	}
	if err := Sgemm(false, false, 2, 2, 2, 1, a[:3], 2, b, 2, 0, make([]float32, 4), 2); err == nil {
		t.Fatal("short A accepted")
	}
}

// BenchmarkSgemm measures OpenBLAS on the shapes of kernels.BenchmarkGEMM.
func BenchmarkSgemm(b *testing.B) {
	shapes := [][3]int{{512, 512, 1536}, {512, 1536, 512}, {4096, 512, 512}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}}
	for _, sh := range shapes {
		m, k, n := sh[0], sh[1], sh[2]
		for _, variant := range []string{"NN", "NT", "TN"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%dx%dx%d/t%d", variant, m, k, n, threads), func(b *testing.B) {
					SetThreads(threads)
					a, bb, c := fill(m*k, 1), fill(k*n, 2), make([]float32, m*n)
					lda, ldb := k, n
					if variant == "NT" {
						ldb = k
					}
					if variant == "TN" {
						lda = m
					}
					for b.Loop() {
						if err := Sgemm(variant == "TN", variant == "NT", m, n, k, 1, a, lda, bb, ldb, 0, c, n); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
