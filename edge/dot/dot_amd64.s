//go:build !purego

#include "textflag.h"

// Byte and word constants, broadcast into registers.
DATA c03<>+0(SB)/4, $0x03030303
GLOBL c03<>(SB), RODATA|NOPTR, $4
DATA ones16<>+0(SB)/4, $0x00010001
GLOBL ones16<>(SB), RODATA|NOPTR, $4

// GF(2) affine matrices for VGF2P8AFFINEQB that move bits 2l and 2l+1 of
// every byte to bits 0 and 1 and clear the rest: the code of plane l in one
// instruction (matrix byte 7−i selects the source bits of result bit i).
DATA gfpl1<>+0(SB)/8, $0x0408000000000000
GLOBL gfpl1<>(SB), RODATA|NOPTR, $8
DATA gfpl2<>+0(SB)/8, $0x1020000000000000
GLOBL gfpl2<>(SB), RODATA|NOPTR, $8
DATA gfpl3<>+0(SB)/8, $0x4080000000000000
GLOBL gfpl3<>(SB), RODATA|NOPTR, $8

// TQ2_0 rows. A block is 66 bytes: qs[64] then the fp16 scale (not read).
// Byte 32h+m holds the codes (t+1) of elements 128h+m+32l at bits 2l, so
// (qs[32h:32h+32] >> 2l) & 3 pairs with the 32 activations at 128h+32l.

