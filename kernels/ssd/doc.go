// Package ssd implements the selective-scan core of a Mamba-2 block: the
// chunked state-space duality (SSD) algorithm, its exact backward pass, a
// step-by-step float64 reference and a one-token decoding step.
//
// # Recurrence
//
// Per batch row b and head h, with state h_t ∈ R^{P×N}:
//
//	h_t = exp(dt_t·A_h)·h_{t−1} + dt_t · x_t ⊗ B_t
//	y_t = h_t · C_t
//
// where x_t ∈ R^P is the head's input, B_t, C_t ∈ R^N belong to the head's
// group g = h / (Heads/Groups), and h_0 is the initial state (zeros, or
// given). There is no D skip here; the block adds it.
//
// # Layouts (row-major float32)
//
//	x, y:        (Batch, Len, Heads, HeadDim)
//	dt:          (Batch, Len, Heads), already softplus'ed (> 0)
//	A:           (Heads), negative (A = −exp(A_log))
//	Bm, Cm:      (Batch, Len, Groups, State)
//	init, final: (Batch, Heads, HeadDim, State)
//
// # Chunked algorithm
//
// Time is cut into chunks of Chunk steps (the last one may be shorter, which
// is the same as padding with dt = 0 and x = 0). Within a chunk the decay
// matrix L[l,s] = exp(Σ_{k=s+1..l} dt_k·A) is built from the segment sums
// directly (never as a difference of two cumulative sums), and
//
//	y_l     = Σ_{s≤l} (C_l·B_s)·L[l,s]·dt_s·x_s  +  exp(Σ_{k≤l} dt_k·A)·S_in·C_l
//	S_out   = exp(Σ_k dt_k·A)·S_in + Σ_s L[last,s]·dt_s·x_s ⊗ B_s
//
// The inner products C_l·B_s depend only on the group and are computed once
// per (batch, group, chunk). The chunk-boundary states are kept in a Cache;
// Backward recomputes everything inside a chunk from them and runs the exact
// reverse of the chunked computation, chunk by chunk from the end.
//
// # Determinism
//
// Forward splits work over (batch, head) pairs, whose outputs are
// independent. Backward walks the chunks from the last to the first; at
// each chunk the (batch, head) pairs run in parallel, each carrying its own
// state gradient and keeping its own B and C gradients of the chunk, and
// then, in parallel over the chunk's time steps, the B and C gradients of a
// group's heads are summed in ascending head order. The per-(batch, head)
// gradients of A are summed over the chunks in descending order and over
// batch rows in ascending order. The operations inside a pair run in a
// fixed order, so every result is bit-identical for any thread count.
//
// Arithmetic inside a chunk is float32: the chunk's small matrix products
// (C·S_inᵀ, M·X, Xᵀ·B and the eight products of the reverse pass) run
// through kernels.MatMulNT, or, for the untransposed and Aᵀ·B forms, an
// AVX-512 kernel that reads the operands in place (kernels.MatMul and
// MatMulTN where it does not apply), so every element is one
// chain of single-rounding float32 FMAs over the reduction index in
// ascending order, continuing from a stored first term (the decayed state
// path) where the formula adds one. The q×q matrices are stored lower
// triangular with explicit zeros above the diagonal, which add nothing to a
// chain. The decays L[l,s] are products of the per-step factors exp(dt·A)
// in float64 (never a difference of cumulative sums), rounded once to
// float32. The scalar reductions (the gradients of the log-decays, dt and A,
// and the per-head sums of the B and C gradients) run in float64 with exact
// products, in a fixed order; the float64 dot products keep four
// interleaved partial sums, which the AVX2 code holds in the four lanes of
// one register. Chunk-boundary states are stored as float32
// and the next chunk continues from the stored value, so Forward and
// Backward see the same states. Decays use the project's kernels.Exp. The
// results are the same bits on every architecture and thread count;
// against the float64 recurrence they agree to about 1e-6 relative.
//
// Memory: the Cache holds Batch·(Chunks+1)·Heads·HeadDim·State float32
// states and Batch·Groups·Chunks·Chunk² float32 inner products
// (ForwardReuse recycles it); Backward needs, per (batch, head) pair, a
// HeadDim·State state gradient and the B and C gradients of one chunk
// (Chunk·State each), in float32, recycled between calls.
//
// # Inference
//
// ForwardInference gives the same y and final state bits as Forward
// without the work only Backward needs: it carries one state per (batch,
// head) pair from chunk to chunk instead of caching every boundary state,
// computes each chunk's C·Bᵀ when it reaches the chunk, and skips the state
// leaving the last chunk when no final state is wanted. Both paths skip the
// state terms of a chunk entered with the zero state (the first chunk
// without an initial state) where that provably keeps the bits: every
// chain of C·S_inᵀ would stay +0 (see forwardChunk).
package ssd
