package dot

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// Q3_K rows in the int8 head.
//
// A Q3_K super-block (ggml's block_q3_K, 256 weights, Q3KBlock bytes) holds
// 3-bit codes c ∈ [0, 7] (value c − 4), sixteen 6-bit sub-block scales
// sc ∈ [−32, 31] (one per 16 elements) and an fp16 scale d. Element
// e = 128h + 32j + l (h = 0, 1; j = 0..3; l = 0..31) has the low bits
// (qs[32h+l] >> 2j) & 3 and the high bit (hmask[l] >> (4h+j)) & 1; its
// sub-block is e/16 and its value d·sc[e/16]·(c−4) (dequantize_row_q3_K).
//
// # Bits
//
// HeadRowsDiv gives, for row v with super-blocks b = 0..nb/8−1 and int8
// activations q (any value, −128 included) and the activation scale s:
//
//	I_b    = Σ_{m<16} sc_{b,m} · Σ_{e in sub-block m} (c_e − 4)·q_{256b+e}   (exact int32)
//	f      = f + float32(float32(I_b)·d_b)   (float32, b ascending, f from +0, no fused multiply-add)
//	out[v] = f / s                            (one float32 division)
//
// |I_b| ≤ 256·128·128 = 2^22, so float32(I_b) is exact; the Go twin
// (rowsQ3KGo) and every vector kernel give these bits for any input and
// any split of the rows.
//
// # Layout
//
// Sixteen rows to a group (the last one padded with zero rows); a group
// holds, for each super-block b in turn, q3GroupSB = 16·146 bytes: the
// rows' codes (128 bytes a row, row j at 128j), then their sub-block
// scales as int8 (16 bytes a row, at 2048 + 16j), then their fp16 d (at
// 2304 + 2j): 146 bytes per 256 weights against the file's 110.
//
// The 128 code bytes of a row are four 64-byte vectors of nibbles: vector
// t = 0..3 is the low (t even) or high (t odd) nibbles of bytes
// 64·(t/2) .. 64·(t/2)+63, and its byte 4m+i holds the code of element
// 16m + 4t + i. So dword lane m of the four VPDPBUSD products of a row
// sums exactly sub-block m's sixteen c·q when the activations are
// reordered the same way (actsQ3K): the kernels add the token's −4·Σq of
// each sub-block, multiply the sixteen lanes by the sixteen scales
// (VPMOVSXBD, VPMULLD) and reduce sixteen rows' lanes together.

// Q3KBlock is the size in bytes of a Q3_K super-block of 256 weights.
const Q3KBlock = 110

// q3K is ggml's Q3_K type.
const q3K = gguf.Q3_K

const (
	q3Rows    = 16                   // rows per group
	q3RowSB   = 128 + 16 + 2         // layout bytes per row and super-block
	q3GroupSB = q3Rows * q3RowSB     // bytes per super-block of a group
	q3Scales  = q3Rows * 128         // the scales' offset in a group's super-block
	q3D       = q3Scales + q3Rows*16 // the fp16 scales' offset
)

// q3Decode unpacks a Q3_K block's codes c (element order) and sub-block
// scales.
func q3Decode(blk []byte, c *[256]uint8, sc *[16]int8) {
	hm, qs := blk[:32], blk[32:96]
	for h := 0; h < 2; h++ {
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				c[128*h+32*j+l] = (qs[32*h+l]>>(2*j))&3 | ((hm[l]>>(4*h+j))&1)<<2
			}
		}
	}
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	var aux [4]uint32
	for i := 0; i < 3; i++ {
		aux[i] = binary.LittleEndian.Uint32(blk[96+4*i:])
	}
	tmp := aux[2]
	aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
	aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
	aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
	aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
	for is := range sc {
		sc[is] = int8(uint8(aux[is/4]>>(8*(is%4)))) - 32
	}
}

// q3Pos is where the code of element e (of a super-block) lies in a row's
// 128 code bytes: byte p, at bit sh.
func q3Pos(e int) (p int, sh uint) {
	m, t, i := e/16, e/4%4, e%4
	return 64*(t/2) + 4*m + i, uint(4 * (t % 2))
}

