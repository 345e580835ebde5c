// Package kernels holds the hot numeric loops of the harness: the GEMM
// variants training needs, and the parallel helpers that split work over
// independent output blocks.
//
// # Determinism contract
//
// A result depends only on the order of its floating-point operations, so the
// order is fixed per output element and threads only choose which output
// elements they compute:
//
//   - GEMM: every element of C is one chain of single-rounding float32 fused
//     multiply-adds over K in ascending order, c = fma(a_k, b_k, c), starting
//     from 0 (or from the stored C when accumulating). Threads split rows and
//     columns of C, never K. The hardware FMA (VFMADD231PS) and the pure-Go
//     twin FMA32 (which emulates a single rounding exactly, via an exact
//     float64 product, TwoSum and round-to-odd) give the same bits, so results
//     do not depend on the thread count, the instruction set or the machine.
//   - Row reductions (norms, softmax, losses) run per row in a fixed order.
package kernels
