//go:build !purego

#include "textflag.h"

// The Q3_K head kernels (QHead, head_q3k.go): whole sixteen-row groups.
// Per group and super-block b, the codes of row j are the 128 bytes at
// 128j (four 64-byte nibble vectors V0..V3: low and high nibbles of bytes
// 0..63, then of 64..127), its int8 sub-block scales at 2048 + 16j, the
// rows' fp16 d at 2304; 2336 bytes in all. pq (QHead.Acts) holds the
// activations of super-block b at 256b in the vectors' order, A_t at 64t,
// so that dword lane m of Σ_t V_t·A_t is the sum of sub-block m's sixteen
// c·q. The kernels add K_m = −4·Σ q over sub-block m (computed here from
// pq), multiply by sc_m, sum the sixteen lanes per row (exact int32),
// then f += float32(float32(I)·d) per row and finally f / s.

DATA q3c0f<>+0(SB)/4, $0x0f0f0f0f
GLOBL q3c0f<>(SB), RODATA|NOPTR, $4
DATA q3c04<>+0(SB)/4, $0x04040404
GLOBL q3c04<>(SB), RODATA|NOPTR, $4
DATA q3ones<>+0(SB)/4, $0x00010001
GLOBL q3ones<>(SB), RODATA|NOPTR, $4

// The GF(2) affine matrix of VGF2P8AFFINEQB that moves bits 4..7 of every
// byte to bits 0..3 and clears bits 4..7: the high nibble in one
// instruction.
DATA q3hinib<>+0(SB)/8, $0x1020408000000000
GLOBL q3hinib<>(SB), RODATA|NOPTR, $8

// Q3ROWV sets ACC to the sixteen lanes sc_m·(K_m + Σ c·q) of the row whose
// codes are at co(SI) and scales at so(SI) (Z30 the low nibble mask, Z21
// the high nibble's affine matrix, Z24..Z27 A0..A3, Z23 K).
#define Q3ROWV(co, so, ACC, X0, X1, T0, T1) \
	VMOVDQU64  co(SI), X0      \
	VMOVDQU64  co+64(SI), X1   \
	VGF2P8AFFINEQB $0, Z21, X0, T0 \
	VGF2P8AFFINEQB $0, Z21, X1, T1 \
	VPANDD     Z30, X0, X0     \
	VPANDD     Z30, X1, X1     \
	VMOVDQA64  Z23, ACC        \
	VPDPBUSD   Z24, X0, ACC    \
	VPDPBUSD   Z25, T0, ACC    \
	VPDPBUSD   Z26, X1, ACC    \
	VPDPBUSD   Z27, T1, ACC    \
	VPMOVSXBD  so(SI), X0      \
	VPMULLD    X0, ACC, ACC

// The reduction of sixteen rows' sixteen lanes, in three steps on pairs
// of registers (A the earlier rows, the result in A). RL1: rows a, b →
// per 128-bit lane [a b a b]. RL2: [a b a b], [c d c d] → [a b c d].
// RL3: 128-bit lanes [L0 L1 L2 L3], [M0 M1 M2 M3] → [L0+L1, L2+L3, M0+M1,
// M2+M3] (applied twice it leaves the sixteen row sums in row order).
#define RL1(A, B, T) \
	VPUNPCKLDQ B, A, T \
	VPUNPCKHDQ B, A, A \
	VPADDD     T, A, A

#define RL2(A, B, T) \
	VPUNPCKLQDQ B, A, T \
	VPUNPCKHQDQ B, A, A \
	VPADDD      T, A, A

#define RL3(A, B, T) \
	VSHUFI32X4 $0x88, B, A, T \
	VSHUFI32X4 $0xDD, B, A, A \
	VPADDD     T, A, A

// func q3HeadVNNI(out *float32, grp *byte, pq *int32, nsb, groups int, s float32)
TEXT ·q3HeadVNNI(SB), NOSPLIT, $0-44
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ pq+16(FP), DX
	MOVQ nsb+24(FP), CX
	MOVQ groups+32(FP), R8
	VBROADCASTSS s+40(FP), Z31
	VPBROADCASTD q3c0f<>(SB), Z30
	VPBROADCASTD q3c04<>(SB), Z29
	VPBROADCASTQ q3hinib<>(SB), Z21

q3vgrp:
	VXORPS Z28, Z28, Z28           // f of the sixteen rows
	MOVQ DX, R9
	MOVQ CX, R10