func (h *QHead) copyRowsQ3K(w []byte, lo, hi int) {
	nsb, gb := h.nb/8, h.groupBytes()
	var c [256]uint8
	var sc [16]int8
	for r := lo; r < hi; r++ {
		row := w[(r-lo)*nsb*Q3KBlock:]
		grp := h.buf[r/q3Rows*gb:]
		j := r % q3Rows
		for b := 0; b < nsb; b++ {
			blk := row[b*Q3KBlock : (b+1)*Q3KBlock]
			sb := grp[b*q3GroupSB : (b+1)*q3GroupSB]
			q3Decode(blk, &c, &sc)
			codes := sb[128*j : 128*j+128]
			for p := range codes {
				// Byte p holds elements 16m+4t+i (low nibble) and 16m+4t+4+i
				// (high nibble), t = 2·(p/64), m = p%64/4, i = p%4.
				e := 16*(p%64/4) + 8*(p/64) + p%4
				codes[p] = c[e] | c[e+4]<<4
			}
			for m, v := range sc {
				sb[q3Scales+16*j+m] = uint8(v)
			}
			copy(sb[q3D+2*j:q3D+2*j+2], blk[108:110])
		}
	}
}

func (h *QHead) rowQ3K(dst []float32, r int) {
	grp := h.buf[r/q3Rows*h.groupBytes():]
	j := r % q3Rows
	for b := 0; 256*b < len(dst); b++ {
		sb := grp[b*q3GroupSB : (b+1)*q3GroupSB]
		d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(sb[q3D+2*j:]))
		codes := sb[128*j : 128*j+128]
		for e := range dst[256*b : min(len(dst), 256*b+256)] {
			p, sh := q3Pos(e)
			c := int32(codes[p]>>sh) & 15
			dl := float32(d * float32(int8(sb[q3Scales+16*j+e/16])))
			dst[256*b+e] = float32(dl * float32(c-4))
		}
	}
}

// actsQ3K writes the activations q (nb/8 super-blocks) into k's bytes in
// the order of the code vectors: byte 256b + 64t + 4m + i of k is
// q[256b + 16m + 4t + i]. The kernels read them from there (and derive the
// sub-blocks' −4·Σq from them); the Go twin reads q.
func (h *QHead) actsQ3K(k []int32, q []int8) {
	nsb := len(q) / 256
	if len(k) < nsb*64 {
		panic("dot.QHead.Acts: k holds fewer than len(q)/4 values")
	}
	if nsb == 0 {
		return
	}
	pq := unsafe.Slice((*int8)(unsafe.Pointer(&k[0])), 4*len(k))
	for b := 0; b < nsb; b++ {
		src, dst := q[256*b:256*b+256], pq[256*b:256*b+256]
		for m := 0; m < 16; m++ {
			for t := 0; t < 4; t++ {
				copy(dst[64*t+4*m:64*t+4*m+4], src[16*m+4*t:16*m+4*t+4])
			}
		}
	}
}

// q3LUTRows is the number of rows from which rowsQ3KGo builds a table of
// the token's code-byte products (q3Table) instead of multiplying.
const q3LUTRows = 64

// q3Tables holds *[]int16 tables for rowsQ3KGo between calls.
var q3Tables sync.Pool

// q3Table fills t (nsb·128·128 values) with, for super-block b, code byte
// position p of a row's 128 (its two nibbles codes of elements e and e+4,
// e = 16·(p%64/4) + 8·(p/64) + p%4) and byte value v = lo | hi<<4 (lo, hi
// ∈ [0, 7]), t[(128b + p)·128 + v] = (lo−4)·q_e + (hi−4)·q_{e+4}: exact,
// |t| ≤ 1024.
func q3Table(t []int16, q []int8, nsb int) {
	for b := 0; b < nsb; b++ {
		x := q[256*b : 256*b+256]
		for p := 0; p < 128; p++ {
			e := 16*(p%64/4) + 8*(p/64) + p%4
			qa, qb := int16(x[e]), int16(x[e+4])
			row := t[(128*b+p)*128 : (128*b+p+1)*128]
			for hi := int16(0); hi < 8; hi++ {
				base := (hi - 4) * qb
				for lo := int16(0); lo < 8; lo++ {
					row[lo|hi<<4] = (lo-4)*qa + base
				}
			}
		}
	}
}

