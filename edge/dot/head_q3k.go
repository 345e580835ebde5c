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
// 110 bytes per row and super-block, the file's block size: 96 bytes of
// codes, twelve of sub-block scales (6 bits each), the fp16 d. Sixteen
// rows to a group (the last one padded with zero rows). The buffer holds
// first, for every group g and super-block b in turn (index
// s = g·nb/8 + b), q3GroupSB = 1728 bytes at 1728s: the rows' code bytes X
// (64 a row, row j at 64j), then their code bytes Y (32 a row, at
// 1024 + 32j), then their scales (192 bytes at 1536); then, after all of
// those, the rows' fp16 d, 32 bytes per group and super-block (row j's at
// 32s + 2j). Every 64-byte load of X and of the scales is aligned.
//
// The codes are four planes t = 0..3 of 64 codes: position p = 4m + i
// (m = 0..15, i = 0..3) of plane t is element 16m + 4t + i, so that the
// four bytes of a dword lane m are all in sub-block m. With c_t(p) the
// code of plane t at p:
//
//	X[p] = c_0(p) | c_1(p)<<3 | (c_2(p)&3)<<6                          p = 0..63
//	Y[k] = c_3(k) | c_3(k+32)<<3 | (c_2(k)>>2)<<6 | (c_2(k+32)>>2)<<7   k = 0..31
//
// The scales: u = sc + 32 ∈ [0, 63] of row j's sub-block m is the entry
// n = 32·(j%4/2) + 8·(m/4) + 4·(j%2) + m%4 of quad Q = j/4 (rows 2p and
// 2p+1 interleaved four sub-blocks at a time, the order of VPACKSSDW); the
// 192 bytes are three 64-byte vectors A, B, C, with u's low four bits in
// the low (Q = 0, 2) or high (Q = 1, 3) nibble of A[n] (Q < 2) or B[n]
// (Q ≥ 2) and its high two bits at bits 2Q..2Q+1 of C[n]. The kernels
// unpack a group's 256 scales to int8 once per super-block (a few vector
// operations for sixteen rows).
//
// The AVX-512 kernel takes each code plane as whole codes in bits 0..2 of
// a 64-byte vector: plane 0 with VPANDD, planes 1 and 3 with one
// VGF2P8AFFINEQB bit gather each (Y broadcast to both halves, a matrix per
// half), plane 2 with a word shift of X and its high bit gathered from Y,
// selected together by VPTERNLOGD; the AVX2 kernel with shifts and masks.
// The activations are reordered the same way (actsQ3K: A_t, byte 4m+i =
// q[16m+4t+i]), so that dword lane m of the four VPDPBUSD products of a row
// sums exactly sub-block m's sixteen c·q: the kernels add the token's
// −4·Σq of each sub-block (each lane is then Σ (c−4)·q, |·| ≤ 16·4·128 =
// 8192), pack two rows' lanes to int16 (VPACKSSDW, exact), multiply them
// by the scales and add pairs of sub-blocks (VPMADDWD) and reduce sixteen
// rows' lanes together.

// Q3KBlock is the size in bytes of a Q3_K super-block of 256 weights.
const Q3KBlock = 110

// q3K is ggml's Q3_K type.
const q3K = gguf.Q3_K

const (
	q3Rows    = 16                      // rows per group
	q3RowSB   = 64 + 32 + 12 + 2        // layout bytes per row and super-block
	q3GroupSB = q3Rows * (64 + 32 + 12) // code and scale bytes per super-block of a group
	q3Y       = q3Rows * 64             // the Y bytes' offset in a group's super-block
	q3Scales  = q3Y + q3Rows*32         // the scales' offset (vectors A, B, C)
	q3DSB     = q3Rows * 2              // d bytes per super-block of a group
)

// q3Scale is sub-block m's scale of row j of a group from the group's 192
// scale bytes sv.
func q3Scale(sv []byte, j, m int) int8 {
	Q, n := j/4, q3ScaleAt(j, m)
	nib := sv[64*(Q/2)+n] >> (4 * (Q % 2)) & 15
	hi := sv[128+n] >> (2 * Q) & 3
	return int8(nib|hi<<4) - 32
}

