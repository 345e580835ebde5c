package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// FP32ToFP16 converts to IEEE binary16, rounding to nearest even (as
// ggml's GGML_FP32_TO_FP16 does); overflow gives ±Inf and NaN stays NaN.
func FP32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint32(e)<<10 | man>>13
		rem := man & 0x1fff
		if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++ // a carry into the exponent is the correct rounding (up to Inf)
		}
		return sign | uint16(h)
	}
	// Subnormal half: value = m·2^(exp−150) in units of 2^−24.
	shift := uint(14 - e)
	if exp == 0 || shift > 24 {
		return sign
	}
	m := man | 0x800000
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// FP16ToFP32 converts an IEEE binary16 value to float32 (exactly).
func FP16ToFP32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: man·2^−24.
	v := float32(man) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

func checkFinite(x []float32) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("gguf: value %d is %v; only finite values can be quantized", i, v)
		}
	}
	return nil
}

// roundf rounds half away from zero, as C's roundf and lroundf do.
func roundf(x float32) float32 { return float32(math.Round(float64(x))) }

func amax(x []float32) float32 {
	var m float32
	for _, v := range x {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m
}

// Quantize encodes x as type t. len(x) must be a multiple of the block size
// and every value finite. F32 and F16 are plain little-endian values; the
// block types follow ggml's reference quantizers.
func Quantize(t Type, x []float32) ([]byte, error) {
	size, err := RowBytes(t, len(x))
	if err != nil {
		return nil, err
	}
	if t != F32 {
		if err := checkFinite(x); err != nil {
			return nil, err
		}
	}
	out := make([]byte, size)
	switch t {
	case F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], FP32ToFP16(v))
		}
	case Q8_0:
		for b := 0; b < len(x)/QK8_0; b++ {
			quantQ8_0(out[b*34:b*34+34], x[b*QK8_0:b*QK8_0+QK8_0])
		}
	case Q4_0:
		for b := 0; b < len(x)/QK4_0; b++ {
			quantQ4_0(out[b*18:b*18+18], x[b*QK4_0:b*QK4_0+QK4_0])
		}
	case Q3_K:
		for b := 0; b < len(x)/QK_K; b++ {
			quantQ3K(out[b*q3KBytes:(b+1)*q3KBytes], x[b*QK_K:(b+1)*QK_K])
		}
	case TQ2_0:
		for b := 0; b < len(x)/QK_K; b++ {
			quantTQ2_0(out[b*66:b*66+66], x[b*QK_K:b*QK_K+QK_K])
		}
	case TQ1_0:
		for b := 0; b < len(x)/QK_K; b++ {
			quantTQ1_0(out[b*54:b*54+54], x[b*QK_K:b*QK_K+QK_K])
		}
	}
	return out, nil
}

// quantQ8_0 is quantize_row_q8_0_ref for one block: d = max|x|/127,
// q = roundf(x/d).
func quantQ8_0(dst []byte, x []float32) {
	d := amax(x) / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, FP32ToFP16(d))
	for j, v := range x {
		dst[2+j] = byte(int8(roundf(v * id)))
	}
}

// quantQ4_0 is quantize_row_q4_0_ref for one block: d = (the value of
// largest magnitude)/−8, q = min(15, trunc(x/d + 8.5)); value j in the low
// nibble of byte j, value j+16 in its high nibble.
func quantQ4_0(dst []byte, x []float32) {
	var am, mx float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); am < a {
			am, mx = a, v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, FP32ToFP16(d))
	for j := 0; j < QK4_0/2; j++ {
		x0 := x[j] * id
		x1 := x[QK4_0/2+j] * id
		q0 := min(15, int8(x0+8.5))
		q1 := min(15, int8(x1+8.5))
		dst[2+j] = byte(q0) | byte(q1)<<4
	}
}

// ternaryCode is lroundf(x·id) + 1 ∈ {0, 1, 2} for |x·id| ≤ 1.
func ternaryCode(x, id float32) uint8 {
	c := int(roundf(x*id)) + 1
	return uint8(min(max(c, 0), 2))
}

// quantTQ2_0 is quantize_row_tq2_0_ref for one block: d = max|x|; element
// 128h + 32l + m has code t+1 in bits 2l..2l+1 of qs[32h+m]; d at byte 64.
func quantTQ2_0(dst []byte, x []float32) {
	d := amax(x)
	var id float32
	if d != 0 {
		id = 1 / d
	}
	for h := 0; h < 2; h++ {
		for m := 0; m < 32; m++ {
			var q uint8
			for l := 0; l < 4; l++ {
				q |= ternaryCode(x[128*h+32*l+m], id) << (2 * l)
			}
			dst[32*h+m] = q
		}
	}
	binary.LittleEndian.PutUint16(dst[64:], FP32ToFP16(d))
}

// pack5 packs base-3 digits (most significant first) into one byte as
// ⌈v·256/243⌉.
func pack5(v uint16) uint8 { return uint8((v*256 + 242) / 243) }

// quantTQ1_0 is quantize_row_tq1_0_ref for one block: elements 0..159 in
// qs[0..32) (trit n of byte m is element 32n+m), 160..239 in qs[32..48)
// (element 160+16n+m), 240..255 in qh[0..4) (element 240+4n+m, four trits
// then ×3); d at byte 52.
func quantTQ1_0(dst []byte, x []float32) {
	d := amax(x)
	var id float32
	if d != 0 {
		id = 1 / d
	}
	for m := 0; m < 32; m++ {
		var v uint16
		for n := 0; n < 5; n++ {
			v = v*3 + uint16(ternaryCode(x[32*n+m], id))
		}
		dst[m] = pack5(v)
	}
	for m := 0; m < 16; m++ {
		var v uint16
		for n := 0; n < 5; n++ {
			v = v*3 + uint16(ternaryCode(x[160+16*n+m], id))
		}
		dst[32+m] = pack5(v)
	}
	for m := 0; m < 4; m++ {
		var v uint16
		for n := 0; n < 4; n++ {
			v = v*3 + uint16(ternaryCode(x[240+4*n+m], id))
		}
		dst[48+m] = pack5(v * 3)
	}
	binary.LittleEndian.PutUint16(dst[52:], FP32ToFP16(d))
}