// rowsQ3KGo is the Go twin of the Q3_K kernels (the bits above). From
// q3LUTRows rows on it looks the sub-blocks' integer sums up in a table of
// the token's products (q3Table) instead of multiplying: the same exact
// integers, so the same bits.
func (h *QHead) rowsQ3KGo(out []float32, lo int, q []int8, s float32) {
	nsb, gb := h.nb/8, h.groupBytes()
	if len(out) >= q3LUTRows {
		tp, _ := q3Tables.Get().(*[]int16)
		if tp == nil || len(*tp) < nsb*128*128 {
			t := make([]int16, nsb*128*128)
			tp = &t
		}
		t := (*tp)[:nsb*128*128]
		q3Table(t, q, nsb)
		h.rowsQ3KTable(out, lo, t, s)
		q3Tables.Put(tp)
		return
	}
	for i := range out {
		r := lo + i
		grp := h.buf[r/q3Rows*gb:]
		j := r % q3Rows
		var f float32
		for b := 0; b < nsb; b++ {
			sb := grp[b*q3GroupSB : (b+1)*q3GroupSB]
			codes := sb[128*j : 128*j+128]
			x := q[256*b : 256*b+256]
			sc := sb[q3Scales+16*j : q3Scales+16*j+16]
			var ib int32
			for m := 0; m < 16; m++ {
				// Sub-block m: bytes 4m..4m+3 of each half, the low nibbles
				// elements 16m+8h+i, the high ones 16m+8h+4+i.
				c0, c1 := codes[4*m:4*m+4], codes[64+4*m:64+4*m+4]
				xm := x[16*m : 16*m+16]
				p := (int32(c0[0]&15)-4)*int32(xm[0]) + (int32(c0[1]&15)-4)*int32(xm[1]) +
					(int32(c0[2]&15)-4)*int32(xm[2]) + (int32(c0[3]&15)-4)*int32(xm[3]) +
					(int32(c0[0]>>4)-4)*int32(xm[4]) + (int32(c0[1]>>4)-4)*int32(xm[5]) +
					(int32(c0[2]>>4)-4)*int32(xm[6]) + (int32(c0[3]>>4)-4)*int32(xm[7]) +
					(int32(c1[0]&15)-4)*int32(xm[8]) + (int32(c1[1]&15)-4)*int32(xm[9]) +
					(int32(c1[2]&15)-4)*int32(xm[10]) + (int32(c1[3]&15)-4)*int32(xm[11]) +
					(int32(c1[0]>>4)-4)*int32(xm[12]) + (int32(c1[1]>>4)-4)*int32(xm[13]) +
					(int32(c1[2]>>4)-4)*int32(xm[14]) + (int32(c1[3]>>4)-4)*int32(xm[15])
				ib += int32(int8(sc[m])) * p
			}
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(sb[q3D+2*j:]))
			f = f + float32(float32(ib)*d)
		}
		out[i] = f / s
	}
}

// rowsQ3KTable is rowsQ3KGo with the products looked up in t (q3Table).
func (h *QHead) rowsQ3KTable(out []float32, lo int, t []int16, s float32) {
	nsb, gb := h.nb/8, h.groupBytes()
	for i := range out {
		r := lo + i
		grp := h.buf[r/q3Rows*gb:]
		j := r % q3Rows
		var f float32
		for b := 0; b < nsb; b++ {
			sb := grp[b*q3GroupSB : (b+1)*q3GroupSB]
			codes := sb[128*j : 128*j+128]
			sc := sb[q3Scales+16*j : q3Scales+16*j+16]
			tb := (*[128 * 128]int16)(t[b*128*128 : (b+1)*128*128])
			var ib int32
			for m := 0; m < 16; m++ {
				c0 := (*[4]uint8)(codes[4*m : 4*m+4])
				c1 := (*[4]uint8)(codes[64+4*m : 64+4*m+4])
				t0 := (*[4 * 128]int16)(tb[4*m*128 : (4*m+4)*128])
				t1 := (*[4 * 128]int16)(tb[(64+4*m)*128 : (64+4*m+4)*128])
				p := int32(t0[c0[0]&127]) + int32(t0[128+int(c0[1]&127)]) +
					int32(t0[256+int(c0[2]&127)]) + int32(t0[384+int(c0[3]&127)]) +
					int32(t1[c1[0]&127]) + int32(t1[128+int(c1[1]&127)]) +
					int32(t1[256+int(c1[2]&127)]) + int32(t1[384+int(c1[3]&127)])
				ib += int32(int8(sc[m])) * p
			}
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(sb[q3D+2*j:]))
			f = f + float32(float32(ib)*d)
		}
		out[i] = f / s
	}
}
