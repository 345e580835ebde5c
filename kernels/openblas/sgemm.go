//go:build openblas

package openblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "fmt"

// SetThreads sets the number of threads OpenBLAS uses; values below 1 mean 1.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	C.openblas_set_num_threads(C.int(n))
}

// Sgemm computes C[m×n] = alpha·op(A)·op(B) + beta·C on row-major matrices,
// where op(A) is A[m×k] or, when transA, the transpose of A[k×m] (likewise
// op(B) is B[k×n] or the transpose of B[n×k]). lda, ldb and ldc are the row
// strides.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case m < 1 || n < 1 || k < 1:
		return fmt.Errorf("openblas sgemm: shape m=%d n=%d k=%d: all sizes must be at least 1", m, n, k)
	case lda < ac || len(a) < (ar-1)*lda+ac:
		return fmt.Errorf("openblas sgemm: A is %d×%d with stride %d but len(a)=%d", ar, ac, lda, len(a))
	case ldb < bc || len(b) < (br-1)*ldb+bc:
		return fmt.Errorf("openblas sgemm: B is %d×%d with stride %d but len(b)=%d", br, bc, ldb, len(b))
	case ldc < n || len(c) < (m-1)*ldc+n:
		return fmt.Errorf("openblas sgemm: C is %d×%d with stride %d but len(c)=%d", m, n, ldc, len(c))
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = uint32(C.CblasTrans)
	}
	if transB {
		tb = uint32(C.CblasTrans)
	}
	C.cblas_sgemm(C.CblasRowMajor, C.enum_CBLAS_TRANSPOSE(ta), C.enum_CBLAS_TRANSPOSE(tb),
		C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
	return nil
}
