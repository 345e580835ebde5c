package gguf

import (
	"encoding/binary"
	"math"
)

// The Q3_K block (ggml's block_q3_K): hmask[32] (the high bit of each 3-bit
// code), qs[64] (the low two bits), scales[12] (sixteen 6-bit sub-block
// scales, packed), fp16 d at byte 108.
const (
	q3KBytes  = QK_K/8 + QK_K/4 + 12 + 2
	q3KQs     = QK_K / 8
	q3KScales = q3KQs + QK_K/4
	q3KD      = q3KScales + 12
)

// nearestInt is ggml's nearest_int: the float32 sum fval + 1.5·2^23 rounds
// fval to an integer (ties to even) in the low mantissa bits. Like ggml it
// is meant for |fval| ≤ 4194303 and gives the same bits beyond. The
// explicit conversion keeps a caller's product from fusing into the add.
func nearestInt(fval float32) int32 {
	val := float32(fval) + 12582912
	i := int32(math.Float32bits(val))
	return (i & 0x007fffff) - 0x00400000
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// groupMaxEps is ggml's GROUP_MAX_EPS (1e-15f).
const groupMaxEps float32 = 1e-15

// makeQ3Quants is ggml's make_q3_quants(n, nmax = 4, x, L, do_rmse = true):
// codes l ∈ [−4, 3] from the scale −4/max (max the value of largest
// magnitude), then up to five passes that move single codes while the
// x²-weighted fit (Σ w·x·l)² / Σ w·l² improves; L gets l + 4 (or 0 for an
// all-zero group) and the result is the group's scale Σ w·x·l / Σ w·l².
// Every float32 product is converted explicitly so that no machine fuses it
// into the following add (ggml's C is evaluated without contraction).
func makeQ3Quants(x []float32, L []int8) float32 {
	const nmax = 4
	var mx, am float32
	for _, v := range x {
		if ax := abs32(v); ax > am {
			am, mx = ax, v
		}
	}
	if am < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	iscale := -nmax / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(max(nearestInt(iscale*v), -nmax), nmax-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - float32(w*v*li)
			if slx > 0 {
				sl2 := suml2 - float32(w*li*li)
				nl := min(max(nearestInt(v*sl2/slx), -nmax), nmax-1)
				if nl != int32(L[i]) {
					fn := float32(nl)
					slx += float32(w * v * fn)
					sl2 += float32(w * fn * fn)
					if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i], sumlx, suml2 = int8(nl), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L[:len(x)] {
		L[i] += nmax
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// quantQ3K is ggml's quantize_row_q3_K_ref for one block: a scale per
// sixteen values from makeQ3Quants, the sixteen scales quantized to 6 bits
// against the one of largest magnitude (d = that scale / −32, in fp16), then
// every value re-coded against its quantized sub-block scale d·sc; the code
// c = l + 4 ∈ [0, 7] split into hmask (bit 2) and qs (bits 0–1).
func quantQ3K(dst []byte, x []float32) {
	var L [QK_K]int8
	var scales [QK_K / 16]float32
	var maxScale, am float32
	for j := range scales {
		scales[j] = makeQ3Quants(x[16*j:16*j+16], L[16*j:16*j+16])
		if s := abs32(scales[j]); s > am {
			am, maxScale = s, scales[j]
		}
	}
	clear(dst[:q3KBytes])
	sc := dst[q3KScales : q3KScales+12]
	var d uint16
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range scales {
			l := int8(nearestInt(iscale * scales[j])) // C's int → int8_t wraps
			l = min(max(l, -32), 31) + 32
			if j < 8 {
				sc[j] = byte(l & 0xf)
			} else {
				sc[j-8] |= byte(l&0xf) << 4
			}
			l >>= 4
			sc[j%4+8] |= byte(l) << (2 * (j / 4))
		}
		d = FP32ToFP16(1 / iscale)
	} else {
		d = FP32ToFP16(0)
	}
	binary.LittleEndian.PutUint16(dst[q3KD:], d)
	dAll := FP16ToFP32(d)
	for j := range scales {
		var s int8
		if j < 8 {
			s = int8(sc[j] & 0xf)
		} else {
			s = int8(sc[j-8] >> 4)
		}
		s = (s | int8((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
		dl := dAll * float32(s)
		if dl == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := min(max(nearestInt(x[16*j+ii]/dl), -4), 3)
			L[16*j+ii] = int8(l + 4)
		}
	}
	// The high bit of element j goes to bit j/32 of hmask[j%32].
	hmask := dst[:q3KQs]
	for j := range L {
		if L[j] > 3 {
			hmask[j%32] |= 1 << (j / 32)
			L[j] -= 4
		}
	}
	qs := dst[q3KQs:q3KScales]
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = byte(L[j+l]) | byte(L[j+l+32])<<2 | byte(L[j+l+64])<<4 | byte(L[j+l+96])<<6
		}
	}
}

// Q3KScales unpacks the sixteen 6-bit sub-block scales of a Q3_K block as
// ggml's dequantize_row_q3_K does (three little-endian uint32 words
// shuffled into four, each byte a scale 0..63), returned minus 32: sc[is] ∈
// [−32, 31] is the scale of elements 16·is .. 16·is+15.
func Q3KScales(block []byte) (sc [QK_K / 16]int8) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	var aux [4]uint32
	for i := 0; i < 3; i++ {
		aux[i] = binary.LittleEndian.Uint32(block[q3KScales+4*i:])
	}
	tmp := aux[2]
	aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
	aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
	aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
	aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
	for is := range sc {
		sc[is] = int8(aux[is/4]>>(8*(is%4))) - 32
	}
	return sc
}

// DequantizeQ3K writes the 256 values of one 110-byte Q3_K block into dst,
// as ggml's dequantize_row_q3_K computes them: element 128h + 32j + l has
// the code c = ((qs[32h+l] >> 2j) & 3) + 4·(bit 4h+j of hmask[l]) and the
// value dl·float32(c − 4) with dl = d·float32(sc[2(4h+j) + l/16]), both
// products in float32.
func DequantizeQ3K(dst []float32, block []byte) {
	_ = block[q3KBytes-1]
	_ = dst[QK_K-1]
	d := FP16ToFP32(binary.LittleEndian.Uint16(block[q3KD:]))
	sc := Q3KScales(block)
	hm := block[:q3KQs]
	is := 0
	var m uint8 = 1
	for h := 0; h < 2; h++ {
		q := block[q3KQs+32*h : q3KQs+32*h+32]
		for j := 0; j < 4; j++ {
			shift := 2 * j
			for half := 0; half < 2; half++ {
				dl := d * float32(sc[is])
				is++
				for l := 16 * half; l < 16*half+16; l++ {
					c := int((q[l] >> shift) & 3)
					if hm[l]&m == 0 {
						c -= 4
					}
					dst[128*h+32*j+l] = dl * float32(c)
				}
			}
			m <<= 1
		}
	}
}
