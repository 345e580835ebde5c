//go:build !purego

#include "textflag.h"

// The Q3_K head kernels (QHead, head_q3k.go): whole sixteen-row groups.
// Per group and super-block (index s), the codes of row j are its 64 X
// bytes at 64j and its 32 Y bytes at 1024 + 32j of cs + 1728s, the
// group's 6-bit sub-block scales at 1536 (vectors A, B, C: QHead's layout,
// head_q3k.go), unpacked to int8 on the stack once per super-block (the
// pair of rows 2p, 2p+1 at 32p, interleaved four sub-blocks at a time),
// the rows' fp16 d at ds + 32s. X holds planes 0 and 1 (bits 0..2, 3..5)
// and plane 2's low bits (6..7) of positions 0..63; Y plane 3 of
// positions k and k+32 (bits 0..2, 3..5) and plane 2's high bit of
// positions k and k+32 (bits 6, 7). pq (QHead.Acts) holds the activations
// of super-block b at 256b in the planes' order, A_t at 64t, so that
// dword lane m of Σ_t P_t·A_t is the sum of sub-block m's sixteen c·q.
// The kernels add K_m = −4·Σ q over sub-block m (computed here from pq),
// pack two rows' lanes to int16 (|K_m + Σ c·q| ≤ 8192: exact), multiply
// by sc_m and add pairs of lanes with VPMADDWD, sum each row's lanes
// (exact int32), then f += float32(float32(I)·d) per row and finally
// f / s.

DATA q3c07<>+0(SB)/4, $0x07070707
GLOBL q3c07<>(SB), RODATA|NOPTR, $4
DATA q3c0f<>+0(SB)/4, $0x0f0f0f0f
GLOBL q3c0f<>(SB), RODATA|NOPTR, $4
DATA q3c03<>+0(SB)/4, $0x03030303
GLOBL q3c03<>(SB), RODATA|NOPTR, $4
DATA q3c04<>+0(SB)/4, $0x04040404
GLOBL q3c04<>(SB), RODATA|NOPTR, $4
DATA q3ones<>+0(SB)/4, $0x00010001
GLOBL q3ones<>(SB), RODATA|NOPTR, $4

// VGF2P8AFFINEQB matrices (output bit i is the parity of matrix byte 7−i
// and the source byte): q3g345 moves bits 3..5 to 0..2, clearing the rest.
DATA q3g345<>+0(SB)/8, $0x0810200000000000
GLOBL q3g345<>(SB), RODATA|NOPTR, $8

// q3gsQ (Q = 0..3) takes a scale's high two bits h0, h1 from bits 2Q,
// 2Q+1 of C to bits 4..7 as 16·(h − 2) (bit 4 = h0, bits 5..7 = NOT h1
// with the immediate 0xE0): OR'd with the low nibble, u − 32 = sc as int8.
DATA q3gs0<>+0(SB)/8, $0x01020202
GLOBL q3gs0<>(SB), RODATA|NOPTR, $8
DATA q3gs1<>+0(SB)/8, $0x04080808
GLOBL q3gs1<>(SB), RODATA|NOPTR, $8
DATA q3gs2<>+0(SB)/8, $0x10202020
GLOBL q3gs2<>(SB), RODATA|NOPTR, $8
DATA q3gs3<>+0(SB)/8, $0x40808080
GLOBL q3gs3<>(SB), RODATA|NOPTR, $8

// Matrices per 256-bit half for Y broadcast to both halves: q3gh takes
// bit 6 (positions 0..31) or bit 7 (32..63) to bit 2 (4·plane 2's high
// bit); q3gd keeps bits 0..2 (positions 0..31) or moves 3..5 to 0..2
// (32..63): plane 3.
DATA q3gh<>+0(SB)/8, $0x0000400000000000
DATA q3gh<>+8(SB)/8, $0x0000400000000000
DATA q3gh<>+16(SB)/8, $0x0000400000000000
DATA q3gh<>+24(SB)/8, $0x0000400000000000
DATA q3gh<>+32(SB)/8, $0x0000800000000000
DATA q3gh<>+40(SB)/8, $0x0000800000000000
DATA q3gh<>+48(SB)/8, $0x0000800000000000
DATA q3gh<>+56(SB)/8, $0x0000800000000000
GLOBL q3gh<>(SB), RODATA|NOPTR, $64
DATA q3gd<>+0(SB)/8, $0x0102040000000000
DATA q3gd<>+8(SB)/8, $0x0102040000000000
DATA q3gd<>+16(SB)/8, $0x0102040000000000
DATA q3gd<>+24(SB)/8, $0x0102040000000000
DATA q3gd<>+32(SB)/8, $0x0810200000000000
DATA q3gd<>+40(SB)/8, $0x0810200000000000
DATA q3gd<>+48(SB)/8, $0x0810200000000000
DATA q3gd<>+56(SB)/8, $0x0810200000000000
GLOBL q3gd<>(SB), RODATA|NOPTR, $64

