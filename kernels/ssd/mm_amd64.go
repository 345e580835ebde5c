//go:build !purego

package ssd

import "golang.org/x/sys/cpu"

var hasAVX512 = cpu.X86.HasAVX512F

// mmAVX512 sets C[i, j] (row stride ldc bytes) for i < m and j < 16·nb to
// the chain fma(A(i,k−1), B[k−1, j], … fma(A(i,0), B[0, j], c0)) with c0
// the stored C[i, j] when acc is not 0, else +0, where A(i, kk) is the
// float32 at a + i·sai + kk·sak bytes and B's rows are ldb bytes apart.
//
//go:noescape
func mmAVX512(c *float32, ldc int, a *float32, sai, sak int, b *float32, ldb, m, k, nb, acc int)

// mmAsm runs C (m×n, dense) [+]= Σ_kk A(i,kk)·B[kk,:] with A(i,kk) =
// a[i·sai + kk·sak] and B dense k×n in AVX-512 and reports true, or
// reports false (nothing done) when the CPU lacks AVX-512 or n is not a
// multiple of 16.
func mmAsm(c, a, b []float32, m, k, n, sai, sak int, acc bool) bool {
	if !hasAVX512 || n%16 != 0 || m < 1 || k < 1 || n < 16 {
		return false
	}
	_ = c[m*n-1]
	_ = a[(m-1)*sai+(k-1)*sak]
	_ = b[k*n-1]
	f := 0
	if acc {
		f = 1
	}
	mmAVX512(&c[0], 4*n, &a[0], 4*sai, 4*sak, &b[0], 4*n, m, k, n/16, f)
	return true
}

//go:noescape
func inputGrads2AVX512(dts0, dts1 float32, x0, x1, dX0, dX1, dx0, dx1 *float32, n int) (g0, g1 float64)

// inputGrads2 is inputGrads2Go, in AVX-512 where the CPU has it and the
// rows are whole multiples of eight.
func inputGrads2(dts0, dts1 float32, x0, x1, dX0, dX1, dx0, dx1 []float32) (float64, float64) {
	n := len(dX0)
	if !hasAVX512 || n%8 != 0 || n == 0 {
		return inputGrads2Go(dts0, dts1, x0, x1, dX0, dX1, dx0, dx1)
	}
	x0, x1, dX1, dx0, dx1 = x0[:n], x1[:n], dX1[:n], dx0[:n], dx1[:n]
	return inputGrads2AVX512(dts0, dts1, &x0[0], &x1[0], &dX0[0], &dX1[0], &dx0[0], &dx1[0], n)
}