// func tq2RowsVNNI(out *int32, w *byte, q *int8, nb, rows int)
TEXT ·tq2RowsVNNI(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD c03<>(SB), Y15
	VPBROADCASTQ gfpl1<>(SB), Y16
	VPBROADCASTQ gfpl2<>(SB), Y17
	VPBROADCASTQ gfpl3<>(SB), Y18

vrow:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ DX, R9
	MOVQ CX, R10

vblock:
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPAND Y15, Y4, Y6
	VPDPBUSD (R9), Y6, Y0
	VGF2P8AFFINEQB $0, Y16, Y4, Y7
	VPDPBUSD 32(R9), Y7, Y1
	VGF2P8AFFINEQB $0, Y17, Y4, Y8
	VPDPBUSD 64(R9), Y8, Y2
	VGF2P8AFFINEQB $0, Y18, Y4, Y9
	VPDPBUSD 96(R9), Y9, Y3
	VPAND Y15, Y5, Y10
	VPDPBUSD 128(R9), Y10, Y0
	VGF2P8AFFINEQB $0, Y16, Y5, Y11
	VPDPBUSD 160(R9), Y11, Y1
	VGF2P8AFFINEQB $0, Y17, Y5, Y12
	VPDPBUSD 192(R9), Y12, Y2
	VGF2P8AFFINEQB $0, Y18, Y5, Y13
	VPDPBUSD 224(R9), Y13, Y3
	ADDQ $66, SI
	ADDQ $256, R9
	DECQ R10
	JNZ vblock

	VPADDD Y1, Y0, Y0
	VPADDD Y3, Y2, Y2
	VPADDD Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ vrow
	VZEROUPPER
	RET

// TQ1_0 trits: byte b holds five base-3 codes, code n (0 = most significant)
// = ((b·3^n mod 256)·3) >> 8 (gguf.Trit). In 16-bit lanes, VPMULLW by
// 256·3^n leaves (b·3^n mod 256)·256 for the lane's low byte (the high
// byte's product falls off the top), and VPMULHUW by 3 then gives the code;
// the high bytes take the same path after a shift right by 8, and their
// codes go back to the high bytes.
DATA tq1pow<>+0(SB)/2, $256
DATA tq1pow<>+2(SB)/2, $768
DATA tq1pow<>+4(SB)/2, $2304
DATA tq1pow<>+6(SB)/2, $6912
DATA tq1pow<>+8(SB)/2, $20736
DATA tq1pow<>+10(SB)/2, $3
GLOBL tq1pow<>(SB), RODATA|NOPTR, $12

// The qh bytes' multipliers: dword lane n (the four bytes broadcast) takes
// code n.
DATA tq1qh<>+0(SB)/8, $0x0300030001000100
DATA tq1qh<>+8(SB)/8, $0x1b001b0009000900
GLOBL tq1qh<>(SB), RODATA|NOPTR, $16

// TRIT sets C to the codes of the bytes X (XH = X >> 8 in 16-bit lanes)
// for the multiplier P (Y15/X15: 3 in every 16-bit lane); T is scratch.
#define TRIT(X, XH, P, C, T) \
	VPMULLW  P, X, C    \
	VPMULHUW Y15, C, C  \
	VPMULLW  P, XH, T   \
	VPMULHUW Y15, T, T  \
	VPSLLW   $8, T, T   \
	VPOR     T, C, C

#define TRITX(X, XH, P, C, T) \
	VPMULLW  P, X, C    \
	VPMULHUW X15, C, C  \
	VPMULLW  P, XH, T   \
	VPMULHUW X15, T, T  \
	VPSLLW   $8, T, T   \
	VPOR     T, C, C

// func tq1RowsVNNI(out *int32, w *byte, q *int8, nb, rows int)
// Per block: the 32 qs bytes' five codes pair with the activations at 32n,
// the next 16 bytes' with 160 + 16n (xmm), and the 4 qh bytes, broadcast to
// four dword lanes, give the 16 codes of 240..255 in order (xmm).
TEXT ·tq1RowsVNNI(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTW tq1pow<>+0(SB), Y10
	VPBROADCASTW tq1pow<>+2(SB), Y11
	VPBROADCASTW tq1pow<>+4(SB), Y12
	VPBROADCASTW tq1pow<>+6(SB), Y13
	VPBROADCASTW tq1pow<>+8(SB), Y14
	VPBROADCASTW tq1pow<>+10(SB), Y15
	VMOVDQU tq1qh<>(SB), X8

t1row:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR X9, X9, X9
	MOVQ DX, R9
	MOVQ CX, R10

t1block:
	VMOVDQU (SI), Y4
	VPSRLW  $8, Y4, Y5
	TRIT(Y4, Y5, Y10, Y6, Y7)
	VPDPBUSD (R9), Y6, Y0
	TRIT(Y4, Y5, Y11, Y6, Y7)
	VPDPBUSD 32(R9), Y6, Y1
	TRIT(Y4, Y5, Y12, Y6, Y7)
	VPDPBUSD 64(R9), Y6, Y2
	TRIT(Y4, Y5, Y13, Y6, Y7)
	VPDPBUSD 96(R9), Y6, Y3
	TRIT(Y4, Y5, Y14, Y6, Y7)
	VPDPBUSD 128(R9), Y6, Y0
	VMOVDQU 32(SI), X4
	VPSRLW  $8, X4, X5
	TRITX(X4, X5, X10, X6, X7)
	VPDPBUSD 160(R9), X6, X9
	TRITX(X4, X5, X11, X6, X7)
	VPDPBUSD 176(R9), X6, X9
	TRITX(X4, X5, X12, X6, X7)
	VPDPBUSD 192(R9), X6, X9
	TRITX(X4, X5, X13, X6, X7)
	VPDPBUSD 208(R9), X6, X9
	TRITX(X4, X5, X14, X6, X7)
	VPDPBUSD 224(R9), X6, X9
	VPBROADCASTD 48(SI), X4
	VPSRLW  $8, X4, X5
	TRITX(X4, X5, X8, X6, X7)
	VPDPBUSD 240(R9), X6, X9
	ADDQ $54, SI
	ADDQ $256, R9
	DECQ R10
	JNZ t1block

	VPADDD Y1, Y0, Y0
	VPADDD Y3, Y2, Y2
	VPADDD Y2, Y0, Y0
	VPADDD Y9, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ t1row
	VZEROUPPER
	RET

// T1MADD adds the int32 sums of four code·activation products of C (codes)
// and the activations at M to ACC (AVX2: VPMADDUBSW's int16 pair sums are
// at most 2·2·128, then VPMADDWD by ones in Y2).
#define T1MADD(M, C, ACC) \
	VPMADDUBSW M, C, C  \
	VPMADDWD   Y2, C, C \
	VPADDD     C, ACC, ACC

#define T1MADDX(M, C, ACC) \
	VPMADDUBSW M, C, C  \
	VPMADDWD   X2, C, C \
	VPADDD     C, ACC, ACC

// func tq1RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)
// tq1RowsVNNI with the products of T1MADD instead of VPDPBUSD.
TEXT ·tq1RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTW tq1pow<>+0(SB), Y10
	VPBROADCASTW tq1pow<>+2(SB), Y11
	VPBROADCASTW tq1pow<>+4(SB), Y12
	VPBROADCASTW tq1pow<>+6(SB), Y13
	VPBROADCASTW tq1pow<>+8(SB), Y14
	VPBROADCASTW tq1pow<>+10(SB), Y15
	VMOVDQU tq1qh<>(SB), X8
	VPCMPEQW Y2, Y2, Y2
	VPSRLW   $15, Y2, Y2           // 1 in every 16-bit lane

t2row:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR X9, X9, X9
	MOVQ DX, R9
	MOVQ CX, R10

t2block:
	VMOVDQU (SI), Y4
	VPSRLW  $8, Y4, Y5
	TRIT(Y4, Y5, Y10, Y6, Y7)
	T1MADD((R9), Y6, Y0)
	TRIT(Y4, Y5, Y11, Y6, Y7)
	T1MADD(32(R9), Y6, Y1)
	TRIT(Y4, Y5, Y12, Y6, Y7)
	T1MADD(64(R9), Y6, Y0)
	TRIT(Y4, Y5, Y13, Y6, Y7)
	T1MADD(96(R9), Y6, Y1)
	TRIT(Y4, Y5, Y14, Y6, Y7)
	T1MADD(128(R9), Y6, Y0)
	VMOVDQU 32(SI), X4
	VPSRLW  $8, X4, X5
	TRITX(X4, X5, X10, X6, X7)
	T1MADDX(160(R9), X6, X9)
	TRITX(X4, X5, X11, X6, X7)
	T1MADDX(176(R9), X6, X9)
	TRITX(X4, X5, X12, X6, X7)
	T1MADDX(192(R9), X6, X9)
	TRITX(X4, X5, X13, X6, X7)
	T1MADDX(208(R9), X6, X9)
	TRITX(X4, X5, X14, X6, X7)
	T1MADDX(224(R9), X6, X9)
	VPBROADCASTD 48(SI), X4
	VPSRLW  $8, X4, X5
	TRITX(X4, X5, X8, X6, X7)
	T1MADDX(240(R9), X6, X9)
	ADDQ $54, SI
	ADDQ $256, R9
	DECQ R10
	JNZ t2block

	VPADDD Y1, Y0, Y0
	VPADDD Y9, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ t2row
	VZEROUPPER
	RET

// func tq2RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)
// VPMADDUBSW gives int16 pair sums (at most 2·2·128 in magnitude); the eight
// of a block are added in int16 (at most 4096) and widened by VPMADDWD. One
// line 8 KiB ahead is prefetched per block.
TEXT ·tq2RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD c03<>(SB), Y15
	VPBROADCASTD ones16<>(SB), Y14

arow:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	MOVQ DX, R9
	MOVQ CX, R10

ablock:
	PREFETCHT0 8192(SI) // the rows 8 KiB ahead, as tq2Rows4MaskVNNI
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPAND Y15, Y4, Y6
	VPMADDUBSW (R9), Y6, Y6
	VPSRLW $2, Y4, Y7
	VPAND Y15, Y7, Y7
	VPMADDUBSW 32(R9), Y7, Y7
	VPSRLW $4, Y4, Y8
	VPAND Y15, Y8, Y8
	VPMADDUBSW 64(R9), Y8, Y8
	VPSRLW $6, Y4, Y9
	VPAND Y15, Y9, Y9
	VPMADDUBSW 96(R9), Y9, Y9
	VPAND Y15, Y5, Y10
	VPMADDUBSW 128(R9), Y10, Y10
	VPSRLW $2, Y5, Y11
	VPAND Y15, Y11, Y11
	VPMADDUBSW 160(R9), Y11, Y11
	VPSRLW $4, Y5, Y12
	VPAND Y15, Y12, Y12
	VPMADDUBSW 192(R9), Y12, Y12
	VPSRLW $6, Y5, Y13
	VPAND Y15, Y13, Y13
	VPMADDUBSW 224(R9), Y13, Y13
	VPADDW Y7, Y6, Y6
	VPADDW Y9, Y8, Y8
	VPADDW Y11, Y10, Y10
	VPADDW Y13, Y12, Y12
	VPADDW Y8, Y6, Y6
	VPADDW Y12, Y10, Y10
	VPADDW Y10, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VPADDD Y6, Y0, Y0
	ADDQ $66, SI
	ADDQ $256, R9
	DECQ R10
	JNZ ablock

	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VMOVD X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ arow
	VZEROUPPER
	RET

// func tq2Rows128VNNI(out *int32, w *byte, q *int8, rows int)
// Rows of one TQ2_0 block whose activations 128..255 are zero: only the
// first 32 code bytes (elements 0..127) are read. rows is a multiple of 4;
// four rows are reduced together with VPHADDD (integer sums: exact in any
// order).
TEXT ·tq2Rows128VNNI(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ rows+24(FP), R8
	VPBROADCASTD c03<>(SB), Y15
	VPBROADCASTQ gfpl1<>(SB), Y16
	VPBROADCASTQ gfpl2<>(SB), Y17
	VPBROADCASTQ gfpl3<>(SB), Y18
	VMOVDQU (DX), Y10
	VMOVDQU 32(DX), Y11
	VMOVDQU 64(DX), Y12
	VMOVDQU 96(DX), Y13

h4:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VMOVDQU (SI), Y4
	VMOVDQU 66(SI), Y5
	VMOVDQU 132(SI), Y6
	VMOVDQU 198(SI), Y7
	VPAND Y15, Y4, Y8
	VPDPBUSD Y10, Y8, Y0
	VPAND Y15, Y5, Y9
	VPDPBUSD Y10, Y9, Y1
	VPANDD Y15, Y6, Y19
	VPDPBUSD Y10, Y19, Y2
	VPANDD Y15, Y7, Y20
	VPDPBUSD Y10, Y20, Y3
	VGF2P8AFFINEQB $0, Y16, Y4, Y21
	VPDPBUSD Y11, Y21, Y0
	VGF2P8AFFINEQB $0, Y16, Y5, Y22
	VPDPBUSD Y11, Y22, Y1
	VGF2P8AFFINEQB $0, Y16, Y6, Y23
	VPDPBUSD Y11, Y23, Y2
	VGF2P8AFFINEQB $0, Y16, Y7, Y24
	VPDPBUSD Y11, Y24, Y3
	VGF2P8AFFINEQB $0, Y17, Y4, Y8
	VPDPBUSD Y12, Y8, Y0
	VGF2P8AFFINEQB $0, Y17, Y5, Y9
	VPDPBUSD Y12, Y9, Y1
	VGF2P8AFFINEQB $0, Y17, Y6, Y19
	VPDPBUSD Y12, Y19, Y2
	VGF2P8AFFINEQB $0, Y17, Y7, Y20
	VPDPBUSD Y12, Y20, Y3
	VGF2P8AFFINEQB $0, Y18, Y4, Y21
	VPDPBUSD Y13, Y21, Y0
	VGF2P8AFFINEQB $0, Y18, Y5, Y22
	VPDPBUSD Y13, Y22, Y1
	VGF2P8AFFINEQB $0, Y18, Y6, Y23
	VPDPBUSD Y13, Y23, Y2
	VGF2P8AFFINEQB $0, Y18, Y7, Y24
	VPDPBUSD Y13, Y24, Y3
	VPHADDD Y1, Y0, Y0
	VPHADDD Y3, Y2, Y2
	VPHADDD Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ $16, DI
	ADDQ $264, SI
	SUBQ $4, R8
	JNZ  h4
	VZEROUPPER
	RET

// func tq2Rows256VNNI(out *int32, w *byte, q *int8, rows int)
// tq2Rows128VNNI for whole one-block rows (256 activations): four rows at a
// time, the second half of each block into its own accumulators.
TEXT ·tq2Rows256VNNI(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ rows+24(FP), R8
	VPBROADCASTD c03<>(SB), Y15
	VPBROADCASTQ gfpl1<>(SB), Y16
	VPBROADCASTQ gfpl2<>(SB), Y17
	VPBROADCASTQ gfpl3<>(SB), Y18
	VMOVDQU (DX), Y10
	VMOVDQU 32(DX), Y11
	VMOVDQU 64(DX), Y12
	VMOVDQU 96(DX), Y13
	VMOVDQU32 128(DX), Y25
	VMOVDQU32 160(DX), Y26
	VMOVDQU32 192(DX), Y27
	VMOVDQU32 224(DX), Y28

f4:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXORD Y29, Y29, Y29
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31
	VPXOR Y14, Y14, Y14
	VMOVDQU 0(SI), Y4
	VMOVDQU 66(SI), Y5
	VMOVDQU 132(SI), Y6
	VMOVDQU 198(SI), Y7
	VPANDD Y15, Y4, Y8
	VPDPBUSD Y10, Y8, Y0
	VPANDD Y15, Y5, Y9
	VPDPBUSD Y10, Y9, Y1
	VPANDD Y15, Y6, Y19
	VPDPBUSD Y10, Y19, Y2
	VPANDD Y15, Y7, Y20
	VPDPBUSD Y10, Y20, Y3
	VGF2P8AFFINEQB $0, Y16, Y4, Y21
	VPDPBUSD Y11, Y21, Y0
	VGF2P8AFFINEQB $0, Y16, Y5, Y22
	VPDPBUSD Y11, Y22, Y1
	VGF2P8AFFINEQB $0, Y16, Y6, Y23
	VPDPBUSD Y11, Y23, Y2
	VGF2P8AFFINEQB $0, Y16, Y7, Y24
	VPDPBUSD Y11, Y24, Y3
	VGF2P8AFFINEQB $0, Y17, Y4, Y8
	VPDPBUSD Y12, Y8, Y0
	VGF2P8AFFINEQB $0, Y17, Y5, Y9
	VPDPBUSD Y12, Y9, Y1
	VGF2P8AFFINEQB $0, Y17, Y6, Y19
	VPDPBUSD Y12, Y19, Y2
	VGF2P8AFFINEQB $0, Y17, Y7, Y20
	VPDPBUSD Y12, Y20, Y3
	VGF2P8AFFINEQB $0, Y18, Y4, Y21
	VPDPBUSD Y13, Y21, Y0
	VGF2P8AFFINEQB $0, Y18, Y5, Y22
	VPDPBUSD Y13, Y22, Y1
	VGF2P8AFFINEQB $0, Y18, Y6, Y23
	VPDPBUSD Y13, Y23, Y2
	VGF2P8AFFINEQB $0, Y18, Y7, Y24
	VPDPBUSD Y13, Y24, Y3
	VMOVDQU 32(SI), Y4
	VMOVDQU 98(SI), Y5
	VMOVDQU 164(SI), Y6
	VMOVDQU 230(SI), Y7
	VPANDD Y15, Y4, Y8
	VPDPBUSD Y25, Y8, Y29
	VPANDD Y15, Y5, Y9
	VPDPBUSD Y25, Y9, Y30
	VPANDD Y15, Y6, Y19
	VPDPBUSD Y25, Y19, Y31
	VPANDD Y15, Y7, Y20
	VPDPBUSD Y25, Y20, Y14
	VGF2P8AFFINEQB $0, Y16, Y4, Y21
	VPDPBUSD Y26, Y21, Y29
	VGF2P8AFFINEQB $0, Y16, Y5, Y22
	VPDPBUSD Y26, Y22, Y30
	VGF2P8AFFINEQB $0, Y16, Y6, Y23
	VPDPBUSD Y26, Y23, Y31
	VGF2P8AFFINEQB $0, Y16, Y7, Y24
	VPDPBUSD Y26, Y24, Y14
	VGF2P8AFFINEQB $0, Y17, Y4, Y8
	VPDPBUSD Y27, Y8, Y29
	VGF2P8AFFINEQB $0, Y17, Y5, Y9
	VPDPBUSD Y27, Y9, Y30
	VGF2P8AFFINEQB $0, Y17, Y6, Y19
	VPDPBUSD Y27, Y19, Y31
	VGF2P8AFFINEQB $0, Y17, Y7, Y20
	VPDPBUSD Y27, Y20, Y14
	VGF2P8AFFINEQB $0, Y18, Y4, Y21
	VPDPBUSD Y28, Y21, Y29
	VGF2P8AFFINEQB $0, Y18, Y5, Y22
	VPDPBUSD Y28, Y22, Y30
	VGF2P8AFFINEQB $0, Y18, Y6, Y23
	VPDPBUSD Y28, Y23, Y31
	VGF2P8AFFINEQB $0, Y18, Y7, Y24
	VPDPBUSD Y28, Y24, Y14
	VPADDD Y29, Y0, Y0
	VPADDD Y30, Y1, Y1
	VPADDD Y31, Y2, Y2
	VPADDD Y14, Y3, Y3
	VPHADDD Y1, Y0, Y0
	VPHADDD Y3, Y2, Y2
	VPHADDD Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ $16, DI
	ADDQ $264, SI
	SUBQ $4, R8
	JNZ  f4
	VZEROUPPER
	RET

// The Q8_0 / Q4_0 head kernels (QHead, head.go): whole sixteen-row groups,
// the sixteen rows in the sixteen dword lanes. Per block b, k[b] = −o·Σ q
// (QHead.Acts) starts one of two accumulators; each weight vector t (at
// dword lane j, row j's elements 4t..4t+3 as w + o) meets the token's
// activations 4t..4t+3 broadcast ({1to16}) in one VPDPBUSD, so the two
// accumulators added hold the sixteen rows' exact block sums I_b. Then
// f += float32(float32(I_b)·d_b) (VCVTDQ2PS, VMULPS by the sixteen fp16
// scales converted by VCVTPH2PS, VADDPS), and after the last block one
// VDIVPS by s and a store of sixteen outputs. Blocks come in pairs, the
// pair's weights then its scales (one stream); an odd last block alone.

// The GF(2) affine matrix of VGF2P8AFFINEQB that moves bits 4..7 of every
// byte to bits 0..3 and clears bits 4..7.
DATA hinib<>+0(SB)/8, $0x1020408000000000
GLOBL hinib<>(SB), RODATA|NOPTR, $8

// Q8BLK adds block f += float32(float32(I)·d) to Z28 for the block whose
// weights are at w(SI), its scales at d(SI), its activations at qo(R9) and
// its offset at ko(R11).
#define Q8BLK(w, d, qo, ko) \
	VPBROADCASTD ko(R11), Z0       \
	VPXORD    Z1, Z1, Z1           \
	VMOVDQU64 w(SI), Z2            \
	VMOVDQU64 w+64(SI), Z3         \
	VMOVDQU64 w+128(SI), Z4        \
	VMOVDQU64 w+192(SI), Z5        \
	VMOVDQU64 w+256(SI), Z6        \
	VMOVDQU64 w+320(SI), Z7        \
	VMOVDQU64 w+384(SI), Z8        \
	VMOVDQU64 w+448(SI), Z9        \
	VPDPBUSD.BCST qo(R9), Z2, Z0    \
	VPDPBUSD.BCST qo+4(R9), Z3, Z1  \
	VPDPBUSD.BCST qo+8(R9), Z4, Z0  \
	VPDPBUSD.BCST qo+12(R9), Z5, Z1 \
	VPDPBUSD.BCST qo+16(R9), Z6, Z0 \
	VPDPBUSD.BCST qo+20(R9), Z7, Z1 \
	VPDPBUSD.BCST qo+24(R9), Z8, Z0 \
	VPDPBUSD.BCST qo+28(R9), Z9, Z1 \
	VPADDD    Z1, Z0, Z0           \
	VCVTDQ2PS Z0, Z0               \
	VCVTPH2PS d(SI), Z10           \
	VMULPS    Z10, Z0, Z0          \
	VADDPS    Z0, Z28, Z28

// func q8HeadVNNI(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)
// Per group: nb/2 pairs of blocks (1024 weight bytes, then 64 bytes of
// fp16 scales), then for odd nb the last block (512 + 32 bytes).
TEXT ·q8HeadVNNI(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ k+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVQ groups+40(FP), R8
	VBROADCASTSS s+48(FP), Z31

q8grp:
	VXORPS Z28, Z28, Z28           // f of the sixteen rows
	MOVQ DX, R9
	MOVQ BX, R11
	MOVQ CX, R12
	SHRQ $1, R12
	JZ   q8odd

q8pair:
	Q8BLK(0, 1024, 0, 0)
	Q8BLK(512, 1056, 32, 4)
	ADDQ $1088, SI
	ADDQ $64, R9
	ADDQ $8, R11
	DECQ R12
	JNZ  q8pair

q8odd:
	TESTQ $1, CX
	JZ    q8end
	Q8BLK(0, 512, 0, 0)
	ADDQ  $544, SI

q8end:
	VDIVPS  Z31, Z28, Z28
	VMOVUPS Z28, (DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q8grp
	VZEROUPPER
	RET

// Q4BLK is Q8BLK for the Q4_0 layout: 256 bytes of nibbles at w(SI), whose
// low nibbles are the vectors t = 0..3 and high nibbles t = 4..7 (Z30 the
// low nibble mask, Z29 the high nibble's affine matrix).
#define Q4BLK(w, d, qo, ko) \
	VPBROADCASTD ko(R11), Z0       \
	VPXORD    Z1, Z1, Z1           \
	VMOVDQU64 w(SI), Z2            \
	VMOVDQU64 w+64(SI), Z3         \
	VMOVDQU64 w+128(SI), Z4        \
	VMOVDQU64 w+192(SI), Z5        \
	VGF2P8AFFINEQB $0, Z29, Z2, Z6 \
	VGF2P8AFFINEQB $0, Z29, Z3, Z7 \
	VGF2P8AFFINEQB $0, Z29, Z4, Z8 \
	VGF2P8AFFINEQB $0, Z29, Z5, Z9 \
	VPANDD    Z30, Z2, Z2          \
	VPANDD    Z30, Z3, Z3          \
	VPANDD    Z30, Z4, Z4          \
	VPANDD    Z30, Z5, Z5          \
	VPDPBUSD.BCST qo(R9), Z2, Z0    \
	VPDPBUSD.BCST qo+4(R9), Z3, Z1  \
	VPDPBUSD.BCST qo+8(R9), Z4, Z0  \
	VPDPBUSD.BCST qo+12(R9), Z5, Z1 \
	VPDPBUSD.BCST qo+16(R9), Z6, Z0 \
	VPDPBUSD.BCST qo+20(R9), Z7, Z1 \
	VPDPBUSD.BCST qo+24(R9), Z8, Z0 \
	VPDPBUSD.BCST qo+28(R9), Z9, Z1 \
	VPADDD    Z1, Z0, Z0           \
	VCVTDQ2PS Z0, Z0               \
	VCVTPH2PS d(SI), Z10           \
	VMULPS    Z10, Z0, Z0          \
	VADDPS    Z0, Z28, Z28

// func q4HeadVNNI(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)
// q8HeadVNNI for the Q4_0 layout: pairs of blocks of 512 nibble bytes and
// 64 bytes of scales, an odd last block of 256 + 32 (offsets −8·Σ q in k).
TEXT ·q4HeadVNNI(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ k+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVQ groups+40(FP), R8
	VBROADCASTSS s+48(FP), Z31
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z30           // the low nibble mask
	VPBROADCASTQ hinib<>(SB), Z29  // the high nibble's affine matrix

q4grp:
	VXORPS Z28, Z28, Z28
	MOVQ DX, R9
	MOVQ BX, R11
	MOVQ CX, R12
	SHRQ $1, R12
	JZ   q4odd

q4pair:
	Q4BLK(0, 512, 0, 0)
	Q4BLK(256, 544, 32, 4)
	ADDQ $576, SI
	ADDQ $64, R9
	ADDQ $8, R11
	DECQ R12
	JNZ  q4pair

q4odd:
	TESTQ $1, CX
	JZ    q4end
	Q4BLK(0, 256, 0, 0)
	ADDQ  $288, SI

q4end:
	VDIVPS  Z31, Z28, Z28
	VMOVUPS Z28, (DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q4grp
	VZEROUPPER
	RET

// The AVX2 head kernels: the VNNI kernels' layout, each 64-byte vector as
// two ymm halves (rows 0..7, rows 8..15). VPMADDUBSW takes 4-bit unsigned
// operands only, so that no pair of products can saturate (|15·q + 15·q'|
// ≤ 3840) and eight of them add exactly in int16 (≤ 30720): Q4_0 nibbles
// as they are, Q8_0 bytes w + 128 as their two nibbles, Σ (w+128)·q =
// 16·Σ hi·q + Σ lo·q (VPMADDWD by 16 and by 1). The int32 lanes get the
// block's −o·Σ q, then f += float32(float32(I_b)·d_b) as in the VNNI
// kernels.

DATA c0f<>+0(SB)/4, $0x0f0f0f0f
GLOBL c0f<>(SB), RODATA|NOPTR, $4
DATA w16<>+0(SB)/4, $0x00100010
GLOBL w16<>(SB), RODATA|NOPTR, $4

// Q8AT adds vector t's products of one half (weights at w(SI), the four
// activations at qa(R9)): low nibbles into Y2, high nibbles into Y3.
#define Q8AT(w, qa) \
	VMOVDQU      w(SI), Y0   \
	VPSRLW       $4, Y0, Y1  \
	VPAND        Y15, Y0, Y0 \
	VPAND        Y15, Y1, Y1 \
	VPBROADCASTD qa(R9), Y10 \
	VPMADDUBSW   Y10, Y0, Y0 \
	VPMADDUBSW   Y10, Y1, Y1 \
	VPADDW       Y0, Y2, Y2  \
	VPADDW       Y1, Y3, Y3

// Q8HALF: I = Y2·1 + Y3·16 + k (offset at ko(R11)), then F += I·d for the
// eight fp16 scales at d(SI).
#define Q8HALF(ko, d, F) \
	VPMADDWD     Y14, Y2, Y2 \
	VPMADDWD     Y13, Y3, Y3 \
	VPADDD       Y3, Y2, Y2  \
	VPBROADCASTD ko(R11), Y4 \
	VPADDD       Y4, Y2, Y2  \
	VCVTDQ2PS    Y2, Y2      \
	VCVTPH2PS    d(SI), Y4   \
	VMULPS       Y4, Y2, Y2  \
	VADDPS       Y2, F, F

// Q4AT adds the products of one half of nibble vector u (bytes at w(SI);
// low nibbles meet the activations at ql(R9), high ones those at qh(R9))
// into Y2.
#define Q4AT(w, ql, qh) \
	VMOVDQU      w(SI), Y0   \
	VPSRLW       $4, Y0, Y1  \
	VPAND        Y15, Y0, Y0 \
	VPAND        Y15, Y1, Y1 \
	VPBROADCASTD ql(R9), Y10 \
	VPBROADCASTD qh(R9), Y5  \
	VPMADDUBSW   Y10, Y0, Y0 \
	VPMADDUBSW   Y5, Y1, Y1  \
	VPADDW       Y0, Y2, Y2  \
	VPADDW       Y1, Y2, Y2

#define Q4HALF(ko, d, F) \
	VPMADDWD     Y14, Y2, Y2 \
	VPBROADCASTD ko(R11), Y4 \
	VPADDD       Y4, Y2, Y2  \
	VCVTDQ2PS    Y2, Y2      \
	VCVTPH2PS    d(SI), Y4   \
	VMULPS       Y4, Y2, Y2  \
	VADDPS       Y2, F, F

// func q8HeadAVX2(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)
TEXT ·q8HeadAVX2(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ k+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVQ groups+40(FP), R8
	VPBROADCASTD c0f<>(SB), Y15
	VPBROADCASTD ones16<>(SB), Y14
	VPBROADCASTD w16<>(SB), Y13

q8agrp:
	VXORPS Y12, Y12, Y12           // f of rows 0..7
	VXORPS Y11, Y11, Y11           // f of rows 8..15
	MOVQ DX, R9
	MOVQ BX, R11
	MOVQ CX, R12
	SHRQ $1, R12
	JZ   q8aodd

q8apair:
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(0, 0)
	Q8AT(64, 4)
	Q8AT(128, 8)
	Q8AT(192, 12)
	Q8AT(256, 16)
	Q8AT(320, 20)
	Q8AT(384, 24)
	Q8AT(448, 28)
	Q8HALF(0, 1024, Y12)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(32, 0)
	Q8AT(96, 4)
	Q8AT(160, 8)
	Q8AT(224, 12)
	Q8AT(288, 16)
	Q8AT(352, 20)
	Q8AT(416, 24)
	Q8AT(480, 28)
	Q8HALF(0, 1040, Y11)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(512, 32)
	Q8AT(576, 36)
	Q8AT(640, 40)
	Q8AT(704, 44)
	Q8AT(768, 48)
	Q8AT(832, 52)
	Q8AT(896, 56)
	Q8AT(960, 60)
	Q8HALF(4, 1056, Y12)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(544, 32)
	Q8AT(608, 36)
	Q8AT(672, 40)
	Q8AT(736, 44)
	Q8AT(800, 48)
	Q8AT(864, 52)
	Q8AT(928, 56)
	Q8AT(992, 60)
	Q8HALF(4, 1072, Y11)
	ADDQ $1088, SI
	ADDQ $64, R9
	ADDQ $8, R11
	DECQ R12
	JNZ  q8apair

q8aodd:
	TESTQ $1, CX
	JZ    q8aend
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(0, 0)
	Q8AT(64, 4)
	Q8AT(128, 8)
	Q8AT(192, 12)
	Q8AT(256, 16)
	Q8AT(320, 20)
	Q8AT(384, 24)
	Q8AT(448, 28)
	Q8HALF(0, 512, Y12)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q8AT(32, 0)
	Q8AT(96, 4)
	Q8AT(160, 8)
	Q8AT(224, 12)
	Q8AT(288, 16)
	Q8AT(352, 20)
	Q8AT(416, 24)
	Q8AT(480, 28)
	Q8HALF(0, 528, Y11)
	ADDQ  $544, SI

q8aend:
	VBROADCASTSS s+48(FP), Y4
	VDIVPS  Y4, Y12, Y12
	VDIVPS  Y4, Y11, Y11
	VMOVUPS Y12, (DI)
	VMOVUPS Y11, 32(DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q8agrp
	VZEROUPPER
	RET


// func q4HeadAVX2(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)
TEXT ·q4HeadAVX2(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ grp+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ k+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVQ groups+40(FP), R8
	VPBROADCASTD c0f<>(SB), Y15
	VPBROADCASTD ones16<>(SB), Y14
	VPBROADCASTD w16<>(SB), Y13

q4agrp:
	VXORPS Y12, Y12, Y12           // f of rows 0..7
	VXORPS Y11, Y11, Y11           // f of rows 8..15
	MOVQ DX, R9
	MOVQ BX, R11
	MOVQ CX, R12
	SHRQ $1, R12
	JZ   q4aodd

q4apair:
	VPXOR Y2, Y2, Y2
	Q4AT(0, 0, 16)
	Q4AT(64, 4, 20)
	Q4AT(128, 8, 24)
	Q4AT(192, 12, 28)
	Q4HALF(0, 512, Y12)
	VPXOR Y2, Y2, Y2
	Q4AT(32, 0, 16)
	Q4AT(96, 4, 20)
	Q4AT(160, 8, 24)
	Q4AT(224, 12, 28)
	Q4HALF(0, 528, Y11)
	VPXOR Y2, Y2, Y2
	Q4AT(256, 32, 48)
	Q4AT(320, 36, 52)
	Q4AT(384, 40, 56)
	Q4AT(448, 44, 60)
	Q4HALF(4, 544, Y12)
	VPXOR Y2, Y2, Y2
	Q4AT(288, 32, 48)
	Q4AT(352, 36, 52)
	Q4AT(416, 40, 56)
	Q4AT(480, 44, 60)
	Q4HALF(4, 560, Y11)
	ADDQ $576, SI
	ADDQ $64, R9
	ADDQ $8, R11
	DECQ R12
	JNZ  q4apair

q4aodd:
	TESTQ $1, CX
	JZ    q4aend
	VPXOR Y2, Y2, Y2
	Q4AT(0, 0, 16)
	Q4AT(64, 4, 20)
	Q4AT(128, 8, 24)
	Q4AT(192, 12, 28)
	Q4HALF(0, 256, Y12)
	VPXOR Y2, Y2, Y2
	Q4AT(32, 0, 16)
	Q4AT(96, 4, 20)
	Q4AT(160, 8, 24)
	Q4AT(224, 12, 28)
	Q4HALF(0, 272, Y11)
	ADDQ  $288, SI

q4aend:
	VBROADCASTSS s+48(FP), Y4
	VDIVPS  Y4, Y12, Y12
	VDIVPS  Y4, Y11, Y11
	VMOVUPS Y12, (DI)
	VMOVUPS Y11, 32(DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q4agrp
	VZEROUPPER
	RET


// func readAVX512(p *byte, n int) uint64
// The XOR of the n bytes (a multiple of 512) as 64-bit words: eight
// independent zmm chains of 64-byte loads, folded at the end.
TEXT ·readAVX512(SB), NOSPLIT, $0-24
	MOVQ   p+0(FP), SI
	MOVQ   n+8(FP), CX
	SHRQ   $9, CX
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7
	TESTQ  CX, CX
	JZ     rd512fold

rd512loop:
	VPXORQ (SI), Z0, Z0
	VPXORQ 64(SI), Z1, Z1
	VPXORQ 128(SI), Z2, Z2
	VPXORQ 192(SI), Z3, Z3
	VPXORQ 256(SI), Z4, Z4
	VPXORQ 320(SI), Z5, Z5
	VPXORQ 384(SI), Z6, Z6
	VPXORQ 448(SI), Z7, Z7
	ADDQ   $512, SI
	DECQ   CX
	JNZ    rd512loop

rd512fold:
	VPXORQ        Z1, Z0, Z0
	VPXORQ        Z3, Z2, Z2
	VPXORQ        Z5, Z4, Z4
	VPXORQ        Z7, Z6, Z6
	VPXORQ        Z2, Z0, Z0
	VPXORQ        Z6, Z4, Z4
	VPXORQ        Z4, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPXOR         Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPXOR         X1, X0, X0
	VPSHUFD       $0x4E, X0, X1
	VPXOR         X1, X0, X0
	MOVQ          X0, AX
	MOVQ          AX, ret+16(FP)
	VZEROUPPER
	RET

// func readAVX2(p *byte, n int) uint64
// readAVX512 with eight ymm chains of 32-byte loads (256 bytes a round,
// n a multiple of 512).
TEXT ·readAVX2(SB), NOSPLIT, $0-24
	MOVQ  p+0(FP), SI
	MOVQ  n+8(FP), CX
	SHRQ  $8, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ    rd256fold

rd256loop:
	VPXOR (SI), Y0, Y0
	VPXOR 32(SI), Y1, Y1
	VPXOR 64(SI), Y2, Y2
	VPXOR 96(SI), Y3, Y3
	VPXOR 128(SI), Y4, Y4
	VPXOR 160(SI), Y5, Y5
	VPXOR 192(SI), Y6, Y6
	VPXOR 224(SI), Y7, Y7
	ADDQ  $256, SI
	DECQ  CX
	JNZ   rd256loop

rd256fold:
	VPXOR        Y1, Y0, Y0
	VPXOR        Y3, Y2, Y2
	VPXOR        Y5, Y4, Y4
	VPXOR        Y7, Y6, Y6
	VPXOR        Y2, Y0, Y0
	VPXOR        Y6, Y4, Y4
	VPXOR        Y4, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPXOR        X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPXOR        X1, X0, X0
	MOVQ         X0, AX
	MOVQ         AX, ret+16(FP)
	VZEROUPPER
	RET

// Plane masks of tq2Rows4MaskVNNI beside c03: bits 2l and 2l+1 of every
// byte.
DATA m0c<>+0(SB)/4, $0x0c0c0c0c
GLOBL m0c<>(SB), RODATA|NOPTR, $4
DATA m30<>+0(SB)/4, $0x30303030
GLOBL m30<>(SB), RODATA|NOPTR, $4
DATA mc0<>+0(SB)/4, $0xc0c0c0c0
GLOBL mc0<>(SB), RODATA|NOPTR, $4

// func tq2Rows4MaskVNNI(out *int32, w *byte, q *int8, nb, rows int)
// TQ2_0 rows four at a time (rows a multiple of 4), in 64-byte vectors: a
// block's 64 code bytes in one load, whose code plane l (bits 2l, 2l+1 of
// every byte) is taken in place, (b AND 3·4^l) = 4^l·c, by one VPANDD
// instead of being shifted down. Plane l of the block's two 32-byte halves
// holds elements 32l.. and 128+32l.., so its activations are one 64-byte
// vector built from those two 32-byte runs, once per block for the four
// rows. Its products go to the row's plane-l accumulator, whose lanes are
// exact multiples of 4^l and are shifted back (VPSRAD by 2l) before the
// planes are added. Integer sums: exact in any order, the same integers as
// tq2RowsVNNI.
TEXT ·tq2Rows4MaskVNNI(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD c03<>(SB), Z28
	VPBROADCASTD m0c<>(SB), Z29
	VPBROADCASTD m30<>(SB), Z30
	VPBROADCASTD mc0<>(SB), Z31
	MOVQ CX, BX
	IMULQ $66, BX

m4row:
	// Prefetch the four rows' bytes 8 KiB ahead (the packed weights lie in
	// the order a token reads them, so past a matrix's end this is what
	// comes next), keeping the memory stream ahead of the arithmetic.
	LEAQ 8192(SI), R11
	LEAQ (R11)(BX*4), R12

m4pf:
	PREFETCHT0 (R11)
	ADDQ $64, R11
	CMPQ R11, R12
	JB   m4pf
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ SI, R11
	LEAQ (SI)(BX*1), R12
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	MOVQ DX, R9
	MOVQ CX, R10

m4block:
	VMOVDQU32 0(R9), Y20
	VINSERTI64X4 $1, 128(R9), Z20, Z20
	VMOVDQU32 32(R9), Y21
	VINSERTI64X4 $1, 160(R9), Z21, Z21
	VMOVDQU32 64(R9), Y22
	VINSERTI64X4 $1, 192(R9), Z22, Z22
	VMOVDQU32 96(R9), Y23
	VINSERTI64X4 $1, 224(R9), Z23, Z23
	VMOVDQU64 (R11), Z18
	VPANDD Z28, Z18, Z16
	VPDPBUSD Z20, Z16, Z0
	VPANDD Z29, Z18, Z17
	VPDPBUSD Z21, Z17, Z1
	VPANDD Z30, Z18, Z16
	VPDPBUSD Z22, Z16, Z2
	VPANDD Z31, Z18, Z17
	VPDPBUSD Z23, Z17, Z3
	VMOVDQU64 (R12), Z18
	VPANDD Z28, Z18, Z16
	VPDPBUSD Z20, Z16, Z4
	VPANDD Z29, Z18, Z17
	VPDPBUSD Z21, Z17, Z5
	VPANDD Z30, Z18, Z16
	VPDPBUSD Z22, Z16, Z6
	VPANDD Z31, Z18, Z17
	VPDPBUSD Z23, Z17, Z7
	VMOVDQU64 (R13), Z18
	VPANDD Z28, Z18, Z16
	VPDPBUSD Z20, Z16, Z8
	VPANDD Z29, Z18, Z17
	VPDPBUSD Z21, Z17, Z9
	VPANDD Z30, Z18, Z16
	VPDPBUSD Z22, Z16, Z10
	VPANDD Z31, Z18, Z17
	VPDPBUSD Z23, Z17, Z11
	VMOVDQU64 (R14), Z18
	VPANDD Z28, Z18, Z16
	VPDPBUSD Z20, Z16, Z12
	VPANDD Z29, Z18, Z17
	VPDPBUSD Z21, Z17, Z13
	VPANDD Z30, Z18, Z16
	VPDPBUSD Z22, Z16, Z14
	VPANDD Z31, Z18, Z17
	VPDPBUSD Z23, Z17, Z15
	ADDQ $66, R11
	ADDQ $66, R12
	ADDQ $66, R13
	ADDQ $66, R14
	ADDQ $256, R9
	DECQ R10
	JNZ m4block

	VPSRAD $2, Z1, Z1
	VPSRAD $4, Z2, Z2
	VPSRAD $6, Z3, Z3
	VPADDD Z1, Z0, Z0
	VPADDD Z3, Z2, Z2
	VPADDD Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD Y1, Y0, Y0
	VPSRAD $2, Z5, Z5
	VPSRAD $4, Z6, Z6
	VPSRAD $6, Z7, Z7
	VPADDD Z5, Z4, Z4
	VPADDD Z7, Z6, Z6
	VPADDD Z6, Z4, Z4
	VEXTRACTI64X4 $1, Z4, Y5
	VPADDD Y5, Y4, Y4
	VPSRAD $2, Z9, Z9
	VPSRAD $4, Z10, Z10
	VPSRAD $6, Z11, Z11
	VPADDD Z9, Z8, Z8
	VPADDD Z11, Z10, Z10
	VPADDD Z10, Z8, Z8
	VEXTRACTI64X4 $1, Z8, Y9
	VPADDD Y9, Y8, Y8
	VPSRAD $2, Z13, Z13
	VPSRAD $4, Z14, Z14
	VPSRAD $6, Z15, Z15
	VPADDD Z13, Z12, Z12
	VPADDD Z15, Z14, Z14
	VPADDD Z14, Z12, Z12
	VEXTRACTI64X4 $1, Z12, Y13
	VPADDD Y13, Y12, Y12
	VPHADDD Y4, Y0, Y0
	VPHADDD Y12, Y8, Y8
	VPHADDD Y8, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ $16, DI
	LEAQ (SI)(BX*4), SI
	SUBQ $4, R8
	JNZ m4row
	VZEROUPPER
	RET

// func updateAVX512(p *byte, n int, k uint64)
// Adds k to every little-endian 64-bit word of the n bytes (a multiple of
// 512) in place: eight 64-byte loads, adds and stores a round.
TEXT ·updateAVX512(SB), NOSPLIT, $0-24
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VPBROADCASTQ k+16(FP), Z8
	SHRQ         $9, CX
	JZ           up512done

up512loop:
	VPADDQ    (SI), Z8, Z0
	VPADDQ    64(SI), Z8, Z1
	VPADDQ    128(SI), Z8, Z2
	VPADDQ    192(SI), Z8, Z3
	VPADDQ    256(SI), Z8, Z4
	VPADDQ    320(SI), Z8, Z5
	VPADDQ    384(SI), Z8, Z6
	VPADDQ    448(SI), Z8, Z7
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	VMOVDQU64 Z2, 128(SI)
	VMOVDQU64 Z3, 192(SI)
	VMOVDQU64 Z4, 256(SI)
	VMOVDQU64 Z5, 320(SI)
	VMOVDQU64 Z6, 384(SI)
	VMOVDQU64 Z7, 448(SI)
	ADDQ      $512, SI
	DECQ      CX
	JNZ       up512loop

up512done:
	VZEROUPPER
	RET

// func updateAVX2(p *byte, n int, k uint64)
// updateAVX512 with 32-byte loads, adds and stores (eight a round of 256
// bytes; n a multiple of 512).
TEXT ·updateAVX2(SB), NOSPLIT, $0-24
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VPBROADCASTQ k+16(FP), Y8
	SHRQ         $8, CX
	JZ           up256done

up256loop:
	VPADDQ  (SI), Y8, Y0
	VPADDQ  32(SI), Y8, Y1
	VPADDQ  64(SI), Y8, Y2
	VPADDQ  96(SI), Y8, Y3
	VPADDQ  128(SI), Y8, Y4
	VPADDQ  160(SI), Y8, Y5
	VPADDQ  192(SI), Y8, Y6
	VPADDQ  224(SI), Y8, Y7
	VMOVDQU Y0, (SI)
	VMOVDQU Y1, 32(SI)
	VMOVDQU Y2, 64(SI)
	VMOVDQU Y3, 96(SI)
	VMOVDQU Y4, 128(SI)
	VMOVDQU Y5, 160(SI)
	VMOVDQU Y6, 192(SI)
	VMOVDQU Y7, 224(SI)
	ADDQ    $256, SI
	DECQ    CX
	JNZ     up256loop

up256done:
	VZEROUPPER
	RET
