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
//     from +0 (or from the stored C when accumulating). Threads split rows and
//     columns of C, never K. The hardware FMA (VFMADD231PS) and the pure-Go
//     twin FMA32 (which emulates a single rounding exactly: the float64 sum
//     of the exact product is rounded once more unless it sits on a float32
//     halfway point or outside the normal range, where TwoSum and
//     round-to-odd decide) give the same bits, so results
//     do not depend on the thread count, the instruction set or the machine.
//   - Row reductions (norms, softmax, losses) run per row in a fixed order.
//   - Element-wise updates (AdamWUpdate) run the same IEEE operations in the
//     same order in every lane of the vector code and in the scalar code.
//
// # GEMM implementation
//
// MatMul, MatMulNT and MatMulTN share one blocked driver. It packs op(B) in
// blocks of 256 steps of K by 2048 columns into micro-panels of nr columns,
// and op(A) in blocks of 256 steps by about 96 rows into micro-panels of mr
// rows, so both transposed variants reach the micro-kernel in the same
// contiguous layout. Packing moves values and computes nothing; the AVX-512
// and AVX2 sets pack with vector moves (masked only at ragged edges on AVX2,
// whose masked stores are microcoded on AMD), narrow panels row by row
// across the block so the source streams sequentially and panels of a whole
// cache line one after another, and with in-register 16×16 (8×8)
// transposes for the transposed operands (gathers are avoided: with the
// gather-sampling mitigation they cost tens of cycles each). On more than
// one thread the operand every worker reads (B when C is split by rows, A
// when by columns) is packed once into shared panels, by tasks taken from a
// counter, and the workers then take strips of row or column tiles of C
// from another counter, strips shrinking towards the end; a shared operand
// over 4 MiB is handled one range of K blocks at a time, C carrying the
// chain state between ranges as it does between K blocks. The
// micro-kernel keeps an mr×nr tile of C in vector
// registers, lanes across the columns, and runs the K steps of the block in
// ascending order, one FMA per element and step. Blocking K only stores the
// float32 partial in C and reloads it for the next block, which is the chain
// state itself, so it changes no bits. Ragged tiles at the M and N edges run
// the full micro-kernel on a scratch tile padded with zero rows and columns
// and store only the real elements; K is never padded.
//
// The micro-kernel is chosen once at start-up and named by KernelSet:
//
//   - "avx512": 12×32 tile in 24 zmm accumulators (amd64 with AVX-512F);
//   - "avx2": 6×16 tile in 12 ymm accumulators (amd64 with AVX2 and FMA);
//   - "purego": 4×8 tile in Go with FMA32, used with the build tag purego,
//     on other architectures, or on CPUs without FMA.
//
// All three produce identical bits; the tests compare them with a plain
// FMA32 loop on ragged shapes and adversarial values, and FMA32 and every
// set with exactly rounded fused multiply-adds computed in math/big, so
// the checks hold under the purego tag too.
//
// # Measuring
//
// BenchGEMM times one variant and shape; PeakGFLOPS times a loop of
// independent vector FMAs, the machine's practical peak, against which
// `harness bench` states MFU. WithGEMM routes every GEMM through another
// implementation (a reference BLAS) so that a whole training step can be
// timed against it; such results differ in bits and are never recorded as
// runs.
package kernels