q3vsb:
	VMOVDQU64 (R9), Z24
	VMOVDQU64 64(R9), Z25
	VMOVDQU64 128(R9), Z26
	VMOVDQU64 192(R9), Z27
	VPXORD   Z23, Z23, Z23
	VPDPBUSD Z24, Z29, Z23
	VPDPBUSD Z25, Z29, Z23
	VPDPBUSD Z26, Z29, Z23
	VPDPBUSD Z27, Z29, Z23
	VPXORD   Z22, Z22, Z22
	VPSUBD   Z23, Z22, Z23         // K = −4·Σ q per sub-block
	Q3ROWV(0, 2048, Z12, Z0, Z1, Z2, Z3)
	Q3ROWV(128, 2064, Z13, Z4, Z5, Z6, Z7)
	RL1(Z12, Z13, Z17)
	Q3ROWV(256, 2080, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(384, 2096, Z13, Z4, Z5, Z6, Z7)
	RL1(Z14, Z13, Z17)
	RL2(Z12, Z14, Z17)
	Q3ROWV(512, 2112, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(640, 2128, Z13, Z4, Z5, Z6, Z7)
	RL1(Z14, Z13, Z17)
	Q3ROWV(768, 2144, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(896, 2160, Z13, Z4, Z5, Z6, Z7)
	RL1(Z15, Z13, Z17)
	RL2(Z14, Z15, Z17)
	RL3(Z12, Z14, Z17)
	Q3ROWV(1024, 2176, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(1152, 2192, Z13, Z4, Z5, Z6, Z7)
	RL1(Z14, Z13, Z17)
	Q3ROWV(1280, 2208, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(1408, 2224, Z13, Z4, Z5, Z6, Z7)
	RL1(Z15, Z13, Z17)
	RL2(Z14, Z15, Z17)
	Q3ROWV(1536, 2240, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(1664, 2256, Z13, Z4, Z5, Z6, Z7)
	RL1(Z15, Z13, Z17)
	Q3ROWV(1792, 2272, Z16, Z0, Z1, Z2, Z3)
	Q3ROWV(1920, 2288, Z13, Z4, Z5, Z6, Z7)
	RL1(Z16, Z13, Z17)
	RL2(Z15, Z16, Z17)
	RL3(Z14, Z15, Z17)
	RL3(Z12, Z14, Z17)
	VCVTDQ2PS Z12, Z12             // I of rows 0..15 (exact)
	VCVTPH2PS 2304(SI), Z20
	VMULPS    Z20, Z12, Z12
	VADDPS    Z12, Z28, Z28
	ADDQ $2336, SI
	ADDQ $256, R9
	DECQ R10
	JNZ  q3vsb

	VDIVPS  Z31, Z28, Z28
	VMOVUPS Z28, (DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q3vgrp
	VZEROUPPER
	RET

// Q3KA sets Y12 and Y11 to K of sub-blocks 0..7 and 8..15 of the
// activations at (R9) (Y14 the words 1; uses Y0..Y3, Y10).
#define Q3KA \
	VPBROADCASTD q3c04<>(SB), Y10 \
	VPMADDUBSW (R9), Y10, Y0      \
	VPMADDUBSW 64(R9), Y10, Y1    \
	VPMADDUBSW 128(R9), Y10, Y2   \
	VPMADDUBSW 192(R9), Y10, Y3   \
	VPADDW     Y1, Y0, Y0         \
	VPADDW     Y3, Y2, Y2         \
	VPADDW     Y2, Y0, Y0         \
	VPMADDWD   Y14, Y0, Y0        \
	VPXOR      Y1, Y1, Y1         \
	VPSUBD     Y0, Y1, Y12        \
	VPMADDUBSW 32(R9), Y10, Y0    \
	VPMADDUBSW 96(R9), Y10, Y1    \
	VPMADDUBSW 160(R9), Y10, Y2   \
	VPMADDUBSW 224(R9), Y10, Y3   \
	VPADDW     Y1, Y0, Y0         \
	VPADDW     Y3, Y2, Y2         \
	VPADDW     Y2, Y0, Y0         \
	VPMADDWD   Y14, Y0, Y0        \
	VPXOR      Y1, Y1, Y1         \
	VPSUBD     Y0, Y1, Y11

// Q3ROWA sets R to the eight lanes of sc·(K + Σ c·q) of sub-blocks m and
// m+8 added, for the row whose codes are at co(R11) and scales at so(R11)
// (Y15 the nibble mask; uses Y0..Y7). Lanes 0..7 of V_t are the first 32
// bytes of its 64, sub-blocks 0..7; lanes 8..15 the next 32.
#define Q3ROWA(co, so, R) \
	VMOVDQU    co(R11), Y0      \
	VMOVDQU    co+64(R11), Y1   \
	VMOVDQU    co+32(R11), Y4   \
	VMOVDQU    co+96(R11), Y5   \
	VPSRLW     $4, Y0, Y2       \
	VPSRLW     $4, Y1, Y3       \
	VPSRLW     $4, Y4, Y6       \
	VPSRLW     $4, Y5, Y7       \
	VPAND      Y15, Y0, Y0      \
	VPAND      Y15, Y1, Y1      \
	VPAND      Y15, Y2, Y2      \
	VPAND      Y15, Y3, Y3      \
	VPAND      Y15, Y4, Y4      \
	VPAND      Y15, Y5, Y5      \
	VPAND      Y15, Y6, Y6      \
	VPAND      Y15, Y7, Y7      \
	VPMADDUBSW (R9), Y0, Y0     \
	VPMADDUBSW 64(R9), Y2, Y2   \
	VPMADDUBSW 128(R9), Y1, Y1  \
	VPMADDUBSW 192(R9), Y3, Y3  \
	VPMADDUBSW 32(R9), Y4, Y4   \
	VPMADDUBSW 96(R9), Y6, Y6   \
	VPMADDUBSW 160(R9), Y5, Y5  \
	VPMADDUBSW 224(R9), Y7, Y7  \
	VPADDW     Y2, Y0, Y0       \
	VPADDW     Y3, Y1, Y1       \
	VPADDW     Y1, Y0, Y0       \
	VPADDW     Y6, Y4, Y4       \
	VPADDW     Y7, Y5, Y5       \
	VPADDW     Y5, Y4, Y4       \
	VPMADDWD   Y14, Y0, Y0      \
	VPMADDWD   Y14, Y4, Y4      \
	VPADDD     Y12, Y0, Y0      \
	VPADDD     Y11, Y4, Y4      \
	VPMOVSXBD  so(R11), Y1      \
	VPMOVSXBD  so+8(R11), Y5    \
	VPMULLD    Y1, Y0, Y0       \
	VPMULLD    Y5, Y4, Y4       \
	VPADDD     Y4, Y0, R

// func q3HeadAVX2(out *float32, grp *byte, pq *int32, nsb, groups int, s float32)
// Each group as two halves of eight rows; a half's eight rows are reduced
// with VPHADDD and one lane exchange, in row order.
TEXT ·q3HeadAVX2(SB), NOSPLIT, $0-44
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ pq+16(FP), DX
	MOVQ nsb+24(FP), CX
	MOVQ groups+32(FP), R8
	VPBROADCASTD q3c0f<>(SB), Y15
	VPBROADCASTD q3ones<>(SB), Y14
	MOVQ  CX, R12
	IMULQ $2336, R12               // bytes per group

q3agrp:
	VXORPS Y13, Y13, Y13           // f of rows 0..7
	MOVQ SI, R11
	MOVQ DX, R9
	MOVQ CX, R10

q3asb0:
	Q3KA
	Q3ROWA(0, 2048, Y8)
	Q3ROWA(128, 2064, Y9)
	VPHADDD Y9, Y8, Y8
	Q3ROWA(256, 2080, Y9)
	Q3ROWA(384, 2096, Y10)
	VPHADDD Y10, Y9, Y9
	VPHADDD Y9, Y8, Y8
	Q3ROWA(512, 2112, Y9)
	Q3ROWA(640, 2128, Y10)
	VPHADDD Y10, Y9, Y9
	Q3ROWA(768, 2144, Y10)
	Q3ROWA(896, 2160, Y0)
	VPHADDD Y0, Y10, Y10
	VPHADDD Y10, Y9, Y9
	VPERM2I128 $0x20, Y9, Y8, Y10
	VPERM2I128 $0x31, Y9, Y8, Y0
	VPADDD     Y0, Y10, Y10         // I of rows 0..7 (exact)
	VCVTDQ2PS  Y10, Y10
	VCVTPH2PS  2304(R11), Y0
	VMULPS     Y0, Y10, Y10
	VADDPS     Y10, Y13, Y13
	ADDQ $2336, R11
	ADDQ $256, R9
	DECQ R10
	JNZ  q3asb0

	VBROADCASTSS s+40(FP), Y0
	VDIVPS  Y0, Y13, Y13
	VMOVUPS Y13, 0(DI)

	VXORPS Y13, Y13, Y13           // f of rows 8..15
	MOVQ SI, R11
	MOVQ DX, R9
	MOVQ CX, R10

q3asb1:
	Q3KA
	Q3ROWA(1024, 2176, Y8)
	Q3ROWA(1152, 2192, Y9)
	VPHADDD Y9, Y8, Y8
	Q3ROWA(1280, 2208, Y9)
	Q3ROWA(1408, 2224, Y10)
	VPHADDD Y10, Y9, Y9
	VPHADDD Y9, Y8, Y8
	Q3ROWA(1536, 2240, Y9)
	Q3ROWA(1664, 2256, Y10)
	VPHADDD Y10, Y9, Y9
	Q3ROWA(1792, 2272, Y10)
	Q3ROWA(1920, 2288, Y0)
	VPHADDD Y0, Y10, Y10
	VPHADDD Y10, Y9, Y9
	VPERM2I128 $0x20, Y9, Y8, Y10
	VPERM2I128 $0x31, Y9, Y8, Y0
	VPADDD     Y0, Y10, Y10         // I of rows 8..15 (exact)
	VCVTDQ2PS  Y10, Y10
	VCVTPH2PS  2320(R11), Y0
	VMULPS     Y0, Y10, Y10
	VADDPS     Y10, Y13, Y13
	ADDQ $2336, R11
	ADDQ $256, R9
	DECQ R10
	JNZ  q3asb1

	VBROADCASTSS s+40(FP), Y0
	VDIVPS  Y0, Y13, Y13
	VMOVUPS Y13, 32(DI)

	ADDQ R12, SI
	ADDQ $64, DI
	DECQ R8
	JNZ  q3agrp
	VZEROUPPER
	RET
