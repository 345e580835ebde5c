//go:build !purego

#include "textflag.h"

// func dotLanesAVX2(a, b *float32, n int, s *[4]float64)
// n is a positive multiple of 4.
TEXT ·dotLanesAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ s+24(FP), DX
	VXORPD Y0, Y0, Y0
	SHRQ $2, CX

loop:
	VCVTPS2PD (SI), Y1
	VCVTPS2PD (DI), Y2
	VMULPD    Y2, Y1, Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $16, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       loop

	VMOVUPD Y0, (DX)
	VZEROUPPER
	RET

// func dotLanes2AVX2(a0, b0, a1, b1 *float32, n int, s, t *[4]float64)
// n is a positive multiple of 4.
TEXT ·dotLanes2AVX2(SB), NOSPLIT, $0-56
	MOVQ a0+0(FP), SI
	MOVQ b0+8(FP), DI
	MOVQ a1+16(FP), R8
	MOVQ b1+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ s+40(FP), DX
	MOVQ t+48(FP), BX
	VXORPD Y0, Y0, Y0
	VXORPD Y3, Y3, Y3
	SHRQ $2, CX

loop2:
	VCVTPS2PD (SI), Y1
	VCVTPS2PD (DI), Y2
	VCVTPS2PD (R8), Y4
	VCVTPS2PD (R9), Y5
	VMULPD    Y2, Y1, Y1
	VMULPD    Y5, Y4, Y4
	VADDPD    Y1, Y0, Y0
	VADDPD    Y4, Y3, Y3
	ADDQ      $16, SI
	ADDQ      $16, DI
	ADDQ      $16, R8
	ADDQ      $16, R9
	DECQ      CX
	JNZ       loop2

	VMOVUPD Y0, (DX)
	VMOVUPD Y3, (BX)
	VZEROUPPER
	RET
