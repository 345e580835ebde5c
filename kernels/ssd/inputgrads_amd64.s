//go:build !purego

#include "textflag.h"

// func inputGrads8AVX512(dts *[8]float32, x *float32, xs int, dX *float32, ds int, dx *float32, n int, sums *[8]float64)
//
// inputGrads8Go for eight time steps: step s reads x and dx at s·xs bytes
// and dX at s·ds bytes from the given rows; n is a positive multiple of 8.
// Eight columns at a time, each step's exact float64 products (one register
// per step, lanes p) are transposed into registers of lanes s, which are
// added to the eight sums in ascending p: every sum is the chain of
// inputGrads8Go, eight chains in the lanes of one register.
TEXT ·inputGrads8AVX512(SB), NOSPLIT, $0-64
	MOVQ         dts+0(FP), AX
	VBROADCASTSS 0(AX), Y24
	VBROADCASTSS 4(AX), Y25
	VBROADCASTSS 8(AX), Y26
	VBROADCASTSS 12(AX), Y27
	VBROADCASTSS 16(AX), Y28
	VBROADCASTSS 20(AX), Y29
	VBROADCASTSS 24(AX), Y30
	VBROADCASTSS 28(AX), Y31
	MOVQ         x+8(FP), SI
	MOVQ         xs+16(FP), BX
	MOVQ         dX+24(FP), DI
	MOVQ         ds+32(FP), R9
	MOVQ         dx+40(FP), R8
	MOVQ         n+48(FP), CX
	LEAQ         (BX)(BX*2), DX // 3·xs
	LEAQ         (SI)(DX*1), R10 // x, step 3
	LEAQ         (R10)(DX*1), R11 // x, step 6
	LEAQ         (R8)(DX*1), R12 // dx, step 3
	LEAQ         (R12)(DX*1), R13 // dx, step 6
	LEAQ         (R9)(R9*2), DX // 3·ds
	LEAQ         (DI)(DX*1), AX // dX, step 3
	LEAQ         (AX)(DX*1), DX // dX, step 6
	VXORPD       Z0, Z0, Z0
	SHRQ         $3, CX

ig8loop:
	VMOVUPS   (DI), Y1
	VCVTPS2PD Y1, Z8
	VCVTPS2PD (SI), Z2
	VMULPD    Z2, Z8, Z8 // exact products of step 0
	VMULPS    Y24, Y1, Y1
	VADDPS    (R8), Y1, Y1
	VMOVUPS   Y1, (R8)
	VMOVUPS   (DI)(R9*1), Y1
	VCVTPS2PD Y1, Z9
	VCVTPS2PD (SI)(BX*1), Z2
	VMULPD    Z2, Z9, Z9 // exact products of step 1
	VMULPS    Y25, Y1, Y1
	VADDPS    (R8)(BX*1), Y1, Y1
	VMOVUPS   Y1, (R8)(BX*1)
	VMOVUPS   (DI)(R9*2), Y1
	VCVTPS2PD Y1, Z10
	VCVTPS2PD (SI)(BX*2), Z2
	VMULPD    Z2, Z10, Z10 // exact products of step 2
	VMULPS    Y26, Y1, Y1
	VADDPS    (R8)(BX*2), Y1, Y1
	VMOVUPS   Y1, (R8)(BX*2)
	VMOVUPS   (AX), Y1
	VCVTPS2PD Y1, Z11
	VCVTPS2PD (R10), Z2
	VMULPD    Z2, Z11, Z11 // exact products of step 3
	VMULPS    Y27, Y1, Y1
	VADDPS    (R12), Y1, Y1
	VMOVUPS   Y1, (R12)
	VMOVUPS   (AX)(R9*1), Y1
	VCVTPS2PD Y1, Z12
	VCVTPS2PD (R10)(BX*1), Z2
	VMULPD    Z2, Z12, Z12 // exact products of step 4
	VMULPS    Y28, Y1, Y1
	VADDPS    (R12)(BX*1), Y1, Y1
	VMOVUPS   Y1, (R12)(BX*1)
	VMOVUPS   (AX)(R9*2), Y1
	VCVTPS2PD Y1, Z13
	VCVTPS2PD (R10)(BX*2), Z2
	VMULPD    Z2, Z13, Z13 // exact products of step 5
	VMULPS    Y29, Y1, Y1
	VADDPS    (R12)(BX*2), Y1, Y1
	VMOVUPS   Y1, (R12)(BX*2)
	VMOVUPS   (DX), Y1
	VCVTPS2PD Y1, Z14
	VCVTPS2PD (R11), Z2
	VMULPD    Z2, Z14, Z14 // exact products of step 6
	VMULPS    Y30, Y1, Y1
	VADDPS    (R13), Y1, Y1
	VMOVUPS   Y1, (R13)
	VMOVUPS   (DX)(R9*1), Y1
	VCVTPS2PD Y1, Z15
	VCVTPS2PD (R11)(BX*1), Z2
	VMULPD    Z2, Z15, Z15 // exact products of step 7
	VMULPS    Y31, Y1, Y1
	VADDPS    (R13)(BX*1), Y1, Y1
	VMOVUPS   Y1, (R13)(BX*1)

	// Transpose the products (Z8+s holds step s's columns p..p+7).
	VUNPCKLPD  Z9, Z8, Z16
	VUNPCKHPD  Z9, Z8, Z17
	VUNPCKLPD  Z11, Z10, Z18
	VUNPCKHPD  Z11, Z10, Z19
	VUNPCKLPD  Z13, Z12, Z20
	VUNPCKHPD  Z13, Z12, Z21
	VUNPCKLPD  Z15, Z14, Z22
	VUNPCKHPD  Z15, Z14, Z23
	VSHUFF64X2 $0x88, Z18, Z16, Z8
	VSHUFF64X2 $0xDD, Z18, Z16, Z9
	VSHUFF64X2 $0x88, Z22, Z20, Z10
	VSHUFF64X2 $0xDD, Z22, Z20, Z11
	VSHUFF64X2 $0x88, Z19, Z17, Z12
	VSHUFF64X2 $0xDD, Z19, Z17, Z13
	VSHUFF64X2 $0x88, Z23, Z21, Z14
	VSHUFF64X2 $0xDD, Z23, Z21, Z15
	VSHUFF64X2 $0x88, Z10, Z8, Z16 // column p
	VSHUFF64X2 $0x88, Z14, Z12, Z17 // p+1
	VSHUFF64X2 $0x88, Z11, Z9, Z18 // p+2
	VSHUFF64X2 $0x88, Z15, Z13, Z19 // p+3
	VSHUFF64X2 $0xDD, Z10, Z8, Z20 // p+4
	VSHUFF64X2 $0xDD, Z14, Z12, Z21 // p+5
	VSHUFF64X2 $0xDD, Z11, Z9, Z22 // p+6
	VSHUFF64X2 $0xDD, Z15, Z13, Z23 // p+7
	VADDPD     Z16, Z0, Z0
	VADDPD     Z17, Z0, Z0
	VADDPD     Z18, Z0, Z0
	VADDPD     Z19, Z0, Z0
	VADDPD     Z20, Z0, Z0
	VADDPD     Z21, Z0, Z0
	VADDPD     Z22, Z0, Z0
	VADDPD     Z23, Z0, Z0

	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $32, AX
	ADDQ $32, DX
	DECQ CX
	JNZ  ig8loop

	MOVQ    sums+56(FP), SI
	VMOVUPD Z0, (SI)
	VZEROUPPER
	RET
