//go:build !purego

#include "textflag.h"

// func mmAVX512(c *float32, ldc int, a *float32, sai, sak int, b *float32, ldb, m, k, nb, acc int)
//
// Rows four at a time (then one at a time), 16 columns per register, the
// four rows' columns 32 at a time (then 16); for every reduction index the
// B row is loaded once and each row's A element broadcast into a
// single-rounding FMA (VFMADD231PS: acc = a·b + acc).
TEXT ·mmAVX512(SB), NOSPLIT, $0-88
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), R8
	MOVQ a+16(FP), SI
	MOVQ sai+24(FP), R9
	MOVQ sak+32(FP), R10
	MOVQ b+40(FP), DX
	MOVQ ldb+48(FP), R11
	LEAQ (R9)(R9*2), R15 // 3·sai

rows4:
	CMPQ m+56(FP), $4
	JLT  rows1
	MOVQ nb+72(FP), BX
	MOVQ DI, R13 // C block
	MOVQ DX, R14 // B block

	// Blocks of 32 columns: eight independent chains per k step.
cols4x2:
	CMPQ BX, $2
	JLT  cols4x1
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	CMPQ   acc+80(FP), $0
	JEQ    k42start
	VMOVUPS (R13), Z0
	VMOVUPS 64(R13), Z10
	ADDQ    R8, R13
	VMOVUPS (R13), Z1
	VMOVUPS 64(R13), Z11
	ADDQ    R8, R13
	VMOVUPS (R13), Z2
	VMOVUPS 64(R13), Z12
	ADDQ    R8, R13
	VMOVUPS (R13), Z3
	VMOVUPS 64(R13), Z13
	SUBQ    R8, R13
	SUBQ    R8, R13
	SUBQ    R8, R13

k42start:
	MOVQ k+64(FP), CX
	MOVQ SI, AX // A(i, 0)
	MOVQ R14, R12 // B row 0

k42:
	VMOVUPS      (R12), Z4
	VMOVUPS      64(R12), Z9
	VBROADCASTSS (AX), Z5
	VFMADD231PS  Z5, Z4, Z0
	VFMADD231PS  Z5, Z9, Z10
	VBROADCASTSS (AX)(R9*1), Z6
	VFMADD231PS  Z6, Z4, Z1
	VFMADD231PS  Z6, Z9, Z11
	VBROADCASTSS (AX)(R9*2), Z7
	VFMADD231PS  Z7, Z4, Z2
	VFMADD231PS  Z7, Z9, Z12
	VBROADCASTSS (AX)(R15*1), Z8
	VFMADD231PS  Z8, Z4, Z3
	VFMADD231PS  Z8, Z9, Z13
	ADDQ         R10, AX
	ADDQ         R11, R12
	DECQ         CX
	JNZ          k42

	VMOVUPS Z0, (R13)
	VMOVUPS Z10, 64(R13)
	ADDQ    R8, R13
	VMOVUPS Z1, (R13)
	VMOVUPS Z11, 64(R13)
	ADDQ    R8, R13
	VMOVUPS Z2, (R13)
	VMOVUPS Z12, 64(R13)
	ADDQ    R8, R13
	VMOVUPS Z3, (R13)
	VMOVUPS Z13, 64(R13)
	SUBQ    R8, R13
	SUBQ    R8, R13
	SUBQ    R8, R13
	ADDQ    $128, R13
	ADDQ    $128, R14
	SUBQ    $2, BX
	JMP     cols4x2

	// A last block of 16 columns.
cols4x1:
	TESTQ BX, BX
	JEQ   rows4next

cols4:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   acc+80(FP), $0
	JEQ    k4start
	VMOVUPS (R13), Z0
	ADDQ    R8, R13
	VMOVUPS (R13), Z1
	ADDQ    R8, R13
	VMOVUPS (R13), Z2
	ADDQ    R8, R13
	VMOVUPS (R13), Z3
	SUBQ    R8, R13
	SUBQ    R8, R13
	SUBQ    R8, R13

k4start:
	MOVQ k+64(FP), CX
	MOVQ SI, AX // A(i, 0)
	MOVQ R14, R12 // B row 0