// Pow3 are the powers of three that select a trit of a TQ1_0 byte.
var Pow3 = [5]uint8{1, 3, 9, 27, 81}

// Trit returns code n (0 = most significant) ∈ {0, 1, 2} of a TQ1_0 byte.
func Trit(b uint8, n int) uint8 {
	u := b * Pow3[n] // mod 256
	return uint8((uint16(u) * 3) >> 8)
}

// TernaryCodes decodes the codes t+1 ∈ {0, 1, 2} of one TQ2_0 or TQ1_0
// block (66 or 54 bytes) into codes[0..256) and returns the block's d.
func TernaryCodes(t Type, block []byte, codes []uint8) (float32, error) {
	if len(codes) < QK_K {
		return 0, fmt.Errorf("gguf: TernaryCodes needs room for %d codes", QK_K)
	}
	switch t {
	case TQ2_0:
		if len(block) < 66 {
			return 0, fmt.Errorf("gguf: a TQ2_0 block is 66 bytes, got %d", len(block))
		}
		for h := 0; h < 2; h++ {
			for l := 0; l < 4; l++ {
				for m := 0; m < 32; m++ {
					codes[128*h+32*l+m] = block[32*h+m] >> (2 * l) & 3
				}
			}
		}
		return FP16ToFP32(binary.LittleEndian.Uint16(block[64:])), nil
	case TQ1_0:
		if len(block) < 54 {
			return 0, fmt.Errorf("gguf: a TQ1_0 block is 54 bytes, got %d", len(block))
		}
		for n := 0; n < 5; n++ {
			for m := 0; m < 32; m++ {
				codes[32*n+m] = Trit(block[m], n)
			}
			for m := 0; m < 16; m++ {
				codes[160+16*n+m] = Trit(block[32+m], n)
			}
		}
		for n := 0; n < 4; n++ {
			for m := 0; m < 4; m++ {
				codes[240+4*n+m] = Trit(block[48+m], n)
			}
		}
		return FP16ToFP32(binary.LittleEndian.Uint16(block[52:])), nil
	}
	return 0, fmt.Errorf("gguf: %s is not a ternary type", t)
}

// Dequantize decodes n values of type t from data (which must hold exactly
// their bytes), as ggml's dequantize_row_* functions do.
func Dequantize(t Type, data []byte, n int) ([]float32, error) {
	size, err := RowBytes(t, n)
	if err != nil {
		return nil, err
	}
	if len(data) != size {
		return nil, fmt.Errorf("gguf: %d values of %s take %d bytes, got %d", n, t, size, len(data))
	}
	out := make([]float32, n)
	switch t {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = FP16ToFP32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case Q8_0:
		for b := 0; b < n/QK8_0; b++ {
			blk := data[b*34:]
			d := FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < QK8_0; j++ {
				out[b*QK8_0+j] = float32(int8(blk[2+j])) * d
			}
		}
	case Q4_0:
		for b := 0; b < n/QK4_0; b++ {
			blk := data[b*18:]
			d := FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < QK4_0/2; j++ {
				out[b*QK4_0+j] = float32(int(blk[2+j]&0x0f)-8) * d
				out[b*QK4_0+QK4_0/2+j] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	case Q3_K:
		for b := 0; b < n/QK_K; b++ {
			DequantizeQ3K(out[b*QK_K:(b+1)*QK_K], data[b*q3KBytes:(b+1)*q3KBytes])
		}
	case TQ2_0, TQ1_0:
		var codes [QK_K]uint8
		bs := t.TypeSize()
		for b := 0; b < n/QK_K; b++ {
			d, err := TernaryCodes(t, data[b*bs:(b+1)*bs], codes[:])
			if err != nil {
				return nil, err
			}
			for j, c := range codes {
				out[b*QK_K+j] = float32(int(c)-1) * d
			}
		}
	}
	return out, nil
}

// PadRows copies rows×width values into rows of padded ≥ width values, the
// extra columns zero.
func PadRows(x []float32, rows, width, padded int) ([]float32, error) {
	if width <= 0 || padded < width || rows < 0 || len(x) != rows*width {
		return nil, fmt.Errorf("gguf: PadRows: %d values are not %d rows of %d (padded to %d)", len(x), rows, width, padded)
	}
	out := make([]float32, rows*padded)
	for r := 0; r < rows; r++ {
		copy(out[r*padded:], x[r*width:(r+1)*width])
	}
	return out, nil
}

// UnpadRows keeps the first width of every padded row of x: the inverse of
// PadRows.
func UnpadRows(x []float32, rows, width, padded int) ([]float32, error) {
	if width <= 0 || padded < width || rows < 0 || len(x) != rows*padded {
		return nil, fmt.Errorf("gguf: UnpadRows: %d values are not %d rows of %d (true width %d)", len(x), rows, padded, width)
	}
	out := make([]float32, rows*width)
	for r := 0; r < rows; r++ {
		copy(out[r*width:], x[r*padded:r*padded+width])
	}
	return out, nil
}

// PaddedWidth rounds n up to a multiple of the block size of t.
func PaddedWidth(t Type, n int) int {
	bs := t.BlockSize()
	return (n + bs - 1) / bs * bs
}
