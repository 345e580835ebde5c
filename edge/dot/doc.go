// Package dot holds the integer dot products of the packed decoder
// (edge/engine): int8 activations times ternary TQ2_0 / TQ1_0 weight rows,
// and int8 activations times Q8_0 / Q4_0 rows for the quantized output
// head. Each has amd64 assembly (AVX-512 VNNI VPDPBUSD, and AVX2
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
// Q8Rows and Q4Rows compute, per row v of a Q8_0 / Q4_0 matrix with block
// scales d_{v,b} (fp16, converted exactly to float32) and int8 values
// w_{v,j}, and int8 activations q_j ∈ [−127, 127]:
//
//	p_{b,l} = Σ_{i<4} w_{v,32b+4l+i}·q_{32b+4l+i}        (exact int32, l = 0..7)
//	f_l     = f_l + float32(float32(p_{b,l})·d_{v,b})   (float32, b ascending, f_l from +0)
//	out[v]  = ((f_0+f_4) + (f_2+f_6)) + ((f_1+f_5) + (f_3+f_7))
//
// every float32 operation rounded on its own (no fused multiply-add), so
// the eight-lane vector code and the Go loop agree bit for bit. The
// activation range excludes −128 because the vector code applies the sign
// of w to q (VPSIGNB); Q8Rows falls back to the Go loop when q holds −128.
//
// QHead holds a Q8_0 or Q4_0 matrix in the int8 head's layout: eight rows
// to a group, interleaved block by block (the 32 weights of each row as
// unsigned bytes w + 128, VPDPBUSD's unsigned operand, or the Q4_0
// nibbles w + 8 placed so that a mask and a shift of one 64-byte load give
// four rows' bytes; then the group's fp16 scales), so the head reads one
// sequential stream of the file's 34 or 18 bytes per block; from 2 MiB on
// it lives in huge pages on linux. HeadRowsDiv subtracts the per-token
// terms 128·Σ q (8·Σ q) of Acts inside the integer sums, runs a pair of
// rows per 512-bit vector and a group at a time, reduces the group's lanes
// together in the order above and divides by the activation scale: the
// bits of Q8Rows (Q4Rows) followed by a float32 division, for any int8
// activations.
//
// QHead also holds Q3_K rows (nb still counts 32-element blocks, a multiple
// of 8), sixteen rows to a group with the 3-bit codes as nibbles, the
// sub-block scales as int8 and d as fp16 (146 bytes per 256 weights). Per
// row and super-block b the exact int32 I_b = Σ_m sc_m·Σ_{e in sub-block m}
// (c_e−4)·q_e, then f = f + float32(float32(I_b)·d_b) (b ascending, f from
// +0), out = f/s; see head_q3k.go for the layout and the kernels.
package dot