// q3Scales16 sets sc to the sixteen sub-block scales of row j (q3Scale).
func q3Scales16(sv []byte, j int, sc *[16]int8) {
	Q, at := j/4, q3ScaleAt(j, 0)
	a := (*[28]byte)(sv[64*(Q/2)+at:])
	c := (*[28]byte)(sv[128+at:])
	sa, sh := uint(4*(Q%2)), uint(2*Q)
	for m := range sc {
		n := 8*(m/4) + m%4
		sc[m] = int8(a[n]>>sa&15|(c[n]>>sh&3)<<4) - 32
	}
}

// q3ScaleAt is the entry n of row j's sub-block m in its quad's scale
// vectors: the two rows of a pair interleaved four sub-blocks at a time,
// 32·(j%4/2) + 8·(m/4) + 4·(j%2) + m%4.
func q3ScaleAt(j, m int) int {
	return 32*(j%4/2) + 8*(m/4) + 4*(j%2) + m%4
}

// q3SetScale stores sub-block m's scale v of row j (the inverse of
// q3Scale).
func q3SetScale(sv []byte, j, m int, v int8) {
	Q, n := j/4, q3ScaleAt(j, m)
	u := uint8(v + 32)
	a, sh := &sv[64*(Q/2)+n], uint(4*(Q%2))
	*a = *a&^(15<<sh) | (u&15)<<sh
	c, sh := &sv[128+n], uint(2*Q)
	*c = *c&^(3<<sh) | (u>>4)<<sh
}

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

// q3Elem is the element (of a super-block) at position p of plane t.
func q3Elem(t, p int) int { return 16*(p/4) + 4*t + p%4 }

// q3Code is the code of plane t at position p from a row's X and Y bytes.
func q3Code(x, y []byte, t, p int) uint8 {
	k, u := p%32, uint(p/32)
	switch t {
	case 0:
		return x[p] & 7
	case 1:
		return x[p] >> 3 & 7
	case 2:
		return x[p]>>6 | (y[k]>>(6+u)&1)<<2
	}
	return y[k] >> (3 * u) & 7
}

// q3Parts returns the code-and-scale bytes and the d bytes of groups
// [g0, g1).
func (h *QHead) q3Parts(g0, g1 int) (cs, ds []byte) {
	nsb := h.nb / 8
	dAt := (h.rows + q3Rows - 1) / q3Rows * nsb * q3GroupSB
	return h.buf[g0*nsb*q3GroupSB : g1*nsb*q3GroupSB], h.buf[dAt+g0*nsb*q3DSB : dAt+g1*nsb*q3DSB]
}

// q3Row returns row r's X and Y bytes, its group's scale bytes (q3Scale)
// and its fp16 d in super-block b.
func (h *QHead) q3Row(r, b int) (x, y, sv, d []byte) {
	g, j := r/q3Rows, r%q3Rows
	cs, ds := h.q3Parts(g, g+1)
	sb := cs[b*q3GroupSB : (b+1)*q3GroupSB]
	return sb[64*j : 64*j+64], sb[q3Y+32*j : q3Y+32*j+32], sb[q3Scales:], ds[b*q3DSB+2*j : b*q3DSB+2*j+2]
}

func (h *QHead) copyRowsQ3K(w []byte, lo, hi int) {
	nsb := h.nb / 8
	var c [256]uint8
	var sc [16]int8
	for r := lo; r < hi; r++ {
		row := w[(r-lo)*nsb*Q3KBlock:]
		for b := 0; b < nsb; b++ {
			blk := row[b*Q3KBlock : (b+1)*Q3KBlock]
			q3Decode(blk, &c, &sc)
			x, y, sv, d := h.q3Row(r, b)
			for p := range x {
				x[p] = c[q3Elem(0, p)] | c[q3Elem(1, p)]<<3 | (c[q3Elem(2, p)]&3)<<6
			}
			for k := range y {
				y[k] = c[q3Elem(3, k)] | c[q3Elem(3, k+32)]<<3 |
					(c[q3Elem(2, k)]>>2)<<6 | (c[q3Elem(2, k+32)]>>2)<<7
			}
			for m, v := range sc {
				q3SetScale(sv, r%q3Rows, m, v)
			}
			copy(d, blk[108:110])
		}
	}
}

