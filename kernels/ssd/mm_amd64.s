//go:build !purego

#include "textflag.h"

// func mmAVX512(c *float32, ldc int, a *float32, sai, sak int, b *float32, ldb, m, k, nb, acc int)
//
// Rows four at a time (then one at a time), 16 columns per register; for
// every reduction index the B row is loaded once and each row's A element
// broadcast into a single-rounding FMA (VFMADD231PS: acc = a·b + acc).
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
