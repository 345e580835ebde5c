//go:build !purego

#include "textflag.h"

// func updateAVX512(p *byte, n int, k uint64)
// Adds k to every little-endian 64-bit word of the n bytes (a multiple of
// 512) in place: eight 64-byte loads, adds and stores a round.
TEXT ·updateAVX512(SB), NOSPLIT, $0-24
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VPBROADCASTQ k+16(FP), Z8
	SHRQ         $9, CX
	JZ           up512done

up512loop:
	VPADDQ    (SI), Z8, Z0
	VPADDQ    64(SI), Z8, Z1
	VPADDQ    128(SI), Z8, Z2
	VPADDQ    192(SI), Z8, Z3
	VPADDQ    256(SI), Z8, Z4
	VPADDQ    320(SI), Z8, Z5
	VPADDQ    384(SI), Z8, Z6
	VPADDQ    448(SI), Z8, Z7
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	VMOVDQU64 Z2, 128(SI)
	VMOVDQU64 Z3, 192(SI)
	VMOVDQU64 Z4, 256(SI)
	VMOVDQU64 Z5, 320(SI)
	VMOVDQU64 Z6, 384(SI)
	VMOVDQU64 Z7, 448(SI)
	ADDQ      $512, SI
	DECQ      CX
	JNZ       up512loop

up512done:
	VZEROUPPER
	RET

// func updateAVX2(p *byte, n int, k uint64)
// updateAVX512 with 32-byte loads, adds and stores (eight a round of 256
// bytes; n a multiple of 512).
TEXT ·updateAVX2(SB), NOSPLIT, $0-24
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VPBROADCASTQ k+16(FP), Y8
	SHRQ         $8, CX
	JZ           up256done

up256loop:
	VPADDQ  (SI), Y8, Y0
	VPADDQ  32(SI), Y8, Y1
	VPADDQ  64(SI), Y8, Y2
	VPADDQ  96(SI), Y8, Y3
	VPADDQ  128(SI), Y8, Y4
	VPADDQ  160(SI), Y8, Y5
	VPADDQ  192(SI), Y8, Y6
	VPADDQ  224(SI), Y8, Y7
	VMOVDQU Y0, (SI)
	VMOVDQU Y1, 32(SI)
	VMOVDQU Y2, 64(SI)
	VMOVDQU Y3, 96(SI)
	VMOVDQU Y4, 128(SI)
	VMOVDQU Y5, 160(SI)
	VMOVDQU Y6, 192(SI)
	VMOVDQU Y7, 224(SI)
	ADDQ    $256, SI
	DECQ    CX
	JNZ     up256loop

up256done:
	VZEROUPPER
	RET
