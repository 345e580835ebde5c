package kernels

import "fmt"

// All matrices are dense row-major float32 slices.

func checkGemm(name string, c, a, b []float32, m, k, n int) {
	if m < 0 || k < 0 || n < 0 || len(c) < m*n || len(a) < m*k || len(b) < k*n {
		panic(fmt.Sprintf("kernels.%s: bad shapes m=%d k=%d n=%d len(c)=%d len(a)=%d len(b)=%d", name, m, k, n, len(c), len(a), len(b)))
	}
}

// MatMul computes C[m×n] = A[m×k]·B[k×n], or C += A·B when acc is true.
func MatMul(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMul", c, a, b, m, k, n)
	Parallel(threads, m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ci := c[i*n : i*n+n]
			if !acc {
				clear(ci)
			}
			ai := a[i*k : i*k+k]
			for p, av := range ai {
				bp := b[p*n : p*n+n]
				for j, bv := range bp {
					ci[j] = FMA32(av, bv, ci[j])
				}
			}
		}
	})
}

// MatMulNT computes C[m×n] = A[m×k]·B[n×k]ᵀ, or C += A·Bᵀ when acc is true.
func MatMulNT(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMulNT", c, a, b, m, k, n)
	Parallel(threads, m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ai := a[i*k : i*k+k]
			for j := 0; j < n; j++ {
				bj := b[j*k : j*k+k]
				var s float32
				if acc {
					s = c[i*n+j]
				}
				for p, av := range ai {
					s = FMA32(av, bj[p], s)
				}
				c[i*n+j] = s
			}
		}
	})
}

// MatMulTN computes C[m×n] = A[k×m]ᵀ·B[k×n], or C += Aᵀ·B when acc is true.
// It is the weight-gradient product dW = Xᵀ·dY: the reduction runs over the
// rows (tokens) in ascending order for every element of C.
func MatMulTN(threads int, c, a, b []float32, m, k, n int, acc bool) {
	checkGemm("MatMulTN", c, a, b, m, k, n)
	Parallel(threads, m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ci := c[i*n : i*n+n]
			if !acc {
				clear(ci)
			}
			for p := 0; p < k; p++ {
				av := a[p*m+i]
				bp := b[p*n : p*n+n]
				for j, bv := range bp {
					ci[j] = FMA32(av, bv, ci[j])
				}
			}
		}
	})
}