k4:
	VMOVUPS      (R12), Z4
	VBROADCASTSS (AX), Z5
	VFMADD231PS  Z5, Z4, Z0
	VBROADCASTSS (AX)(R9*1), Z6
	VFMADD231PS  Z6, Z4, Z1
	VBROADCASTSS (AX)(R9*2), Z7
	VFMADD231PS  Z7, Z4, Z2
	VBROADCASTSS (AX)(R15*1), Z8
	VFMADD231PS  Z8, Z4, Z3
	ADDQ         R10, AX
	ADDQ         R11, R12
	DECQ         CX
	JNZ          k4

	VMOVUPS Z0, (R13)
	ADDQ    R8, R13
	VMOVUPS Z1, (R13)
	ADDQ    R8, R13
	VMOVUPS Z2, (R13)
	ADDQ    R8, R13
	VMOVUPS Z3, (R13)
	SUBQ    R8, R13
	SUBQ    R8, R13
	SUBQ    R8, R13
	ADDQ    $64, R13
	ADDQ    $64, R14
	DECQ    BX
	JNZ     cols4

rows4next:
	LEAQ (DI)(R8*4), DI
	LEAQ (SI)(R9*4), SI
	SUBQ $4, m+56(FP)
	JMP  rows4

rows1:
	CMPQ  m+56(FP), $0
	JEQ   done
	MOVQ  nb+72(FP), BX
	MOVQ  DI, R13
	MOVQ  DX, R14

cols1:
	VPXORD Z0, Z0, Z0
	CMPQ   acc+80(FP), $0
	JEQ    k1start
	VMOVUPS (R13), Z0

k1start:
	MOVQ k+64(FP), CX
	MOVQ SI, AX
	MOVQ R14, R12

k1:
	VMOVUPS      (R12), Z4
	VBROADCASTSS (AX), Z5
	VFMADD231PS  Z5, Z4, Z0
	ADDQ         R10, AX
	ADDQ         R11, R12
	DECQ         CX
	JNZ          k1

	VMOVUPS Z0, (R13)
	ADDQ    $64, R13
	ADDQ    $64, R14
	DECQ    BX
	JNZ     cols1

	ADDQ R8, DI
	ADDQ R9, SI
	DECQ m+56(FP)
	JMP  rows1

done:
	VZEROUPPER
	RET

// func inputGrads2AVX512(dts0, dts1 float32, x0, x1, dX0, dX1, dx0, dx1 *float32, n int) (g0, g1 float64)
//
// n is a positive multiple of 8. For each of the two steps: dx += float32(dts·dX)
// lane by lane, and g = Σ_p float64(x_p)·float64(dX_p), the exact products
// added one at a time in ascending p from +0 (the two sums interleaved).
TEXT ·inputGrads2AVX512(SB), NOSPLIT, $0-80
	VBROADCASTSS dts0+0(FP), Y14
	VBROADCASTSS dts1+4(FP), Y15
	MOVQ x0+8(FP), SI
	MOVQ x1+16(FP), DI
	MOVQ dX0+24(FP), R8
	MOVQ dX1+32(FP), R9
	MOVQ dx0+40(FP), R10
	MOVQ dx1+48(FP), R11
	MOVQ n+56(FP), CX
	VXORPD X0, X0, X0
	VXORPD X1, X1, X1
	SHRQ $3, CX

igloop:
	VCVTPS2PD (SI), Z2
	VCVTPS2PD (R8), Z3
	VMULPD    Z3, Z2, Z2 // exact products of step 0
	VCVTPS2PD (DI), Z4
	VCVTPS2PD (R9), Z5
	VMULPD    Z5, Z4, Z4 // step 1
	VMOVUPS   (R8), Y6
	VMULPS    Y14, Y6, Y6
	VADDPS    (R10), Y6, Y6
	VMOVUPS   Y6, (R10)
	VMOVUPS   (R9), Y7
	VMULPS    Y15, Y7, Y7
	VADDPS    (R11), Y7, Y7
	VMOVUPS   Y7, (R11)

	VADDSD        X2, X0, X0
	VADDSD        X4, X1, X1
	VPERMILPD     $1, X2, X8
	VPERMILPD     $1, X4, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VEXTRACTF64X2 $1, Z2, X8
	VEXTRACTF64X2 $1, Z4, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VPERMILPD     $1, X8, X8
	VPERMILPD     $1, X9, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VEXTRACTF64X2 $2, Z2, X8
	VEXTRACTF64X2 $2, Z4, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VPERMILPD     $1, X8, X8
	VPERMILPD     $1, X9, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VEXTRACTF64X2 $3, Z2, X8
	VEXTRACTF64X2 $3, Z4, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1
	VPERMILPD     $1, X8, X8
	VPERMILPD     $1, X9, X9
	VADDSD        X8, X0, X0
	VADDSD        X9, X1, X1

	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ  igloop

	VMOVSD X0, g0+64(FP)
	VMOVSD X1, g1+72(FP)
	VZEROUPPER
	RET
