// Package gguf reads and writes GGUF version 3 files (the ggml model
// container) and converts tensors to and from the ggml types F32, F16, Q8_0,
// Q4_0, Q3_K, TQ2_0 and TQ1_0 with ggml's block layouts (METHODS §8).
//
// # File layout
//
// Little-endian: magic "GGUF", u32 version 3, u64 tensor count, u64
// key/value count, the key/value pairs, the tensor infos (name, n_dims,
// ne[0..n_dims), ggml type, offset relative to the data section), zero
// padding to the alignment (general.alignment, default 32), then the tensor
// data, each tensor at an aligned offset and zero padded to the next one.
// ne[0] is the contiguous dimension: a row-major [out, in] matrix is written
// with ne = [in, out].
//
// # Determinism
//
// Write emits the key/value pairs and the tensors in the order they were
// given, with no timestamps or map iteration, so the same File always gives
// the same bytes.
//
// # Block types
//
//	Q8_0   32 values: fp16 d, int8 q[32]                 (34 bytes)
//	Q4_0   32 values: fp16 d, u8 qs[16] (low nibbles 0..15, high 16..31) (18 bytes)
//	Q3_K  256 values: u8 hmask[32] (high bits), u8 qs[64] (low 2 bits),
//	      u8 scales[12] (sixteen 6-bit sub-block scales), fp16 d (110 bytes)
//	TQ2_0 256 values: u8 qs[64] (2-bit codes t+1), fp16 d at byte 64  (66 bytes)
//	TQ1_0 256 values: u8 qs[48], u8 qh[4] (base-3, 5 and 4 trits a byte), fp16 d (54 bytes)
//
// The quantizers follow ggml's reference functions (quantize_row_*_ref), so
// the bytes equal what ggml writes for the same float input. Q3_K is ggml's
// quantize_row_q3_K_ref (the search of make_q3_quants, without importance
// weights), checked byte for byte against ggml's C built from source
// (testdata/q3k_ref.c, its output testdata/q3k_ref.bin).
//
// # Ternary weights with a per-tensor scale
//
// A BitLinear weight is γ·t with t ∈ {−1, 0, 1} and one float32 γ per
// tensor. ggml's ternary blocks carry an fp16 scale per 256 weights, which
// cannot hold an arbitrary float32 γ exactly. The ternary codes t are
// therefore quantized as they are (the reference quantizer gives d = 1 for
// every block with a non-zero code and d = 0 for an all-zero block), and γ is
// stored beside the tensor as an F32 tensor "<name>.scale" of one element,
// the way llama.cpp's BitNet graphs multiply by a separate scale tensor.
// Dequantizing the blocks and multiplying by the scale gives γ·t exactly,
// since d·t ∈ {−1, 0, 1} and γ·{−1, 0, 1} are exact in float32.
//
// ggml requires ne[0] to be a multiple of the block size (256 for TQ1_0 and
// TQ2_0). Weights whose in-features are not a multiple of 256 are padded, not
// refused: each row is extended with zero codes up to the next multiple of
// 256 and the tensor is written with ne[0] = the padded width. A reader
// recovers the true in-features from the architecture keys (the model's
// d_model, d_inner or d_ff) and drops the trailing columns (UnpadRows); the
// padding codes are 0, so a kernel that keeps them (with zero activations
// in the padded positions) computes the same dot products.
package gguf
