//go:build !purego

#include "textflag.h"

// Panel packing for the AVX2 kernel set (AVX masked moves; no AVX-512).
// Lane masks come from masktab: the 8 int32 at byte offset 4*(8-n) have
// their first n lanes set. Masked-off lanes are neither read nor written.
DATA masktab<>+0(SB)/4, $0xffffffff
DATA masktab<>+4(SB)/4, $0xffffffff
DATA masktab<>+8(SB)/4, $0xffffffff
DATA masktab<>+12(SB)/4, $0xffffffff
DATA masktab<>+16(SB)/4, $0xffffffff
DATA masktab<>+20(SB)/4, $0xffffffff
DATA masktab<>+24(SB)/4, $0xffffffff
DATA masktab<>+28(SB)/4, $0xffffffff
DATA masktab<>+32(SB)/4, $0
DATA masktab<>+36(SB)/4, $0
DATA masktab<>+40(SB)/4, $0
DATA masktab<>+44(SB)/4, $0
DATA masktab<>+48(SB)/4, $0
DATA masktab<>+52(SB)/4, $0
DATA masktab<>+56(SB)/4, $0
DATA masktab<>+60(SB)/4, $0
GLOBL masktab<>(SB), RODATA|NOPTR, $64

// func packRowsAVX2(dst, src *float32, lds, rows, width, panels, last int)
//
// As packRowsAVX512, for width ≤ 16: dst[q*rows*width + r*width + j] =
// src[r*lds + q*width + j]; the last panel reads only its first `last`
// lanes and stores +0 in the others.
TEXT ·packRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ width+32(FP), R9
	MOVQ panels+40(FP), R10
	MOVQ last+48(FP), R12
	LEAQ masktab<>+32(SB), R13
	// Y12/Y13: the width lanes of a panel's two halves; Y14/Y15: the last
	// panel's valid lanes.
	MOVQ R9, AX
	CMPQ AX, $8
	JLE rw1
	MOVQ $8, AX
rw1:
	SHLQ $2, AX
	MOVQ R13, BX
	SUBQ AX, BX
	VMOVDQU (BX), Y12
	MOVQ R9, AX
	SUBQ $8, AX
	JGE rw2
	XORQ AX, AX
rw2:
	SHLQ $2, AX
	MOVQ R13, BX
	SUBQ AX, BX
	VMOVDQU (BX), Y13
	MOVQ R12, AX
	CMPQ AX, $8
	JLE rl1
	MOVQ $8, AX
rl1:
	SHLQ $2, AX
	MOVQ R13, BX
	SUBQ AX, BX
	VMOVDQU (BX), Y14
	MOVQ R12, AX
	SUBQ $8, AX
	JGE rl2
	XORQ AX, AX
rl2:
	SHLQ $2, AX
	MOVQ R13, BX
	SUBQ AX, BX
	VMOVDQU (BX), Y15
	MOVQ rows+24(FP), CX
	SHLQ $2, R9
	MOVQ CX, R11
	IMULQ R9, R11
	TESTQ CX, CX
	JZ r2done
	DECQ R10
	// Widths 16 and 6 (the AVX2 set's nr and mr) store with plain moves:
	// VMASKMOVPS stores are microcoded and slow on some CPUs.
	MOVQ width+32(FP), AX
	CMPQ AX, $16
	JEQ r16loop
	CMPQ AX, $6
	JEQ r6loop
r2loop:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX
	TESTQ DX, DX
	JZ r2last
r2panel:
	VMASKMOVPS (AX), Y12, Y0
	VMASKMOVPS 32(AX), Y13, Y1
	VMASKMOVPS Y0, Y12, (BX)
	VMASKMOVPS Y1, Y13, 32(BX)
	ADDQ R9, AX
	ADDQ R11, BX
	DECQ DX
	JNZ r2panel
r2last:
	VMASKMOVPS (AX), Y14, Y0
	VMASKMOVPS 32(AX), Y15, Y1
	VMASKMOVPS Y0, Y12, (BX)
	VMASKMOVPS Y1, Y13, 32(BX)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ r2loop
	JMP r2done
r16loop:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX
	TESTQ DX, DX
	JZ r16last
r16panel:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ R9, AX
	ADDQ R11, BX
	DECQ DX
	JNZ r16panel
r16last:
	VMASKMOVPS (AX), Y14, Y0
	VMASKMOVPS 32(AX), Y15, Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ r16loop
	JMP r2done
r6loop:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX
	TESTQ DX, DX
	JZ r6last
r6panel:
	VMOVUPS (AX), X0
	VMOVQ 16(AX), X1
	VMOVUPS X0, (BX)
	VMOVQ X1, 16(BX)
	ADDQ R9, AX
	ADDQ R11, BX
	DECQ DX
	JNZ r6panel
r6last:
	VMASKMOVPS (AX), Y14, Y0
	VMOVUPS X0, (BX)
	VEXTRACTF128 $1, Y0, X1
	VMOVQ X1, 16(BX)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ r6loop
r2done:
	VZEROUPPER
	RET