func (h *QHead) rowQ3K(dst []float32, r int) {
	for b := 0; 256*b < len(dst); b++ {
		x, y, sv, db := h.q3Row(r, b)
		d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(db))
		for e := range dst[256*b : min(len(dst), 256*b+256)] {
			c := int32(q3Code(x, y, e%16/4, 4*(e/16)+e%4))
			dl := float32(d * float32(q3Scale(sv, r%q3Rows, e/16)))
			dst[256*b+e] = float32(dl * float32(c-4))
		}
	}
}

// headQ3K is HeadRowsDiv for Q3_K rows: whole groups in the kernel, the
// rows around them in Go.
func (h *QHead) headQ3K(out []float32, lo int, q []int8, k []int32, s float32) {
	hi := lo + len(out)
	a, z := min((lo+q3Rows-1)/q3Rows*q3Rows, hi), hi/q3Rows*q3Rows
	if active.q3head == nil || z <= a {
		a, z = hi, hi
	}
	h.rowsQ3KGo(out[:a-lo], lo, q, s)
	if z > a {
		cs, ds := h.q3Parts(a/q3Rows, z/q3Rows)
		active.q3head(out[a-lo:z-lo], cs, ds, k, h.nb/8, s)
	}
	h.rowsQ3KGo(out[z-lo:], z, q, s)
}

// actsQ3K writes the activations q (nb/8 super-blocks) into k's bytes in
// the order of the code planes: byte 256b + 64t + 4m + i of k is
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

// q3TabX and q3TabY are the numbers of table values per super-block: 64
// X byte positions and 32 Y byte positions of 256 values each.
const (
	q3TabX = 64 * 256
	q3TabY = 32 * 256
)

// q3Tab is rowsQ3KGo's table of a token's products (q3Table).
type q3Tab struct {
	x []int16
	y []int32
}

// q3Tables holds *q3Tab tables for rowsQ3KGo between calls.
var q3Tables sync.Pool

// q3Table fills t for nsb super-blocks with, for super-block b, byte
// position p or k and byte value v, the byte's part of its sub-block's sum
// Σ (c−4)·q (exact): t.x[(64b + p)·256 + v] for the X byte at p (planes 0,
// 1 and plane 2's low bits, with plane 2's −4; |·| ≤ 1536), and
// t.y[(32b + k)·256 + v] = L + 65536·H for the Y byte at k, L its part at
// position k (plane 3's code, 4·plane 2's high bit) and H at k + 32
// (|L|, |H| ≤ 1024, so that a sum of four entries gives back its two
// halves exactly: L = int16 of the sum, H = (sum − L) >> 16).
func q3Table(t *q3Tab, q []int8, nsb int) {
	for b := 0; b < nsb; b++ {
		x := q[256*b : 256*b+256]
		for p := 0; p < 64; p++ {
			row := (*[256]int16)(t.x[(64*b+p)*256 : (64*b+p+1)*256])
			q0, q1, q2 := int16(x[q3Elem(0, p)]), int16(x[q3Elem(1, p)]), int16(x[q3Elem(2, p)])
			for v := range 256 {
				row[v] = (int16(v&7)-4)*q0 + (int16(v>>3&7)-4)*q1 + (int16(v>>6)-4)*q2
			}
		}
		for k := 0; k < 32; k++ {
			row := (*[256]int32)(t.y[(32*b+k)*256 : (32*b+k+1)*256])
			l2, l3 := int32(x[q3Elem(2, k)]), int32(x[q3Elem(3, k)])
			h2, h3 := int32(x[q3Elem(2, k+32)]), int32(x[q3Elem(3, k+32)])
			for v := range 256 {
				lo := (int32(v&7)-4)*l3 + 4*int32(v>>6&1)*l2
				hi := (int32(v>>3&7)-4)*h3 + 4*int32(v>>7)*h2
				row[v] = lo + 65536*hi
			}
		}
	}
}

