package ssd

import "github.com/nanomamba-edge/harness/kernels"

// The chunk's small products run through mulNN and mulTN: where the CPU has
// AVX-512 and the column count is a multiple of 16, a register-blocked
// kernel that reads the operands in place (no packing); elsewhere
// kernels.MatMul and kernels.MatMulTN. Both compute every element of C as
// one chain of single-rounding float32 FMAs over the reduction index in
// ascending order, starting from the stored C (acc) or from +0, so they
// give the same bits.

// mulNN is kernels.MatMul on one thread: C (m×n) [+]= A (m×k) · B (k×n).
func mulNN(c, a, b []float32, m, k, n int, acc bool) {
	if !mmAsm(c, a, b, m, k, n, k, 1, acc) {
		kernels.MatMul(1, c, a, b, m, k, n, acc)
	}
}

// mulTN is kernels.MatMulTN on one thread: C (m×n) [+]= Aᵀ · B with A
// stored k×m and B k×n.
func mulTN(c, a, b []float32, m, k, n int, acc bool) {
	if !mmAsm(c, a, b, m, k, n, 1, m, acc) {
		kernels.MatMulTN(1, c, a, b, m, k, n, acc)
	}
}
