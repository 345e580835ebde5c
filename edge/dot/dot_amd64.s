//go:build !purego

#include "textflag.h"

// Byte and word constants, broadcast into registers.
DATA c03<>+0(SB)/4, $0x03030303
GLOBL c03<>(SB), RODATA|NOPTR, $4
DATA c0f<>+0(SB)/4, $0x0f0f0f0f
GLOBL c0f<>(SB), RODATA|NOPTR, $4
DATA c08<>+0(SB)/4, $0x08080808
GLOBL c08<>(SB), RODATA|NOPTR, $4
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

// func tq2RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)
// VPMADDUBSW gives int16 pair sums (at most 2·2·128 in magnitude); the eight
// of a block are added in int16 (at most 4096) and widened by VPMADDWD.
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

// Head rows. Per block: the fp16 scale broadcast and converted (F16C), the
// 32 weights w, |w| as the unsigned operand and q·sign(w) as the signed one
// (VPSIGNB; q ≠ −128), eight int32 lane sums of four products, converted to
// float32 (exact), multiplied by the scale and added to eight float32 lanes.
// The lanes are reduced as ((f0+f4)+(f2+f6)) + ((f1+f5)+(f3+f7)).

#define REDUCE_STORE \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VMOVHLPS X0, X0, X1 \
	VADDPS X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VADDSS X1, X0, X0 \
	VMOVSS X0, (DI) \
	ADDQ $4, DI

// func q8RowsVNNI(out *float32, w *byte, q *int8, nb, rows int)
TEXT ·q8RowsVNNI(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8

q8vrow:
	VXORPS Y0, Y0, Y0
	MOVQ DX, R9
	MOVQ CX, R10

q8vblock:
	VPBROADCASTW (SI), X5
	VCVTPH2PS X5, Y5
	VMOVDQU 2(SI), Y1
	VMOVDQU (R9), Y3
	VPABSB Y1, Y2
	VPSIGNB Y1, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPDPBUSD Y3, Y2, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS Y5, Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $34, SI
	ADDQ $32, R9
	DECQ R10
	JNZ q8vblock

	REDUCE_STORE
	DECQ R8
	JNZ q8vrow
	VZEROUPPER
	RET

// func q8RowsAVX2(out *float32, w *byte, q *int8, nb, rows int)
TEXT ·q8RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD ones16<>(SB), Y14

q8arow:
	VXORPS Y0, Y0, Y0
	MOVQ DX, R9
	MOVQ CX, R10

q8ablock:
	VPBROADCASTW (SI), X5
	VCVTPH2PS X5, Y5
	VMOVDQU 2(SI), Y1
	VMOVDQU (R9), Y3
	VPABSB Y1, Y2
	VPSIGNB Y1, Y3, Y3
	VPMADDUBSW Y3, Y2, Y4
	VPMADDWD Y14, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS Y5, Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $34, SI
	ADDQ $32, R9
	DECQ R10
	JNZ q8ablock

	REDUCE_STORE
	DECQ R8
	JNZ q8arow
	VZEROUPPER
	RET

// Q4_0: 18-byte blocks, the fp16 scale then 16 bytes; element j < 16 is the
// low nibble of byte j, element 16+j the high nibble, each minus 8.
#define Q4_UNPACK \
	VMOVDQU 2(SI), X1 \
	VPSRLW $4, X1, X2 \
	VINSERTI128 $1, X2, Y1, Y1 \
	VPAND Y13, Y1, Y1 \
	VPSUBB Y12, Y1, Y1

// func q4RowsVNNI(out *float32, w *byte, q *int8, nb, rows int)
TEXT ·q4RowsVNNI(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD c0f<>(SB), Y13
	VPBROADCASTD c08<>(SB), Y12

q4vrow:
	VXORPS Y0, Y0, Y0
	MOVQ DX, R9
	MOVQ CX, R10

q4vblock:
	VPBROADCASTW (SI), X5
	VCVTPH2PS X5, Y5
	Q4_UNPACK
	VMOVDQU (R9), Y3
	VPABSB Y1, Y2
	VPSIGNB Y1, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPDPBUSD Y3, Y2, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS Y5, Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $18, SI
	ADDQ $32, R9
	DECQ R10
	JNZ q4vblock

	REDUCE_STORE
	DECQ R8
	JNZ q4vrow
	VZEROUPPER
	RET

// func q4RowsAVX2(out *float32, w *byte, q *int8, nb, rows int)
TEXT ·q4RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ rows+32(FP), R8
	VPBROADCASTD c0f<>(SB), Y13
	VPBROADCASTD c08<>(SB), Y12
	VPBROADCASTD ones16<>(SB), Y14

q4arow:
	VXORPS Y0, Y0, Y0
	MOVQ DX, R9
	MOVQ CX, R10

q4ablock:
	VPBROADCASTW (SI), X5
	VCVTPH2PS X5, Y5
	Q4_UNPACK
	VMOVDQU (R9), Y3
	VPABSB Y1, Y2
	VPSIGNB Y1, Y3, Y3
	VPMADDUBSW Y3, Y2, Y4
	VPMADDWD Y14, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS Y5, Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $18, SI
	ADDQ $32, R9
	DECQ R10
	JNZ q4ablock

	REDUCE_STORE
	DECQ R8
	JNZ q4arow
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

DATA c80<>+0(SB)/4, $0x80808080
GLOBL c80<>(SB), RODATA|NOPTR, $4

// func q8RowsDivVNNI(out *float32, w *byte, d *float32, qu *uint8, nb, rows int, s float32)
// q8RowsVNNI with the activations offset to unsigned bytes, qu = q + 128,
// so that VPDPBUSD takes the weights straight from memory as its signed
// operand: Σ qu·w − Σ 128·w = Σ q·w exactly in int32. The block scales
// come as float32 (exact conversions of the fp16 scales) and are broadcast
// from memory; the reduced row is divided by s (VDIVSS).
TEXT ·q8RowsDivVNNI(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ d+16(FP), R11
	MOVQ qu+24(FP), DX
	MOVQ nb+32(FP), CX
	MOVQ rows+40(FP), R8
	VBROADCASTSS s+48(FP), X14
	VPBROADCASTD c80<>(SB), Y15

dvrow:
	VXORPS Y0, Y0, Y0
	MOVQ DX, R9
	MOVQ CX, R10

dvblock:
	VMOVDQU (R9), Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPDPBUSD 2(SI), Y3, Y4
	VPDPBUSD 2(SI), Y15, Y5
	VPSUBD Y5, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS.BCST (R11), Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $34, SI
	ADDQ $32, R9
	ADDQ $4, R11
	DECQ R10
	JNZ dvblock

	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VDIVSS X14, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ dvrow
	VZEROUPPER
	RET