// func packTransposeAVX2(dst, src *float32, lds, nrows, kc, dstw, slanes int)
//
// dst[p*dstw+j] = src[j*lds+p] for p < kc and j < nrows (≤ 8), +0 for
// nrows ≤ j < 8; only the first slanes lanes of each row are stored. Eight
// steps of K at a time: rows in Y0-Y7 (missing rows and steps past kc as
// zeros), an 8×8 in-register transpose (unpack, shuffle, 128-bit
// permute) into Y8-Y15, one masked store per step.
TEXT ·packTransposeAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ nrows+24(FP), BX
	MOVQ kc+32(FP), R14
	MOVQ dstw+40(FP), R12
	SHLQ $2, R12
	MOVQ slanes+48(FP), AX
	SHLQ $2, AX
	LEAQ masktab<>+32(SB), R13
	SUBQ AX, R13
	// R13: the store mask; DX: masktab+32, for the load masks.
	LEAQ masktab<>+32(SB), DX
	LEAQ (R8)(R8*2), R9
	LEAQ (R8)(R8*4), R10
	LEAQ (R9)(R8*4), R11
	TESTQ R14, R14
	JLE t2done
t2block:
	MOVQ R14, CX
	CMPQ CX, $8
	JLE t2count
	MOVQ $8, CX
t2count:
	MOVQ CX, AX
	SHLQ $2, AX
	NEGQ AX
	VMOVDQU (DX)(AX*1), Y15
	CMPQ BX, $0
	JLE t2zero0
	VMASKMOVPS (SI), Y15, Y0
	CMPQ BX, $1
	JLE t2zero1
	VMASKMOVPS (SI)(R8*1), Y15, Y1
	CMPQ BX, $2
	JLE t2zero2
	VMASKMOVPS (SI)(R8*2), Y15, Y2
	CMPQ BX, $3
	JLE t2zero3
	VMASKMOVPS (SI)(R9*1), Y15, Y3
	CMPQ BX, $4
	JLE t2zero4
	VMASKMOVPS (SI)(R8*4), Y15, Y4
	CMPQ BX, $5
	JLE t2zero5
	VMASKMOVPS (SI)(R10*1), Y15, Y5
	CMPQ BX, $6
	JLE t2zero6
	VMASKMOVPS (SI)(R9*2), Y15, Y6
	CMPQ BX, $7
	JLE t2zero7
	VMASKMOVPS (SI)(R11*1), Y15, Y7
	JMP t2shuffle
t2zero0:
	VXORPS Y0, Y0, Y0
t2zero1:
	VXORPS Y1, Y1, Y1
t2zero2:
	VXORPS Y2, Y2, Y2
t2zero3:
	VXORPS Y3, Y3, Y3
t2zero4:
	VXORPS Y4, Y4, Y4
t2zero5:
	VXORPS Y5, Y5, Y5
t2zero6:
	VXORPS Y6, Y6, Y6
t2zero7:
	VXORPS Y7, Y7, Y7
t2shuffle:
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y7, Y3, Y15
	// Eight or six stored lanes (the AVX2 set's panels) use plain moves:
	// VMASKMOVPS stores are microcoded and slow on some CPUs.
	MOVQ slanes+48(FP), AX
	CMPQ AX, $8
	JEQ t2store8
	CMPQ AX, $6
	JEQ t2store6
	VMOVDQU (R13), Y0
	VMASKMOVPS Y8, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $1
	JLE t2next
	VMASKMOVPS Y9, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $2
	JLE t2next
	VMASKMOVPS Y10, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $3
	JLE t2next
	VMASKMOVPS Y11, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $4
	JLE t2next
	VMASKMOVPS Y12, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $5
	JLE t2next
	VMASKMOVPS Y13, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $6
	JLE t2next
	VMASKMOVPS Y14, Y0, (DI)
	ADDQ R12, DI
	CMPQ CX, $7
	JLE t2next
	VMASKMOVPS Y15, Y0, (DI)
	ADDQ R12, DI
	JMP t2next
t2store8:
	VMOVUPS Y8, (DI)
	ADDQ R12, DI
	CMPQ CX, $1
	JLE t2next
	VMOVUPS Y9, (DI)
	ADDQ R12, DI
	CMPQ CX, $2
	JLE t2next
	VMOVUPS Y10, (DI)
	ADDQ R12, DI
	CMPQ CX, $3
	JLE t2next
	VMOVUPS Y11, (DI)
	ADDQ R12, DI
	CMPQ CX, $4
	JLE t2next
	VMOVUPS Y12, (DI)
	ADDQ R12, DI
	CMPQ CX, $5
	JLE t2next
	VMOVUPS Y13, (DI)
	ADDQ R12, DI
	CMPQ CX, $6
	JLE t2next
	VMOVUPS Y14, (DI)
	ADDQ R12, DI
	CMPQ CX, $7
	JLE t2next
	VMOVUPS Y15, (DI)
	ADDQ R12, DI
	JMP t2next
t2store6:
	VMOVUPS X8, (DI)
	VEXTRACTF128 $1, Y8, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $1
	JLE t2next
	VMOVUPS X9, (DI)
	VEXTRACTF128 $1, Y9, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $2
	JLE t2next
	VMOVUPS X10, (DI)
	VEXTRACTF128 $1, Y10, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $3
	JLE t2next
	VMOVUPS X11, (DI)
	VEXTRACTF128 $1, Y11, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $4
	JLE t2next
	VMOVUPS X12, (DI)
	VEXTRACTF128 $1, Y12, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $5
	JLE t2next
	VMOVUPS X13, (DI)
	VEXTRACTF128 $1, Y13, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $6
	JLE t2next
	VMOVUPS X14, (DI)
	VEXTRACTF128 $1, Y14, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
	CMPQ CX, $7
	JLE t2next
	VMOVUPS X15, (DI)
	VEXTRACTF128 $1, Y15, X0
	VMOVQ X0, 16(DI)
	ADDQ R12, DI
t2next:
	ADDQ $32, SI
	SUBQ $8, R14
	JG t2block
t2done:
	VZEROUPPER
	RET