// rowsQ3KGo is the Go twin of the Q3_K kernels (the bits above). From
// q3LUTRows rows on it looks the sub-blocks' integer sums up in a table of
// the token's products (q3Table) instead of multiplying: the same exact
// integers, so the same bits.
func (h *QHead) rowsQ3KGo(out []float32, lo int, q []int8, s float32) {
	nsb := h.nb / 8
	if len(out) >= q3LUTRows {
		t, _ := q3Tables.Get().(*q3Tab)
		if t == nil || len(t.x) < nsb*q3TabX {
			t = &q3Tab{x: make([]int16, nsb*q3TabX), y: make([]int32, nsb*q3TabY)}
		}
		q3Table(t, q, nsb)
		h.rowsQ3KTable(out, lo, t, s)
		q3Tables.Put(t)
		return
	}
	for i := range out {
		r := lo + i
		var f float32
		for b := 0; b < nsb; b++ {
			xb, yb, sv, db := h.q3Row(r, b)
			x := q[256*b : 256*b+256]
			var ib int32
			for m := 0; m < 16; m++ {
				var p int32
				for u := 4 * m; u < 4*m+4; u++ {
					for t := 0; t < 4; t++ {
						p += (int32(q3Code(xb, yb, t, u)) - 4) * int32(x[q3Elem(t, u)])
					}
				}
				ib += int32(q3Scale(sv, r%q3Rows, m)) * p
			}
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(db))
			f = f + float32(float32(ib)*d)
		}
		out[i] = f / s
	}
}

// rowsQ3KTable is rowsQ3KGo with the products looked up in t (q3Table):
// sub-blocks m and m+8 together, their Y bytes' parts in one sum.
func (h *QHead) rowsQ3KTable(out []float32, lo int, t *q3Tab, s float32) {
	nsb := h.nb / 8
	for i := range out {
		r := lo + i
		var f float32
		for b := 0; b < nsb; b++ {
			xb, yb, sv, db := h.q3Row(r, b)
			var sc [16]int8
			q3Scales16(sv, r%q3Rows, &sc)
			x := (*[64]uint8)(xb)
			y := (*[32]uint8)(yb)
			tx := (*[q3TabX]int16)(t.x[b*q3TabX : (b+1)*q3TabX])
			ty := (*[q3TabY]int32)(t.y[b*q3TabY : (b+1)*q3TabY])
			var ib int32
			for m := 0; m < 8; m++ {
				t0 := (*[4 * 256]int16)(tx[4*m*256 : (4*m+4)*256])
				t1 := (*[4 * 256]int16)(tx[(32+4*m)*256 : (32+4*m+4)*256])
				t2 := (*[4 * 256]int32)(ty[4*m*256 : (4*m+4)*256])
				x0, x1, yy := (*[4]uint8)(x[4*m:]), (*[4]uint8)(x[32+4*m:]), (*[4]uint8)(y[4*m:])
				sy := t2[yy[0]] + t2[256+int(yy[1])] + t2[512+int(yy[2])] + t2[768+int(yy[3])]
				l := int32(int16(sy))
				p0 := int32(t0[x0[0]]) + int32(t0[256+int(x0[1])]) +
					int32(t0[512+int(x0[2])]) + int32(t0[768+int(x0[3])]) + l
				p1 := int32(t1[x1[0]]) + int32(t1[256+int(x1[1])]) +
					int32(t1[512+int(x1[2])]) + int32(t1[768+int(x1[3])]) + (sy-l)>>16
				ib += int32(sc[m])*p0 + int32(sc[m+8])*p1
			}
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(db))
			f = f + float32(float32(ib)*d)
		}
		out[i] = f / s
	}
}
