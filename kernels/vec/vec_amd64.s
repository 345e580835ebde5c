//go:build !purego

#include "textflag.h"

// Register use of the exponential (see expClamped in generic.go):
//   Z16 −708, Z17 709, Z18 32/ln2, Z19 1.5·2**52, Z20 ln2/32 hi, Z21 ln2/32 lo,
//   Z22 1, Z23 0.5, Z24 1/6, Z25 1/24, Z26 1/120, Z27 1/720,
//   Z28..Z31 2**(j/32) for j = 0..31, Z13 16, Z14 1023, Z15 the float64 sign bit.
#define LOAD_EXP_CONSTS(c) \
	VBROADCASTSD 0(c), Z16   \
	VBROADCASTSD 8(c), Z17   \
	VBROADCASTSD 16(c), Z18  \
	VBROADCASTSD 24(c), Z19  \
	VBROADCASTSD 32(c), Z20  \
	VBROADCASTSD 40(c), Z21  \
	VBROADCASTSD 48(c), Z22  \
	VBROADCASTSD 56(c), Z23  \
	VBROADCASTSD 64(c), Z24  \
	VBROADCASTSD 72(c), Z25  \
	VBROADCASTSD 80(c), Z26  \
	VBROADCASTSD 88(c), Z27  \
	VMOVUPD 96(c), Z28       \
	VMOVUPD 160(c), Z29      \
	VMOVUPD 224(c), Z30      \
	VMOVUPD 288(c), Z31      \
	MOVQ $16, BX             \
	VPBROADCASTQ BX, Z13     \
	MOVQ $1023, BX           \
	VPBROADCASTQ BX, Z14     \
	MOVQ $0x8000000000000000, BX \
	VPBROADCASTQ BX, Z15

// CLAMP_EXP: Z11 = e**min(max(Z1, −708), 709), lane by lane as expClamped;
// NaN lanes stay NaN. Clobbers Z1..Z12, K1.
#define CLAMP_EXP \
	VMAXPD Z1, Z16, Z1       \ // max(c, −708), NaN kept
	VMINPD Z1, Z17, Z1       \ // min(c, 709), NaN kept
	VMULPD Z18, Z1, Z2       \
	VADDPD Z19, Z2, Z2       \ // kd
	VSUBPD Z19, Z2, Z3       \ // k
	VMULPD Z20, Z3, Z4       \
	VSUBPD Z4, Z1, Z4        \
	VMULPD Z21, Z3, Z5       \
	VSUBPD Z5, Z4, Z4        \ // r
	VMULPD Z4, Z4, Z5        \ // r2
	VADDPD Z22, Z4, Z6       \ // lo = 1 + r
	VMULPD Z24, Z4, Z7       \
	VADDPD Z23, Z7, Z7       \ // mid = 0.5 + r/6
	VMULPD Z26, Z4, Z8       \
	VADDPD Z25, Z8, Z8       \ // hi = 1/24 + r/120
	VMULPD Z27, Z5, Z9       \
	VADDPD Z9, Z8, Z8        \ // hi += r2/720
	VMULPD Z8, Z5, Z8        \
	VADDPD Z8, Z7, Z8        \ // mid + r2·hi
	VMULPD Z8, Z5, Z8        \
	VADDPD Z8, Z6, Z8        \ // p = lo + r2·(…)
	VPSLLQ $13, Z2, Z9       \
	VPSRAQ $13, Z9, Z9       \ // ki
	VPSRAQ $5, Z9, Z10       \
	VPADDQ Z14, Z10, Z10     \
	VPSLLQ $52, Z10, Z10     \ // scale
	VMOVDQA64 Z9, Z11        \
	VPERMI2PD Z29, Z28, Z11  \ // table[ki&15]
	VMOVDQA64 Z9, Z12        \
	VPERMI2PD Z31, Z30, Z12  \ // table[16 + ki&15]
	VPTESTMQ Z13, Z9, K1     \
	VMOVAPD Z12, K1, Z11     \ // table[ki&31]
	VMULPD Z8, Z11, Z11      \
	VMULPD Z10, Z11, Z11

// SUM8_IN_ORDER: X0 += Z11's eight float64 lanes one at a time, lane 0
// first (the scalar loop's order). Clobbers X12.
#define SUM8_IN_ORDER \
	VADDSD        X11, X0, X0  \
	VPERMILPD     $1, X11, X12 \
	VADDSD        X12, X0, X0  \
	VEXTRACTF64X2 $1, Z11, X12 \
	VADDSD        X12, X0, X0  \
	VPERMILPD     $1, X12, X12 \
	VADDSD        X12, X0, X0  \
	VEXTRACTF64X2 $2, Z11, X12 \
	VADDSD        X12, X0, X0  \
	VPERMILPD     $1, X12, X12 \
	VADDSD        X12, X0, X0  \
	VEXTRACTF64X2 $3, Z11, X12 \
	VADDSD        X12, X0, X0  \
	VPERMILPD     $1, X12, X12 \
	VADDSD        X12, X0, X0

