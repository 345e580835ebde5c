// Package dot holds the integer dot products of the packed decoder
// (edge/engine): int8 activations times ternary TQ2_0 / TQ1_0 weight rows,
// and int8 activations times Q8_0 / Q4_0 / Q3_K rows for the quantized
// output head (QHead). Each has amd64 assembly (AVX-512 VNNI VPDPBUSD, and AVX2
// VPMADDUBSW/VPMADDWD) and a pure-Go twin that gives the same bits; the
// set is chosen at start-up and named by KernelSet, and Use selects
// another (as kernels.Use does for the GEMMs).
//
// # Ternary rows
//
// TQ2Rows and TQ1Rows return, per row, the exact int32 sum Σ_k c_k·q_k of
// the stored codes c = t+1 ∈ {0, 1, 2} times the int8 activations; the
// caller subtracts Σ_k q_k once to get Σ t·q (METHODS §9.1). VPDPBUSD takes
// the codes as its unsigned operand and the activations as the signed one.
// Integer sums are exact in any order (int32 arithmetic wraps, and the true
// value fits), so lanes, blocks and threads may be split any way. TQ2_0
// codes are bit fields (masks, or GFNI affine maps for the VNNI set); a
// TQ1_0 byte holds five base-3 codes, code n = ((b·3^n mod 256)·3) >> 8,
// which the vector code takes from two 16-bit multiplies per byte half
// (VPMULLW by 256·3^n, VPMULHUW by 3).
//
// # Quantized head rows
//
// QHead holds a Q8_0 or Q4_0 matrix in the int8 head's layout and
// HeadRowsDiv computes, per row v with block scales d_{v,b} (fp16,
// converted exactly to float32) and int8 values w_{v,j}, any int8
// activations q_j (−128 included) and the activation scale s, as ggml's
// reference vec_dot does:
//
//	I_b    = Σ_{i<32} w_{v,32b+i}·q_{32b+i}      (exact int32)
//	f      = f + float32(float32(I_b)·d_{v,b})  (float32, b ascending, f from +0)
//	out[v] = f / s                              (one float32 division)
//
// every float32 operation rounded on its own (no fused multiply-add);
// |I_b| ≤ 32·128·128 = 2^19, so float32(I_b) is exact. The vector code and
// the Go twin agree bit for bit for any input and any split of the rows.
//
// The layout groups sixteen rows (see QHead): for each block the sixteen
// rows' weights as unsigned bytes w + 128 (VPDPBUSD's unsigned operand), or
// the Q4_0 nibbles w + 8 placed so that a mask and a shift (GFNI affine map)
// of one 64-byte load give two vectors, with 64-byte vector t holding at
// dword lane j row j's elements 4t..4t+3; each pair of blocks is followed
// by its fp16 scales. The head reads one sequential stream of the file's 34 or 18 bytes per block;
// from 2 MiB on it lives in huge pages on linux. Each VPDPBUSD takes the
// token's four activations 4t..4t+3 broadcast, so after a block's eight the
// sixteen lanes hold the sixteen rows' I_b (the per-token −128·Σq, −8·Σq,
// of Acts starts the sum): no horizontal reduction, and one VCVTDQ2PS,
// VMULPS and VADDPS per block for sixteen rows. The AVX2 kernels use the
// same layout as two ymm halves, with VPMADDUBSW on 4-bit operands only
// (the Q4_0 nibbles; the two nibbles of a Q8_0 byte w + 128, recombined by
// VPMADDWD by 16 and by 1), so that no int16 sum can saturate.
//
// QHead also holds Q3_K rows (nb still counts 32-element blocks, a multiple
// of 8), sixteen rows to a group with the 3-bit codes packed 96 bytes per
// 256 (two code planes and a third's low bits in 64 bytes, the rest in 32),
// the sixteen 6-bit sub-block scales in 12 and d as fp16 (110 bytes per
// 256 weights, as the file's Q3_K block). Per
// row and super-block b the exact int32 I_b = Σ_m sc_m·Σ_{e in sub-block m}
// (c_e−4)·q_e, then f = f + float32(float32(I_b)·d_b) (b ascending, f from
// +0), out = f/s; see head_q3k.go for the layout and the kernels.
package dot