// Q3ROWV sets ACC to the sixteen lanes K_m + Σ c·q of the row whose
// X bytes are at xo(SI) and Y bytes at yo(SI) (Z30 the
// mask 7, Z18 the mask 3, Z8, Z10, Z11 the matrices q3g345, q3gh, q3gd,
// Z24..Z27 A0..A3, Z23 K). Plane 0 is X & 7, plane 1 X's bits 3..5 moved
// down, plane 2 the word shift X >> 6 where the mask 3 is set (bits 6..7
// of the same byte) and the moved high bit elsewhere (VPTERNLOGD select),
// plane 3 Y's bits 0..2 or 3..5 by half.
#define Q3ROWV(xo, yo, ACC, X0, X1, T0, T1) \
	VMOVDQU64       xo(SI), X0       \
	VBROADCASTI64X4 yo(SI), X1       \
	VMOVDQA64       Z23, ACC         \
	VPANDD          Z30, X0, T0      \
	VPDPBUSD        Z24, T0, ACC     \
	VGF2P8AFFINEQB  $0, Z8, X0, T1   \
	VPDPBUSD        Z25, T1, ACC     \
	VPSRLW          $6, X0, T0       \
	VGF2P8AFFINEQB  $0, Z10, X1, T1  \
	VPTERNLOGD      $0xE4, Z18, T1, T0 \
	VPDPBUSD        Z26, T0, ACC     \
	VGF2P8AFFINEQB  $0, Z11, X1, T0  \
	VPDPBUSD        Z27, T0, ACC

// Q3PAIR sets A, the lanes of row a, with B those of row b, to per
// 128-bit lane i the dwords [a, a, b, b]: sc·(lane) of sub-blocks 4i..4i+3
// added in pairs, packing the lanes to int16 (exact, |lane| ≤ 8192) and
// VPMADDWD with the two rows' int8 scales at so(SP) (sign-extended).
#define Q3PAIR(A, B, so, T) \
	VPACKSSDW B, A, A    \
	VPMOVSXBW so(SP), T  \
	VPMADDWD  T, A, A

// Q3QUAD sets A = [a0 a1 b0 b1] and B = [c0 c1 d0 d1] (per 128-bit lane)
// to [a0+a1, b0+b1, c0+c1, d0+d1].
#define Q3QUAD(A, B, T) \
	VSHUFPS $0x88, B, A, T \
	VSHUFPS $0xDD, B, A, A \
	VPADDD  T, A, A

// RL3: 128-bit lanes [L0 L1 L2 L3], [M0 M1 M2 M3] → [L0+L1, L2+L3, M0+M1,
// M2+M3] (applied twice to four quads it leaves the sixteen row sums in
// row order).
#define RL3(A, B, T) \
	VSHUFI32X4 $0x88, B, A, T \
	VSHUFI32X4 $0xDD, B, A, A \
	VPADDD     T, A, A

// func q3HeadVNNI(out *float32, cs, ds *byte, pq *int32, nsb, groups int, s float32)
TEXT ·q3HeadVNNI(SB), NOSPLIT, $256-52
	MOVQ out+0(FP), DI
	MOVQ cs+8(FP), SI
	MOVQ ds+16(FP), BX
	MOVQ pq+24(FP), DX
	MOVQ nsb+32(FP), CX
	MOVQ groups+40(FP), R8
	VBROADCASTSS s+48(FP), Z31
	VPBROADCASTD q3c07<>(SB), Z30
	VPBROADCASTD q3c04<>(SB), Z29
	VPBROADCASTD q3c03<>(SB), Z18
	VPBROADCASTQ q3g345<>(SB), Z8
	VMOVDQU64    q3gh<>(SB), Z10
	VMOVDQU64    q3gd<>(SB), Z11
	VPBROADCASTD q3c0f<>(SB), Z9

