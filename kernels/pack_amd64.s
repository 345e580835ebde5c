//go:build !purego

#include "textflag.h"

// Panel packing for the AVX-512 kernel set. The routines write rows of
// packed panels; lanes past the matrix edge are stored as +0 (padding) and
// masked-off lanes are never read, so a panel edge never touches memory
// past its matrix. Packing moves values; it does no arithmetic.

// func packTransposeAVX512(dst, src *float32, lds, nrows, kc, dstw int, smask uint32)
//
// dst[p*dstw+j] = src[j*lds+p] for p < kc and j < nrows (≤ 16), and +0
// for nrows ≤ j < 16; only the lanes in smask are stored. Sixteen steps of
// K at a time, the rows are loaded into Z0-Z15 (missing rows and steps past
// kc as zeros) and transposed in registers (unpack, then two 128-bit lane
// shuffles), so that Zi holds step p+i of all sixteen lanes.
TEXT ·packTransposeAVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ nrows+24(FP), BX
	MOVQ kc+32(FP), R14
	MOVQ dstw+40(FP), R12
	SHLQ $2, R12
	MOVL smask+48(FP), AX
	KMOVW AX, K3
	LEAQ (R8)(R8*2), R9
	LEAQ (R8)(R8*4), R10
	LEAQ (R9)(R8*4), R11
	LEAQ (SI)(R8*8), DX
	TESTQ R14, R14
	JLE trdone
trblock:
	MOVQ R14, CX
	CMPQ CX, $16
	JLE trcount
	MOVQ $16, CX
trcount:
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	CMPQ BX, $0
	JLE trzero0
	VMOVUPS.Z (SI), K1, Z0
	CMPQ BX, $1
	JLE trzero1
	VMOVUPS.Z (SI)(R8*1), K1, Z1
	CMPQ BX, $2
	JLE trzero2
	VMOVUPS.Z (SI)(R8*2), K1, Z2
	CMPQ BX, $3
	JLE trzero3
	VMOVUPS.Z (SI)(R9*1), K1, Z3
	CMPQ BX, $4
	JLE trzero4
	VMOVUPS.Z (SI)(R8*4), K1, Z4
	CMPQ BX, $5
	JLE trzero5
	VMOVUPS.Z (SI)(R10*1), K1, Z5
	CMPQ BX, $6
	JLE trzero6
	VMOVUPS.Z (SI)(R9*2), K1, Z6
	CMPQ BX, $7
	JLE trzero7
	VMOVUPS.Z (SI)(R11*1), K1, Z7
	CMPQ BX, $8
	JLE trzero8
	VMOVUPS.Z (DX), K1, Z8
	CMPQ BX, $9
	JLE trzero9
	VMOVUPS.Z (DX)(R8*1), K1, Z9
	CMPQ BX, $10
	JLE trzero10
	VMOVUPS.Z (DX)(R8*2), K1, Z10
	CMPQ BX, $11
	JLE trzero11
	VMOVUPS.Z (DX)(R9*1), K1, Z11
	CMPQ BX, $12
	JLE trzero12
	VMOVUPS.Z (DX)(R8*4), K1, Z12
	CMPQ BX, $13
	JLE trzero13
	VMOVUPS.Z (DX)(R10*1), K1, Z13
	CMPQ BX, $14
	JLE trzero14
	VMOVUPS.Z (DX)(R9*2), K1, Z14
	CMPQ BX, $15
	JLE trzero15
	VMOVUPS.Z (DX)(R11*1), K1, Z15
	JMP trshuffle
trzero0:
	VPXORD Z0, Z0, Z0
trzero1:
	VPXORD Z1, Z1, Z1
trzero2:
	VPXORD Z2, Z2, Z2
trzero3:
	VPXORD Z3, Z3, Z3
trzero4:
	VPXORD Z4, Z4, Z4
trzero5:
	VPXORD Z5, Z5, Z5
trzero6:
	VPXORD Z6, Z6, Z6
trzero7:
	VPXORD Z7, Z7, Z7
trzero8:
	VPXORD Z8, Z8, Z8
trzero9:
	VPXORD Z9, Z9, Z9
trzero10:
	VPXORD Z10, Z10, Z10
trzero11:
	VPXORD Z11, Z11, Z11
trzero12:
	VPXORD Z12, Z12, Z12
trzero13:
	VPXORD Z13, Z13, Z13
trzero14:
	VPXORD Z14, Z14, Z14
trzero15:
	VPXORD Z15, Z15, Z15
trshuffle:
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xdd, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xdd, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xdd, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xdd, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xdd, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xdd, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xdd, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xdd, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xdd, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xdd, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xdd, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xdd, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xdd, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xdd, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xdd, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xdd, Z31, Z23, Z15
	VMOVUPS Z0, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $1
	JLE trnext
	VMOVUPS Z1, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $2
	JLE trnext
	VMOVUPS Z2, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $3
	JLE trnext
	VMOVUPS Z3, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $4
	JLE trnext
	VMOVUPS Z4, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $5
	JLE trnext
	VMOVUPS Z5, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $6
	JLE trnext
	VMOVUPS Z6, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $7
	JLE trnext
	VMOVUPS Z7, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $8
	JLE trnext
	VMOVUPS Z8, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $9
	JLE trnext
	VMOVUPS Z9, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $10
	JLE trnext
	VMOVUPS Z10, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $11
	JLE trnext
	VMOVUPS Z11, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $12
	JLE trnext
	VMOVUPS Z12, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $13
	JLE trnext
	VMOVUPS Z13, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $14
	JLE trnext
	VMOVUPS Z14, K3, (DI)
	ADDQ R12, DI
	CMPQ CX, $15
	JLE trnext
	VMOVUPS Z15, K3, (DI)
	ADDQ R12, DI
trnext:
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, R14
	JG trblock
trdone:
	VZEROUPPER
	RET

// func packRowsAVX512(dst, src *float32, lds, rows, width, panels int, lmask uint32)
//
// Packs a block whose lanes are contiguous in memory, reading it row by row
// (sequential streams): dst[q*rows*width + r*width + j] =
// src[r*lds + q*width + j] for r < rows, q < panels and j < width (≤ 32);
// in the last panel only the lanes in lmask are read and the others are +0.
TEXT ·packRowsAVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	SHLQ $2, R8
	MOVQ rows+24(FP), CX
	MOVQ width+32(FP), R9
	MOVQ panels+40(FP), R10
	MOVL lmask+48(FP), AX
	KMOVW AX, K5
	SHRL $16, AX
	KMOVW AX, K6
	// K1/K2: the width lanes of a full panel.
	MOVQ R9, CX
	MOVL $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	MOVQ rows+24(FP), CX
	SHLQ $2, R9
	// R11: bytes between panels in dst (rows*width*4).
	MOVQ CX, R11
	IMULQ R9, R11
	TESTQ CX, CX
	JZ rowsdone
	DECQ R10
rowsloop:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX
	TESTQ DX, DX
	JZ rowslast
rowspanel:
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VMOVUPS Z0, K1, (BX)
	VMOVUPS Z1, K2, 64(BX)
	ADDQ R9, AX
	ADDQ R11, BX
	DECQ DX
	JNZ rowspanel
rowslast:
	VMOVUPS.Z (AX), K5, Z0
	VMOVUPS.Z 64(AX), K6, Z1
	VMOVUPS Z0, K1, (BX)
	VMOVUPS Z1, K2, 64(BX)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ rowsloop
rowsdone:
	VZEROUPPER
	RET
