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
// Work is split over (batch, head) pairs, whose outputs are independent; the
// operations inside a pair run in a fixed order. Gradients that several heads
// share (Bm, Cm, A) are first written per head and then summed in ascending
// head (and batch) order. So every result is bit-identical for any thread
// count.
//
// Arithmetic is float32 in, float32 out, float64 inside: every product is
// written with an explicit float64 conversion, which the Go specification
// forbids from being fused into a multiply-add, and every sum runs in a fixed
// order: in the small matrix products of a chunk each output element is one
// chain over the reduction index in ascending order, and the remaining dot
// products use four interleaved partial sums combined as (s0+s1)+(s2+s3).
// Chunk-boundary states are rounded to float32 when they are stored, and the
// next chunk continues from the stored value, so Forward and Backward see the
// same states. Decays use the project's kernels.Exp. The results are the same
// bits on every architecture.
//
// Memory: the Cache holds Batch·(Chunks+1)·Heads·HeadDim·State float32
// states and Batch·Groups·Chunks·Chunk² float64 inner products; Backward
// allocates two transient Batch·Len·Heads·State float64 buffers for the
// per-head B and C gradients.
package ssd