// func siluAsm(silu, sig, x *float32, n int, c *float64)
TEXT ·siluAsm(SB), NOSPLIT, $0-40
	MOVQ silu+0(FP), DI
	MOVQ sig+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ c+32(FP), AX
	LOAD_EXP_CONSTS(AX)
	SHRQ $3, CX
	JZ   siludone

siluloop:
	VCVTPS2PD (SI), Z0
	VXORPD    Z15, Z0, Z1 // −x
	CLAMP_EXP
	VADDPD    Z22, Z11, Z11 // 1 + e
	VDIVPD    Z11, Z22, Z11 // s = 1/(1 + e)
	VCVTPD2PS Z11, Y12
	VMOVUPS   Y12, (DX)
	VMULPD    Z11, Z0, Z11  // x·s
	VCVTPD2PS Z11, Y11
	VMOVUPS   Y11, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       siluloop

siludone:
	VZEROUPPER
	RET

// func expShiftAsm(d, x *float32, n int, mx float32, c *float64) float64
TEXT ·expShiftAsm(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+32(FP), AX
	LOAD_EXP_CONSTS(AX)
	VXORPD X0, X0, X0 // sum
	SHRQ   $3, CX
	JZ     expdone

exploop:
	VMOVUPS      (SI), Y1
	VBROADCASTSS mx+24(FP), Y2
	VSUBPS       Y2, Y1, Y1 // x − mx in float32
	VCVTPS2PD    Y1, Z1
	CLAMP_EXP
	TESTQ        DI, DI
	JZ           expnostore
	VCVTPD2PS    Z11, Y12
	VMOVUPS      Y12, (DI)
	ADDQ         $32, DI

expnostore:
	// sum += e_0, …, e_7 in ascending order
	SUM8_IN_ORDER
	ADDQ          $32, SI
	DECQ          CX
	JNZ           exploop

expdone:
	VMOVSD X0, ret+40(FP)
	VZEROUPPER
	RET

// func absMaxBitsAsm(x *float32, n int) uint32
// The maximum of the bits of |x_i| as unsigned integers: for non-NaN values
// the order of the bits is the order of the values, and NaNs lie above +Inf.
TEXT ·absMaxBitsAsm(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7fffffff, BX
	VPBROADCASTD BX, Z1
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	SHRQ $4, CX
	TESTQ $1, CX
	JZ   absmaxpairs
	VPANDD (SI), Z1, Z3
	VPMAXUD Z3, Z0, Z0
	ADDQ $64, SI

absmaxpairs:
	SHRQ $1, CX
	JZ   absmaxdone

absmaxloop:
	VPANDD  (SI), Z1, Z3
	VPANDD  64(SI), Z1, Z4
	VPMAXUD Z3, Z0, Z0
	VPMAXUD Z4, Z2, Z2
	ADDQ    $128, SI
	DECQ    CX
	JNZ     absmaxloop

absmaxdone:
	VPMAXUD       Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPMAXUD       Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPMAXUD       X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPMAXUD       X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPMAXUD       X1, X0, X0
	VMOVD         X0, AX
	MOVL          AX, ret+16(FP)
	VZEROUPPER
	RET

// func maxAsm(x *float32, n int) (key int32, abs uint32)
// key is the maximum of the order-preserving keys b ^ ((b>>31) & 0x7fffffff)
// of the bits b of x_i (signed), abs the maximum of the bits of |x_i|.
TEXT ·maxAsm(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7fffffff, BX
	VPBROADCASTD BX, Z1
	MOVL $0x807fffff, BX // key of −Inf
	VPBROADCASTD BX, Z0
	VPXORD Z2, Z2, Z2
	SHRQ $4, CX
	JZ   maxdone

maxloop:
	VMOVDQU32 (SI), Z3
	VPANDD    Z3, Z1, Z4
	VPMAXUD   Z4, Z2, Z2
	VPSRAD    $31, Z3, Z4
	VPSRLD    $1, Z4, Z4
	VPXORD    Z4, Z3, Z3
	VPMAXSD   Z3, Z0, Z0
	ADDQ      $64, SI
	DECQ      CX
	JNZ       maxloop

maxdone:
	VEXTRACTI64X4 $1, Z0, Y1
	VPMAXSD       Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPMAXSD       X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPMAXSD       X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPMAXSD       X1, X0, X0
	VMOVD         X0, AX
	MOVL          AX, key+16(FP)
	VEXTRACTI64X4 $1, Z2, Y1
	VPMAXUD       Y1, Y2, Y2
	VEXTRACTI128  $1, Y2, X1
	VPMAXUD       X1, X2, X2
	VPSHUFD       $0x4e, X2, X1
	VPMAXUD       X1, X2, X2
	VPSHUFD       $0xb1, X2, X1
	VPMAXUD       X1, X2, X2
	VMOVD         X2, AX
	MOVL          AX, abs+20(FP)
	VZEROUPPER
	RET

// func quantAsm(dst, x *float32, n int, s, lo, hi float32, div int)
// dst = RoundClip(x·s, lo, hi)/s, or RoundClip(x/s, lo, hi)·s when div ≠ 0,
// 8 values at a time: clamp in float32, then trunc(v + copysign(½, v)) in
// float64.
TEXT ·quantAsm(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y5
	VBROADCASTSS lo+28(FP), Y6
	VBROADCASTSS hi+32(FP), Y7
	MOVQ div+40(FP), DX
	MOVQ $0x8000000000000000, BX
	VPBROADCASTQ BX, Z8
	MOVQ $0x3fe0000000000000, BX // 0.5
	VPBROADCASTQ BX, Z9
	SHRQ $3, CX
	JZ   quantdone
	TESTQ DX, DX
	JNZ  quantdivloop

quantmulloop:
	VMOVUPS     (SI), Y0
	VMULPS      Y5, Y0, Y0
	VMAXPS      Y0, Y6, Y0 // max(v, lo), NaN kept
	VMINPS      Y0, Y7, Y0 // min(v, hi), NaN kept
	VCVTPS2PD   Y0, Z0
	VANDPD      Z8, Z0, Z1 // v & sign
	VORPD       Z9, Z1, Z1 // copysign(0.5, v)
	VADDPD      Z1, Z0, Z0
	VRNDSCALEPD $0x0b, Z0, Z0 // truncate
	VCVTPD2PS   Z0, Y0
	VDIVPS      Y5, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         quantmulloop
	JMP         quantdone

quantdivloop:
	VMOVUPS     (SI), Y0
	VDIVPS      Y5, Y0, Y0
	VMAXPS      Y0, Y6, Y0
	VMINPS      Y0, Y7, Y0
	VCVTPS2PD   Y0, Z0
	VANDPD      Z8, Z0, Z1
	VORPD       Z9, Z1, Z1
	VADDPD      Z1, Z0, Z0
	VRNDSCALEPD $0x0b, Z0, Z0
	VCVTPD2PS   Z0, Y0
	VMULPS      Y5, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         quantdivloop

quantdone:
	VZEROUPPER
	RET

// func blendAsm(dst, a, b *float32, n int, lam float32)
TEXT ·blendAsm(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS lam+32(FP), Z5
	SHRQ $4, CX
	JZ   blenddone

blendloop:
	VMOVUPS (SI), Z0
	VMOVUPS (DX), Z1
	VSUBPS  Z0, Z1, Z1 // b − a
	VMULPS  Z5, Z1, Z1 // lam·(b − a)
	VADDPS  Z1, Z0, Z0 // a + …
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     blendloop

blenddone:
	VZEROUPPER
	RET

// func mulAsm(dst, a, b *float32, n int)
TEXT ·mulAsm(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   muldone

mulloop:
	VMOVUPS (SI), Z0
	VMULPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     mulloop

muldone:
	VZEROUPPER
	RET

// func scaleMulAsm(dst, x, gn *float32, n int, r float32)
TEXT ·scaleMulAsm(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gn+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS r+32(FP), Z5
	SHRQ $4, CX
	JZ   scaledone

scaleloop:
	VMULPS  (SI), Z5, Z0 // x·r
	VMULPS  (DX), Z0, Z0 // (x·r)·g
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     scaleloop

scaledone:
	VZEROUPPER
	RET

// func siluGradAsm(dg, du, dh, gt, s, u *float32, n int)
TEXT ·siluGradAsm(SB), NOSPLIT, $0-56
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ dh+16(FP), SI
	MOVQ gt+24(FP), DX
	MOVQ s+32(FP), R9
	MOVQ u+40(FP), R10
	MOVQ n+48(FP), CX
	MOVL $0x3f800000, BX // 1
	VPBROADCASTD BX, Z7
	SHRQ $4, CX
	JZ   sgdone

sgloop:
	VMOVUPS (SI), Z0  // dh
	VMOVUPS (DX), Z1  // g
	VMOVUPS (R9), Z2  // s
	VMULPS  Z2, Z1, Z3 // g·s
	VMULPS  Z3, Z0, Z3 // dh·(g·s)
	VMOVUPS Z3, (R8)
	VSUBPS  Z2, Z7, Z4 // 1 − s
	VMULPS  Z4, Z1, Z4 // g·(1 − s)
	VADDPS  Z7, Z4, Z4 // 1 + …
	VMULPS  Z4, Z2, Z4 // s·(…)
	VMULPS  (R10), Z0, Z5 // dh·u
	VMULPS  Z4, Z5, Z5
	VMOVUPS Z5, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, R9
	ADDQ    $64, R10
	ADDQ    $64, R8
	ADDQ    $64, DI
	DECQ    CX
	JNZ     sgloop

sgdone:
	VZEROUPPER
	RET

// func rmsBackAsm(dx, do, gn, x *float32, n int, rs, c float64)
TEXT ·rmsBackAsm(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ do+8(FP), SI
	MOVQ gn+16(FP), DX
	MOVQ x+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSD rs+40(FP), Z5
	VBROADCASTSD c+48(FP), Z6
	SHRQ $3, CX
	JZ   rbdone

rbloop:
	VMOVUPS   (SI), Y0
	VMULPS    (DX), Y0, Y0 // do·g in float32
	VCVTPS2PD Y0, Z0
	VMULPD    Z0, Z5, Z0   // rs·gd
	VCVTPS2PD (R8), Z1
	VMULPD    Z6, Z1, Z1   // x·c
	VSUBPD    Z1, Z0, Z0
	VCVTPD2PS Z0, Y0
	VADDPS    (DI), Y0, Y0 // dx + … (commutative)
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, R8
	ADDQ      $32, DI
	DECQ      CX
	JNZ       rbloop

rbdone:
	VZEROUPPER
	RET

// func gainGradAsm(acc *float64, do, x *float32, n int, rs float32)
TEXT ·gainGradAsm(SB), NOSPLIT, $0-36
	MOVQ acc+0(FP), DI
	MOVQ do+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS rs+32(FP), Y5
	SHRQ $3, CX
	JZ   ggdone

ggloop:
	VMULPS    (DX), Y5, Y1 // x·rs in float32
	VCVTPS2PD Y1, Z1
	VCVTPS2PD (SI), Z0
	VMULPD    Z1, Z0, Z0   // do·(x·rs)
	VADDPD    (DI), Z0, Z0 // acc + … (commutative)
	VMOVUPD   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $64, DI
	DECQ      CX
	JNZ       ggloop

ggdone:
	VZEROUPPER
	RET

// func mulAddF64Asm(acc *float64, a, b *float32, n int)
TEXT ·mulAddF64Asm(SB), NOSPLIT, $0-32
	MOVQ acc+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   madone

maloop:
	VCVTPS2PD (SI), Z0
	VCVTPS2PD (DX), Z1
	VMULPD    Z1, Z0, Z0   // exact product
	VADDPD    (DI), Z0, Z0 // acc + … (commutative)
	VMOVUPD   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $64, DI
	DECQ      CX
	JNZ       maloop

madone:
	VZEROUPPER
	RET

// func toF32Asm(dst *float32, src *float64, n int)
TEXT ·toF32Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   tfdone

tfloop:
	VCVTPD2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       tfloop

tfdone:
	VZEROUPPER
	RET

// func axpyExactAsm(y, x *float32, n int, d float64)
TEXT ·axpyExactAsm(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD d+24(FP), Z5
	SHRQ $3, CX
	JZ   axdone

axloop:
	VCVTPS2PD (SI), Z0
	VMULPD    Z0, Z5, Z0 // d·x
	VCVTPS2PD (DI), Z1
	VADDPD    Z0, Z1, Z1 // y + d·x
	VCVTPD2PS Z1, Y1
	VMOVUPS   Y1, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       axloop

axdone:
	VZEROUPPER
	RET

// func sumSq4Asm(x *float32, stride, n int, lanes *[16]float64)
TEXT ·sumSq4Asm(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ n+16(FP), CX
	MOVQ lanes+24(FP), DI
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	LEAQ (R10)(BX*1), R14 // the next group of rows, prefetched as in dotGain4Asm
	SHRQ $2, CX
	JZ   ssdone
	XORQ AX, AX

ssloop:
	PREFETCHT0 (R14)(AX*4)
	VCVTPS2PD (SI)(AX*1), Y4
	VCVTPS2PD (R8)(AX*1), Y5
	VCVTPS2PD (R9)(AX*1), Y6
	VCVTPS2PD (R10)(AX*1), Y7
	VMULPD    Y4, Y4, Y4
	VMULPD    Y5, Y5, Y5
	VMULPD    Y6, Y6, Y6
	VMULPD    Y7, Y7, Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $16, AX
	DECQ      CX
	JNZ       ssloop

ssdone:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func dotGain4Asm(do, x *float32, stride int, gn *float32, n int, lanes *[16]float64)
TEXT ·dotGain4Asm(SB), NOSPLIT, $0-48
	MOVQ do+0(FP), SI
	MOVQ x+8(FP), DX
	MOVQ stride+16(FP), BX
	SHLQ $2, BX
	MOVQ gn+24(FP), DI
	MOVQ n+32(FP), CX
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	LEAQ (DX)(BX*1), R12
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R11
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	// The next group of four rows (contiguous: 4·stride floats), a line of
	// each operand per step of four floats: as many lines as steps when n
	// is the stride. Reading four rows side by side from memory ran at a
	// third of a sequential read; the prefetches stream the group ahead.
	LEAQ (R10)(BX*1), R14
	LEAQ (R11)(BX*1), R15
	SHRQ $2, CX
	JZ   dgdone
	XORQ AX, AX

dgloop:
	PREFETCHT0 (R14)(AX*4)
	PREFETCHT0 (R15)(AX*4)
	VMOVUPS   (DI)(AX*1), X8 // g
	VMULPS    (SI)(AX*1), X8, X4 // do·g in float32 (commutative)
	VMULPS    (R8)(AX*1), X8, X5
	VMULPS    (R9)(AX*1), X8, X6
	VMULPS    (R10)(AX*1), X8, X7
	VCVTPS2PD X4, Y4
	VCVTPS2PD X5, Y5
	VCVTPS2PD X6, Y6
	VCVTPS2PD X7, Y7
	VCVTPS2PD (DX)(AX*1), Y9
	VCVTPS2PD (R12)(AX*1), Y10
	VCVTPS2PD (R13)(AX*1), Y11
	VCVTPS2PD (R11)(AX*1), Y12
	VMULPD    Y9, Y4, Y4
	VMULPD    Y10, Y5, Y5
	VMULPD    Y11, Y6, Y6
	VMULPD    Y12, Y7, Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $16, AX
	DECQ      CX
	JNZ       dgloop

dgdone:
	MOVQ    lanes+40(FP), DI
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func scaleAsm(dst, x *float32, n int, f float32)
TEXT ·scaleAsm(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS f+24(FP), Z5
	SHRQ $4, CX
	JZ   scdone

scloop:
	VMULPS  (SI), Z5, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     scloop

scdone:
	VZEROUPPER
	RET

// func scaleF64Asm(x *float32, n int, f float64)
TEXT ·scaleF64Asm(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSD f+16(FP), Z5
	SHRQ $3, CX
	JZ   sfdone

sfloop:
	VCVTPS2PD (DI), Z0
	VMULPD    Z5, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sfloop

sfdone:
	VZEROUPPER
	RET

// func addAsm(dst, a, b *float32, n int)
TEXT ·addAsm(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   adddone

addloop:
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     addloop

adddone:
	VZEROUPPER
	RET

// func siluBackAsm(dst, dy, x, s *float32, n int)
TEXT ·siluBackAsm(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ s+24(FP), R8
	MOVQ n+32(FP), CX
	MOVL $0x3f800000, BX // 1
	VPBROADCASTD BX, Z7
	SHRQ $4, CX
	JZ   sbdone

sbloop:
	VMOVUPS (R8), Z2      // s
	VSUBPS  Z2, Z7, Z4    // 1 − s
	VMULPS  (DX), Z4, Z4  // x·(1 − s) (commutative)
	VADDPS  Z7, Z4, Z4    // 1 + …
	VMULPS  Z4, Z2, Z4    // s·(…)
	VMULPS  (SI), Z4, Z4  // dy·(…) (commutative)
	VMOVUPS Z4, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, R8
	ADDQ    $64, DI
	DECQ    CX
	JNZ     sbloop

sbdone:
	VZEROUPPER
	RET

// func softmaxBackAsm(d, p *float32, n int, sum, scale float32)
TEXT ·softmaxBackAsm(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS sum+24(FP), Z5
	VBROADCASTSS scale+28(FP), Z6
	SHRQ $4, CX
	JZ   smdone

smloop:
	VMOVUPS (DI), Z0
	VSUBPS  Z5, Z0, Z0   // d − sum
	VMULPS  (SI), Z0, Z0 // p·(d − sum) (commutative)
	VMULPS  Z6, Z0, Z0   // ·scale
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     smloop

smdone:
	VZEROUPPER
	RET

// TRANSPOSE8X8 transposes the 8×8 float32 matrix whose rows are Y0..Y7
// into Y8..Y15: Y(8+k) holds element k of every row. Clobbers Y0..Y7.
#define TRANSPOSE8X8 \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xee, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xee, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xee, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xee, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8  \
	VPERM2F128 $0x20, Y5, Y1, Y9  \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func absSum8Asm(ptrs *[8]*float32, n int, sums *[8]float64)
// Eight values of each of the eight slices are loaded, transposed 8×8 in
// registers, and added in ascending index to the lanes of the sums.
TEXT ·absSum8Asm(SB), NOSPLIT, $0-24
	MOVQ ptrs+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ 0(SI), R8
	MOVQ 8(SI), R9
	MOVQ 16(SI), R10
	MOVQ 24(SI), R11
	MOVQ 32(SI), R12
	MOVQ 40(SI), R13
	MOVQ 48(SI), DX
	MOVQ 56(SI), DI
	MOVL $0x7fffffff, BX
	VPBROADCASTD BX, Y16
	VXORPD Z17, Z17, Z17 // sums
	XORQ AX, AX
	SHRQ $3, CX
	JZ   asdone

asloop:
	VANDPS (R8)(AX*1), Y16, Y0
	VANDPS (R9)(AX*1), Y16, Y1
	VANDPS (R10)(AX*1), Y16, Y2
	VANDPS (R11)(AX*1), Y16, Y3
	VANDPS (R12)(AX*1), Y16, Y4
	VANDPS (R13)(AX*1), Y16, Y5
	VANDPS (DX)(AX*1), Y16, Y6
	VANDPS (DI)(AX*1), Y16, Y7
	TRANSPOSE8X8
	VCVTPS2PD Y8, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y9, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y10, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y11, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y12, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y13, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y14, Z18
	VADDPD    Z18, Z17, Z17
	VCVTPS2PD Y15, Z18
	VADDPD    Z18, Z17, Z17
	ADDQ $32, AX
	DECQ CX
	JNZ  asloop

asdone:
	MOVQ    sums+16(FP), DI
	VMOVUPD Z17, (DI)
	VZEROUPPER
	RET

// func headDots8Asm(a, b *float32, offs *[8]int, rows, rowBytes, blocks int, sums *[8]float64)
TEXT ·headDots8Asm(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ offs+16(FP), BX
	MOVQ sums+48(FP), CX
	VMOVUPD (CX), Z25 // the chains' start

hdrow:
	MOVQ blocks+40(FP), CX
	MOVQ 0(BX), R8
	MOVQ 8(BX), R9
	MOVQ 16(BX), R10
	MOVQ 24(BX), R11
	MOVQ 32(BX), R12
	MOVQ 40(BX), R13
	MOVQ 48(BX), DI
	MOVQ 56(BX), AX

hdblock:
	VMOVUPS (SI)(R8*1), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R10*1), Y2
	VMOVUPS (SI)(R11*1), Y3
	VMOVUPS (SI)(R12*1), Y4
	VMOVUPS (SI)(R13*1), Y5
	VMOVUPS (SI)(DI*1), Y6
	VMOVUPS (SI)(AX*1), Y7
	TRANSPOSE8X8
	VCVTPS2PD Y8, Z16
	VCVTPS2PD Y9, Z17
	VCVTPS2PD Y10, Z18
	VCVTPS2PD Y11, Z19
	VCVTPS2PD Y12, Z20
	VCVTPS2PD Y13, Z21
	VCVTPS2PD Y14, Z22
	VCVTPS2PD Y15, Z23
	VMOVUPS (DX)(R8*1), Y0
	VMOVUPS (DX)(R9*1), Y1
	VMOVUPS (DX)(R10*1), Y2
	VMOVUPS (DX)(R11*1), Y3
	VMOVUPS (DX)(R12*1), Y4
	VMOVUPS (DX)(R13*1), Y5
	VMOVUPS (DX)(DI*1), Y6
	VMOVUPS (DX)(AX*1), Y7
	TRANSPOSE8X8
	VCVTPS2PD Y8, Z24
	VMULPD    Z24, Z16, Z24 // exact a·b
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y9, Z24
	VMULPD    Z24, Z17, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y10, Z24
	VMULPD    Z24, Z18, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y11, Z24
	VMULPD    Z24, Z19, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y12, Z24
	VMULPD    Z24, Z20, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y13, Z24
	VMULPD    Z24, Z21, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y14, Z24
	VMULPD    Z24, Z22, Z24
	VADDPD    Z24, Z25, Z25
	VCVTPS2PD Y15, Z24
	VMULPD    Z24, Z23, Z24
	VADDPD    Z24, Z25, Z25
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $32, DI
	ADDQ $32, AX
	DECQ CX
	JNZ  hdblock
	ADDQ rowBytes+32(FP), SI
	ADDQ rowBytes+32(FP), DX
	DECQ rows+24(FP) // rows ≥ 1 on entry
	JNZ  hdrow
	MOVQ    sums+48(FP), DI
	VMOVUPD Z25, (DI)
	VZEROUPPER
	RET

// func dotTapsAsm(out, init *float32, wp, xp *[8]*float32, ntaps, n int)
TEXT ·dotTapsAsm(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ init+8(FP), R8
	MOVQ wp+16(FP), R9
	MOVQ xp+24(FP), R10
	MOVQ ntaps+32(FP), R11
	MOVQ n+40(FP), CX
	XORQ AX, AX // byte offset of the block
	SHRQ $3, CX
	JZ   dtdone

dtblock:
	VXORPD Z0, Z0, Z0 // +0
	TESTQ  R8, R8
	JZ     dtnoinit
	VCVTPS2PD (R8)(AX*1), Z0

dtnoinit:
	XORQ BX, BX // tap index

dttap:
	CMPQ      BX, R11
	JGE       dtstore
	MOVQ      (R9)(BX*8), SI
	MOVQ      (R10)(BX*8), DX
	VCVTPS2PD (SI)(AX*1), Z1
	VCVTPS2PD (DX)(AX*1), Z2
	VMULPD    Z2, Z1, Z1 // exact w·x
	VADDPD    Z1, Z0, Z0 // s + w·x (commutative)
	INCQ      BX
	JMP       dttap

dtstore:
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)(AX*1)
	ADDQ      $32, AX
	DECQ      CX
	JNZ       dtblock

dtdone:
	VZEROUPPER
	RET

// func sumExpNonPosAsm(x *float32, n int, mx float32, sum float64, c *float64) (s float64, done int)
// Adds to sum, in ascending j, e**float64(x[j] − mx) as kernels.ExpNonPos
// computes it (the Horner polynomial, each product and sum rounded), for
// blocks of 8 while every lane's argument lies in [−708, 0]; it stops
// before the first block holding another argument (or a NaN) and returns
// the sum so far and the number of elements done (a multiple of 8).
TEXT ·sumExpNonPosAsm(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+32(FP), AX
	LOAD_EXP_CONSTS(AX)
	VBROADCASTSS mx+16(FP), Y8
	VXORPD       Z10, Z10, Z10 // 0
	VMOVSD       sum+24(FP), X0
	XORQ         DX, DX        // done
	SHRQ         $3, CX
	JZ           sxdone

sxloop:
	VMOVUPS   (SI), Y1
	VSUBPS    Y8, Y1, Y1 // x − mx in float32
	VCVTPS2PD Y1, Z1
	VCMPPD    $0x1d, Z16, Z1, K2     // x ≥ −708 (false for NaN)
	VCMPPD    $0x12, Z10, Z1, K2, K3 // and x ≤ 0
	KMOVB     K3, AX
	CMPB      AX, $0xff
	JNE       sxdone
	VMULPD    Z18, Z1, Z2
	VADDPD    Z19, Z2, Z2 // kd
	VSUBPD    Z19, Z2, Z3 // k
	VMULPD    Z20, Z3, Z4
	VSUBPD    Z4, Z1, Z4
	VMULPD    Z21, Z3, Z5
	VSUBPD    Z5, Z4, Z4  // r
	VMULPD    Z27, Z4, Z6 // p = 1/720 · r
	VADDPD    Z26, Z6, Z6 // + 1/120
	VMULPD    Z4, Z6, Z6
	VADDPD    Z25, Z6, Z6 // + 1/24
	VMULPD    Z4, Z6, Z6
	VADDPD    Z24, Z6, Z6 // + 1/6
	VMULPD    Z4, Z6, Z6
	VADDPD    Z23, Z6, Z6 // + 0.5
	VMULPD    Z4, Z6, Z6
	VADDPD    Z22, Z6, Z6 // + 1
	VMULPD    Z4, Z6, Z6
	VADDPD    Z22, Z6, Z6 // + 1
	VPSLLQ    $13, Z2, Z9
	VPSRAQ    $13, Z9, Z9 // ki
	VPSRAQ    $5, Z9, Z7
	VPADDQ    Z14, Z7, Z7
	VPSLLQ    $52, Z7, Z7 // scale 2**m
	VMOVDQA64 Z9, Z11
	VPERMI2PD Z29, Z28, Z11 // table[ki&15]
	VMOVDQA64 Z9, Z12
	VPERMI2PD Z31, Z30, Z12 // table[16 + ki&15]
	VPTESTMQ  Z13, Z9, K1
	VMOVAPD   Z12, K1, Z11  // table[ki&31]
	VMULPD    Z6, Z11, Z11
	VMULPD    Z7, Z11, Z11

	// sum += e_0, …, e_7 in ascending order
	SUM8_IN_ORDER
	ADDQ          $32, SI
	ADDQ          $8, DX
	DECQ          CX
	JNZ           sxloop

sxdone:
	VMOVSD X0, s+40(FP)
	MOVQ   DX, done+48(FP)
	VZEROUPPER
	RET

// func gainGradRowsAsm(acc *float64, do, x *float32, ld int, rstd *float32, rows, n int)
//
// GainGrad for rows rows (row r at do+r·ld, x+r·ld, ld in bytes, with
// rstd[r]) over n columns (a multiple of 8), in ascending row order for
// every column: blocks of 32 columns keep their chains in Z10-Z13 across
// the rows, then blocks of 8 in Z10. Each step is GainGrad's: x·rs in
// float32, both factors widened, one product and one sum in float64.
TEXT ·gainGradRowsAsm(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ do+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ ld+24(FP), R8
	MOVQ rows+40(FP), BX
	MOVQ n+48(FP), AX
	TESTQ BX, BX
	JZ   ggrdone
ggr32:
	CMPQ AX, $32
	JLT  ggr8
	VMOVUPD (DI), Z10
	VMOVUPD 64(DI), Z11
	VMOVUPD 128(DI), Z12
	VMOVUPD 192(DI), Z13
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ rstd+32(FP), R9
	MOVQ BX, CX
ggr32row:
	VBROADCASTSS (R9), Y5
	VMULPS    0(R11), Y5, Y1
	VCVTPS2PD Y1, Z1
	VCVTPS2PD 0(R10), Z0
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z10, Z10
	VMULPS    32(R11), Y5, Y1
	VCVTPS2PD Y1, Z1
	VCVTPS2PD 32(R10), Z0
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z11, Z11
	VMULPS    64(R11), Y5, Y1
	VCVTPS2PD Y1, Z1
	VCVTPS2PD 64(R10), Z0
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z12, Z12
	VMULPS    96(R11), Y5, Y1
	VCVTPS2PD Y1, Z1
	VCVTPS2PD 96(R10), Z0
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z13, Z13
	ADDQ R8, R10
	ADDQ R8, R11
	ADDQ $4, R9
	DECQ CX
	JNZ  ggr32row
	VMOVUPD Z10, (DI)
	VMOVUPD Z11, 64(DI)
	VMOVUPD Z12, 128(DI)
	VMOVUPD Z13, 192(DI)
	ADDQ $256, DI
	ADDQ $128, SI
	ADDQ $128, DX
	SUBQ $32, AX
	JMP  ggr32
ggr8:
	CMPQ AX, $8
	JLT  ggrdone
	VMOVUPD (DI), Z10
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ rstd+32(FP), R9
	MOVQ BX, CX
ggr8row:
	VBROADCASTSS (R9), Y5
	VMULPS    (R11), Y5, Y1
	VCVTPS2PD Y1, Z1
	VCVTPS2PD (R10), Z0
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z10, Z10
	ADDQ R8, R10
	ADDQ R8, R11
	ADDQ $4, R9
	DECQ CX
	JNZ  ggr8row
	VMOVUPD Z10, (DI)
	ADDQ $64, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, AX
	JMP  ggr8
ggrdone:
	VZEROUPPER
	RET

// func mulAddF64RowsAsm(acc *float64, a *float32, lda int, b *float32, ldb int, rows, n int)
//
// MulAddF64 for rows rows (row r at a+r·lda and b+r·ldb, strides in bytes;
// ldb may be 0) over n columns (a multiple of 8), in ascending row order
// for every column, with the chains in registers across the rows: blocks
// of 32 columns in Z10-Z13, then blocks of 8 in Z10.
TEXT ·mulAddF64RowsAsm(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DX
	MOVQ ldb+32(FP), R9
	MOVQ rows+40(FP), BX
	MOVQ n+48(FP), AX
	TESTQ BX, BX
	JZ   marDone
mar32:
	CMPQ AX, $32
	JLT  mar8
	VMOVUPD (DI), Z10
	VMOVUPD 64(DI), Z11
	VMOVUPD 128(DI), Z12
	VMOVUPD 192(DI), Z13
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ BX, CX
mar32row:
	VCVTPS2PD 0(R10), Z0
	VCVTPS2PD 0(R11), Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z10, Z10
	VCVTPS2PD 32(R10), Z0
	VCVTPS2PD 32(R11), Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z11, Z11
	VCVTPS2PD 64(R10), Z0
	VCVTPS2PD 64(R11), Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z12, Z12
	VCVTPS2PD 96(R10), Z0
	VCVTPS2PD 96(R11), Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z13, Z13
	ADDQ R8, R10
	ADDQ R9, R11
	DECQ CX
	JNZ  mar32row
	VMOVUPD Z10, (DI)
	VMOVUPD Z11, 64(DI)
	VMOVUPD Z12, 128(DI)
	VMOVUPD Z13, 192(DI)
	ADDQ $256, DI
	ADDQ $128, SI
	ADDQ $128, DX
	SUBQ $32, AX
	JMP  mar32
mar8:
	CMPQ AX, $8
	JLT  marDone
	VMOVUPD (DI), Z10
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ BX, CX
mar8row:
	VCVTPS2PD (R10), Z0
	VCVTPS2PD (R11), Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z0, Z10, Z10
	ADDQ R8, R10
	ADDQ R9, R11
	DECQ CX
	JNZ  mar8row
	VMOVUPD Z10, (DI)
	ADDQ $64, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, AX
	JMP  mar8
marDone:
	VZEROUPPER
	RET

// func rmsBackSetAsm(dx, do, gn, x *float32, n int, rs, c float64)
//
// rmsBackAsm onto a cleared dx: the same value added to +0 (which turns a
// −0 into +0, as adding to a cleared dx does), stored without reading dx.
TEXT ·rmsBackSetAsm(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ do+8(FP), SI
	MOVQ gn+16(FP), DX
	MOVQ x+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSD rs+40(FP), Z5
	VBROADCASTSD c+48(FP), Z6
	VXORPS Y7, Y7, Y7
	SHRQ $3, CX
	JZ   rsdone

rsloop:
	VMOVUPS   (SI), Y0
	VMULPS    (DX), Y0, Y0 // do·g in float32
	VCVTPS2PD Y0, Z0
	VMULPD    Z0, Z5, Z0   // rs·gd
	VCVTPS2PD (R8), Z1
	VMULPD    Z6, Z1, Z1   // x·c
	VSUBPD    Z1, Z0, Z0
	VCVTPD2PS Z0, Y0
	VADDPS    Y7, Y0, Y0 // +0 + …
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, R8
	ADDQ      $32, DI
	DECQ      CX
	JNZ       rsloop

rsdone:
	VZEROUPPER
	RET

// func expTermsAsm(d *float32, e *float64, x *float32, n int, mx float32, c *float64)
// expShiftAsm's terms without their sum: e[j] = the float64 exponential
// that expShiftAsm adds, and d[j] = float32(e[j]) when d is not nil.
TEXT ·expTermsAsm(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ e+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ c+40(FP), AX
	LOAD_EXP_CONSTS(AX)
	VBROADCASTSS mx+32(FP), Y0
	SHRQ   $3, CX
	JZ     termsdone

termsloop:
	VMOVUPS   (SI), Y1
	VSUBPS    Y0, Y1, Y1 // x − mx in float32
	VCVTPS2PD Y1, Z1
	CLAMP_EXP
	VMOVUPD   Z11, (DX)
	ADDQ      $64, DX
	TESTQ     DI, DI
	JZ        termsnostore
	VCVTPD2PS Z11, Y12
	VMOVUPS   Y12, (DI)
	ADDQ      $32, DI

termsnostore:
	ADDQ $32, SI
	DECQ CX
	JNZ  termsloop

termsdone:
	VZEROUPPER
	RET

// func prefetchAsm(x *float32, lines int)
// PREFETCHT0 of lines consecutive 64-byte lines from x.
TEXT ·prefetchAsm(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JZ   pfdone

pfloop:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	DECQ CX
	JNZ  pfloop

pfdone:
	RET