q3vgrp:
	VXORPS Z28, Z28, Z28           // f of the sixteen rows
	MOVQ DX, R9
	MOVQ CX, R10

q3vsb:
	// The sixteen rows' scales to int8 (row j at 16j(SP)): the low nibble
	// where Z9 is set, the high bits (q3gsQ) elsewhere.
	VMOVDQU64      1536(SI), Z0
	VMOVDQU64      1600(SI), Z1
	VMOVDQU64      1664(SI), Z2
	VPSRLW         $4, Z0, Z6
	VPSRLW         $4, Z1, Z7
	VPBROADCASTQ   q3gs0<>(SB), Z4
	VGF2P8AFFINEQB $0xE0, Z4, Z2, Z5
	VPTERNLOGD     $0xE4, Z9, Z5, Z0
	VMOVDQU64      Z0, 0(SP)
	VPBROADCASTQ   q3gs1<>(SB), Z4
	VGF2P8AFFINEQB $0xE0, Z4, Z2, Z5
	VPTERNLOGD     $0xE4, Z9, Z5, Z6
	VMOVDQU64      Z6, 64(SP)
	VPBROADCASTQ   q3gs2<>(SB), Z4
	VGF2P8AFFINEQB $0xE0, Z4, Z2, Z5
	VPTERNLOGD     $0xE4, Z9, Z5, Z1
	VMOVDQU64      Z1, 128(SP)
	VPBROADCASTQ   q3gs3<>(SB), Z4
	VGF2P8AFFINEQB $0xE0, Z4, Z2, Z5
	VPTERNLOGD     $0xE4, Z9, Z5, Z7
	VMOVDQU64      Z7, 192(SP)

	VMOVDQU64 (R9), Z24
	VMOVDQU64 64(R9), Z25
	VMOVDQU64 128(R9), Z26
	VMOVDQU64 192(R9), Z27
	VPXORD   Z23, Z23, Z23
	VPDPBUSD Z24, Z29, Z23
	VPDPBUSD Z25, Z29, Z23
	VPDPBUSD Z26, Z29, Z23
	VPDPBUSD Z27, Z29, Z23
	VPXORD   Z22, Z22, Z22
	VPSUBD   Z23, Z22, Z23         // K = −4·Σ q per sub-block
	Q3ROWV(0, 1024, Z12, Z0, Z1, Z2, Z3)
	Q3ROWV(64, 1056, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z12, Z13, 0, Z17)
	Q3ROWV(128, 1088, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(192, 1120, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z14, Z13, 32, Z17)
	Q3QUAD(Z12, Z14, Z17)
	Q3ROWV(256, 1152, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(320, 1184, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z14, Z13, 64, Z17)
	Q3ROWV(384, 1216, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(448, 1248, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z15, Z13, 96, Z17)
	Q3QUAD(Z14, Z15, Z17)
	RL3(Z12, Z14, Z17)
	Q3ROWV(512, 1280, Z14, Z0, Z1, Z2, Z3)
	Q3ROWV(576, 1312, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z14, Z13, 128, Z17)
	Q3ROWV(640, 1344, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(704, 1376, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z15, Z13, 160, Z17)
	Q3QUAD(Z14, Z15, Z17)
	Q3ROWV(768, 1408, Z15, Z0, Z1, Z2, Z3)
	Q3ROWV(832, 1440, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z15, Z13, 192, Z17)
	Q3ROWV(896, 1472, Z16, Z0, Z1, Z2, Z3)
	Q3ROWV(960, 1504, Z13, Z4, Z5, Z6, Z7)
	Q3PAIR(Z16, Z13, 224, Z17)
	Q3QUAD(Z15, Z16, Z17)
	RL3(Z14, Z15, Z17)
	RL3(Z12, Z14, Z17)
	VCVTDQ2PS Z12, Z12             // I of rows 0..15 (exact)
	VCVTPH2PS (BX), Z20
	VMULPS    Z20, Z12, Z12
	VADDPS    Z12, Z28, Z28
	ADDQ $1728, SI
	ADDQ $32, BX
	ADDQ $256, R9
	DECQ R10
	JNZ  q3vsb

	VDIVPS  Z31, Z28, Z28
	VMOVUPS Z28, (DI)
	ADDQ    $64, DI
	DECQ    R8
	JNZ     q3vgrp
	VZEROUPPER
	RET

DATA q3m03<>+0(SB)/8, $0x0303030303030303
DATA q3m03<>+8(SB)/8, $0x0303030303030303
DATA q3m03<>+16(SB)/8, $0x0303030303030303
DATA q3m03<>+24(SB)/8, $0x0303030303030303
GLOBL q3m03<>(SB), RODATA|NOPTR, $32
DATA q3m04<>+0(SB)/8, $0x0404040404040404
DATA q3m04<>+8(SB)/8, $0x0404040404040404
DATA q3m04<>+16(SB)/8, $0x0404040404040404
DATA q3m04<>+24(SB)/8, $0x0404040404040404
GLOBL q3m04<>(SB), RODATA|NOPTR, $32

// Q3KA sets Y12 and Y11 to K of sub-blocks 0..7 and 8..15 of the
// activations at (R9) (Y14 the words 1; uses Y0..Y3, Y10).
#define Q3KA \
	VPBROADCASTD q3c04<>(SB), Y10 \
	VPMADDUBSW (R9), Y10, Y0      \
	VPMADDUBSW 64(R9), Y10, Y1    \
	VPMADDUBSW 128(R9), Y10, Y2   \
	VPMADDUBSW 192(R9), Y10, Y3   \
	VPADDW     Y1, Y0, Y0         \
	VPADDW     Y3, Y2, Y2         \
	VPADDW     Y2, Y0, Y0         \
	VPMADDWD   Y14, Y0, Y0        \
	VPXOR      Y1, Y1, Y1         \
	VPSUBD     Y0, Y1, Y12        \
	VPMADDUBSW 32(R9), Y10, Y0    \
	VPMADDUBSW 96(R9), Y10, Y1    \
	VPMADDUBSW 160(R9), Y10, Y2   \
	VPMADDUBSW 224(R9), Y10, Y3   \
	VPADDW     Y1, Y0, Y0         \
	VPADDW     Y3, Y2, Y2         \
	VPADDW     Y2, Y0, Y0         \
	VPMADDWD   Y14, Y0, Y0        \
	VPXOR      Y1, Y1, Y1         \
	VPSUBD     Y0, Y1, Y11

// Q3ROWA sets LO and HI to the eight lanes K + Σ c·q of sub-blocks 0..7
// and 8..15 of the row whose X bytes are at xo(R11) and Y bytes at
// yo(R11) (Y15 the mask 7, Y7 the mask 3, Y14 the words 1, Y12 and Y11 K;
// uses Y0, Y2, Y5, Y6). LO is positions 0..31 of the planes, HI positions
// 32..63; each VPMADDUBSW word (two codes ≤ 7 times two activations) and
// the sum of four are within int16.
#define Q3ROWA(xo, yo, LO, HI) \
	VMOVDQU    xo(R11), Y0            \
	VMOVDQU    yo(R11), Y2            \
	VPAND      Y15, Y0, LO            \
	VPMADDUBSW (R9), LO, LO           \
	VPSRLW     $3, Y0, Y5             \
	VPAND      Y15, Y5, Y5            \
	VPMADDUBSW 64(R9), Y5, Y5         \
	VPADDW     Y5, LO, LO             \
	VPSRLW     $6, Y0, Y5             \
	VPAND      Y7, Y5, Y5             \
	VPSRLW     $4, Y2, Y6             \
	VPAND      q3m04<>(SB), Y6, Y6    \
	VPOR       Y6, Y5, Y5             \
	VPMADDUBSW 128(R9), Y5, Y5        \
	VPADDW     Y5, LO, LO             \
	VPAND      Y15, Y2, Y5            \
	VPMADDUBSW 192(R9), Y5, Y5        \
	VPADDW     Y5, LO, LO             \
	VPMADDWD   Y14, LO, LO            \
	VPADDD     Y12, LO, LO            \
	VMOVDQU    xo+32(R11), Y0         \
	VPAND      Y15, Y0, HI            \
	VPMADDUBSW 32(R9), HI, HI         \
	VPSRLW     $3, Y0, Y5             \
	VPAND      Y15, Y5, Y5            \
	VPMADDUBSW 96(R9), Y5, Y5         \
	VPADDW     Y5, HI, HI             \
	VPSRLW     $6, Y0, Y5             \
	VPAND      Y7, Y5, Y5             \
	VPSRLW     $5, Y2, Y6             \
	VPAND      q3m04<>(SB), Y6, Y6    \
	VPOR       Y6, Y5, Y5             \
	VPMADDUBSW 160(R9), Y5, Y5        \
	VPADDW     Y5, HI, HI             \
	VPSRLW     $3, Y2, Y5             \
	VPAND      Y15, Y5, Y5            \
	VPMADDUBSW 224(R9), Y5, Y5        \
	VPADDW     Y5, HI, HI             \
	VPMADDWD   Y14, HI, HI            \
	VPADDD     Y11, HI, HI

// Q3PAIRA sets ALO to per 128-bit lane i the dwords [a, a, b, b]: sc·lane
// of row a (ALO, AHI) and row b (BLO, BHI) in sub-blocks 4i..4i+3 and
// 8+4i..8+4i+3 added in pairs (VPACKSSDW to int16, exact; VPMADDWD with
// the rows' int8 scales at so(SP), sign-extended; uses Y5).
#define Q3PAIRA(ALO, AHI, BLO, BHI, so) \
	VPACKSSDW BLO, ALO, ALO   \
	VPMOVSXBW so(SP), Y5      \
	VPMADDWD  Y5, ALO, ALO    \
	VPACKSSDW BHI, AHI, AHI   \
	VPMOVSXBW so+16(SP), Y5   \
	VPMADDWD  Y5, AHI, AHI    \
	VPADDD    AHI, ALO, ALO

// Q3EIGHT sets Y0 to the sums of the eight rows of a half (eight
// Q3ROWA, four Q3PAIRA, two Q3QUAD, one lane exchange; uses Y0..Y6,
// Y8..Y10), the rows' X, Y at xo, yo and their pairs' scales at 0..127(SP).
#define Q3EIGHT(xo, yo) \
	Q3ROWA(xo, yo, Y1, Y8)                \
	Q3ROWA(xo+64, yo+32, Y9, Y10)         \
	Q3PAIRA(Y1, Y8, Y9, Y10, 0)           \
	Q3ROWA(xo+128, yo+64, Y8, Y9)         \
	Q3ROWA(xo+192, yo+96, Y10, Y3)        \
	Q3PAIRA(Y8, Y9, Y10, Y3, 32)          \
	Q3QUAD(Y1, Y8, Y0)                    \
	Q3ROWA(xo+256, yo+128, Y3, Y4)        \
	Q3ROWA(xo+320, yo+160, Y8, Y9)        \
	Q3PAIRA(Y3, Y4, Y8, Y9, 64)           \
	Q3ROWA(xo+384, yo+192, Y4, Y8)        \
	Q3ROWA(xo+448, yo+224, Y9, Y10)       \
	Q3PAIRA(Y4, Y8, Y9, Y10, 96)          \
	Q3QUAD(Y3, Y4, Y0)                    \
	VPERM2I128 $0x20, Y3, Y1, Y0          \
	VPERM2I128 $0x31, Y3, Y1, Y2          \
	VPADDD     Y2, Y0, Y0

DATA q3m0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q3m0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q3m0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q3m0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q3m0f<>(SB), RODATA|NOPTR, $32
DATA q3m30<>+0(SB)/8, $0x3030303030303030
DATA q3m30<>+8(SB)/8, $0x3030303030303030
DATA q3m30<>+16(SB)/8, $0x3030303030303030
DATA q3m30<>+24(SB)/8, $0x3030303030303030
GLOBL q3m30<>(SB), RODATA|NOPTR, $32
DATA q3m20<>+0(SB)/8, $0x2020202020202020
DATA q3m20<>+8(SB)/8, $0x2020202020202020
DATA q3m20<>+16(SB)/8, $0x2020202020202020
DATA q3m20<>+24(SB)/8, $0x2020202020202020
GLOBL q3m20<>(SB), RODATA|NOPTR, $32

// Q3SA01 unpacks bytes h..h+31 of the scale vectors of quads 0 and 1 (rows
// 0..7) to int8 at h(SP) and 64+h(SP): u = nibble | high bits << 4, then
// u − 32 (uses Y0..Y3).
#define Q3SA01(h) \
	VMOVDQU    1536+h(R11), Y0       \
	VMOVDQU    1664+h(R11), Y1       \
	VPAND      q3m0f<>(SB), Y0, Y2   \
	VPSLLW     $4, Y1, Y3            \
	VPAND      q3m30<>(SB), Y3, Y3   \
	VPOR       Y3, Y2, Y2            \
	VPSUBB     q3m20<>(SB), Y2, Y2   \
	VMOVDQU    Y2, h(SP)             \
	VPSRLW     $4, Y0, Y2            \
	VPAND      q3m0f<>(SB), Y2, Y2   \
	VPSLLW     $2, Y1, Y3            \
	VPAND      q3m30<>(SB), Y3, Y3   \
	VPOR       Y3, Y2, Y2            \
	VPSUBB     q3m20<>(SB), Y2, Y2   \
	VMOVDQU    Y2, 64+h(SP)

// Q3SA23 is Q3SA01 for quads 2 and 3 (rows 8..15).
#define Q3SA23(h) \
	VMOVDQU    1600+h(R11), Y0       \
	VMOVDQU    1664+h(R11), Y1       \
	VPAND      q3m0f<>(SB), Y0, Y2   \
	VPAND      q3m30<>(SB), Y1, Y3   \
	VPOR       Y3, Y2, Y2            \
	VPSUBB     q3m20<>(SB), Y2, Y2   \
	VMOVDQU    Y2, h(SP)             \
	VPSRLW     $4, Y0, Y2            \
	VPAND      q3m0f<>(SB), Y2, Y2   \
	VPSRLW     $2, Y1, Y3            \
	VPAND      q3m30<>(SB), Y3, Y3   \
	VPOR       Y3, Y2, Y2            \
	VPSUBB     q3m20<>(SB), Y2, Y2   \
	VMOVDQU    Y2, 64+h(SP)

// func q3HeadAVX2(out *float32, cs, ds *byte, pq *int32, nsb, groups int, s float32)
// Each group as two halves of eight rows (Q3EIGHT).
TEXT ·q3HeadAVX2(SB), NOSPLIT, $128-52
	MOVQ out+0(FP), DI
	MOVQ cs+8(FP), SI
	MOVQ ds+16(FP), BX
	MOVQ pq+24(FP), DX
	MOVQ nsb+32(FP), CX
	MOVQ groups+40(FP), R8
	VPBROADCASTD q3c07<>(SB), Y15
	VPBROADCASTD q3ones<>(SB), Y14
	VMOVDQU      q3m03<>(SB), Y7
	MOVQ  CX, R12
	IMULQ $1728, R12               // code and scale bytes per group
	MOVQ  CX, AX
	SHLQ  $5, AX                   // d bytes per group

q3agrp:
	VXORPS Y13, Y13, Y13           // f of rows 0..7
	MOVQ SI, R11
	MOVQ BX, R13
	MOVQ DX, R9
	MOVQ CX, R10

q3asb0:
	Q3SA01(0)
	Q3SA01(32)
	Q3KA
	Q3EIGHT(0, 1024)               // I of rows 0..7 (exact)
	VCVTDQ2PS  Y0, Y0
	VCVTPH2PS  (R13), Y2
	VMULPS     Y2, Y0, Y0
	VADDPS     Y0, Y13, Y13
	ADDQ $1728, R11
	ADDQ $32, R13
	ADDQ $256, R9
	DECQ R10
	JNZ  q3asb0

	VBROADCASTSS s+48(FP), Y0
	VDIVPS  Y0, Y13, Y13
	VMOVUPS Y13, 0(DI)

	VXORPS Y13, Y13, Y13           // f of rows 8..15
	MOVQ SI, R11
	MOVQ BX, R13
	MOVQ DX, R9
	MOVQ CX, R10

q3asb1:
	Q3SA23(0)
	Q3SA23(32)
	Q3KA
	Q3EIGHT(512, 1280)             // I of rows 8..15 (exact)
	VCVTDQ2PS  Y0, Y0
	VCVTPH2PS  16(R13), Y2
	VMULPS     Y2, Y0, Y0
	VADDPS     Y0, Y13, Y13
	ADDQ $1728, R11
	ADDQ $32, R13
	ADDQ $256, R9
	DECQ R10
	JNZ  q3asb1

	VBROADCASTSS s+48(FP), Y0
	VDIVPS  Y0, Y13, Y13
	VMOVUPS Y13, 32(DI)

	ADDQ R12, SI
	ADDQ AX, BX
	ADDQ $64, DI
	DECQ R8
	JNZ  q3agrp
	VZEROUPPER
	RET
