//go:build !purego

#include "textflag.h"

// func argmaxAsm(x *float32, n int) int
// Pass 1: the maximum m of x[0..n) ignoring NaNs. The accumulators start at
// x[0] (not NaN) and VMAXPS acc, data, acc returns its second source (the
// accumulator) when the data lane is NaN, so no accumulator is ever NaN;
// which of −0 and +0 survives does not matter, as pass 2 compares with ==.
// The tail of n mod 16 is loaded under the mask K1 into a copy of an
// accumulator. Pass 2: the first i with x[i] == m (ordered compare), 16
// lanes at a time, the tail again under K1 (zeroed lanes masked out).
TEXT ·argmaxAsm(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), DX
	MOVQ         SI, DI
	VBROADCASTSS (SI), Z0
	VMOVAPS      Z0, Z1
	VMOVAPS      Z0, Z2
	VMOVAPS      Z0, Z3
	MOVQ         DX, BX
	SHRQ         $6, BX
	JZ           argmax16

argmax64:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VMAXPS  Z0, Z4, Z0
	VMAXPS  Z1, Z5, Z1
	VMAXPS  Z2, Z6, Z2
	VMAXPS  Z3, Z7, Z3
	ADDQ    $256, SI
	DECQ    BX
	JNZ     argmax64

argmax16:
	MOVQ DX, BX
	ANDQ $63, BX
	SHRQ $4, BX
	JZ   argmaxtail

argmax16loop:
	VMOVUPS (SI), Z4
	VMAXPS  Z0, Z4, Z0
	ADDQ    $64, SI
	DECQ    BX
	JNZ     argmax16loop

argmaxtail:
	MOVQ  DX, CX
	ANDQ  $15, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1                // the n mod 16 tail lanes (none when 0)
	VMOVAPS Z1, Z4
	VMOVUPS (SI), K1, Z4        // other lanes keep values of x
	VMAXPS  Z1, Z4, Z1

	VMAXPS        Z1, Z0, Z0
	VMAXPS        Z3, Z2, Z2
	VMAXPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0x4e, X0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0xb1, X0, X1
	VMAXPS        X1, X0, X0
	VBROADCASTSS  X0, Z0

	MOVQ DI, SI
	XORQ AX, AX
	MOVQ DX, BX
	SHRQ $4, BX
	JZ   argmaxfindtail

argmaxfind:
	VCMPPS $0, (SI), Z0, K2
	KMOVW  K2, R8
	TESTL  R8, R8
	JNZ    argmaxfound
	ADDQ   $64, SI
	ADDQ   $16, AX
	DECQ   BX
	JNZ    argmaxfind

argmaxfindtail:
	VMOVUPS.Z (SI), K1, Z4
	VCMPPS    $0, Z4, Z0, K1, K2
	KMOVW     K2, R8

argmaxfound:
	BSFL R8, R8                 // R8 ≠ 0: m is the value of some x[i]
	ADDQ R8, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET
