package dot

import (
	"encoding/binary"
	"fmt"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// QHead is a Q8_0, Q4_0 or Q3_K matrix laid out for the int8 output head
// (HeadRowsDiv). Q3_K rows have a layout of their own, sixteen rows to a
// group (see head_q3k.go). Q8_0 and Q4_0 rows are eight rows to a group so
// that the head reads one sequential stream, with the file's bytes per
// block. Group g (rows
// 8g..8g+7, the last one padded with zero rows) holds, for each block b in
// turn, the weights of its eight rows as unsigned bytes, then the eight
// rows' fp16 block scales for each block (row 8g+j, block b at
// nb·wb + 16b + 2j, wb the weight bytes of a block of eight rows).
//
// Q8_0 (wb = 256): row 8g+j's 32 weights at b·256 + 32j, stored as w + 128.
// Q4_0 (wb = 128): the nibbles n = w + 8 as they are in the file, placed so
// that one 64-byte load and a mask and a shift give the Q8_0 layout's
// registers: the 64 bytes at b·128 + 64t hold rows 8g+4t and 8g+4t+1 in the
// low nibbles of their two halves and rows 8g+4t+2 and 8g+4t+3 in the high
// nibbles (row element i at byte i of its half).
//
// The weights enter VPDPBUSD as its unsigned operand and the activations as
// the signed one, with no restriction on either range; Σ q·(w+o) − o·Σ q
// (o = 128 or 8) is the exact block product, and the o·Σ q terms depend on
// the token only (Acts), not on the row.
//
// nb counts 32-element blocks for every type (the row length is nb·32): a
// Q3_K row of nb blocks is nb/8 super-blocks of 256 elements, so nb must be
// a multiple of 8 there.
type QHead struct {
	typ      gguf.Type
	buf      []byte
	rows, nb int
	wb       int   // weight bytes per block of a group (Q8_0, Q4_0)
	off      int32 // o: the weights' offset (Q8_0, Q4_0)
}

// groupBytes is the size of one group (eight rows, sixteen for Q3_K).
func (h *QHead) groupBytes() int {
	if h.typ == q3K {
		return h.nb / 8 * q3GroupSB
	}
	return h.nb * (h.wb + 16)
}

// groupRows is the number of rows in a group.
func (h *QHead) groupRows() int {
	if h.typ == q3K {
		return q3Rows
	}
	return 8
}

// srcRowBytes is the size in a GGUF file of one row of nb 32-element
// blocks of typ (0 for a type the head does not hold).
func srcRowBytes(typ gguf.Type, nb int) int {
	switch typ {
	case gguf.Q8_0:
		return nb * Q8Block
	case gguf.Q4_0:
		return nb * Q4Block
	case q3K:
		return nb / 8 * Q3KBlock
	}
	return 0
}

// NewQHead copies rows Q8_0, Q4_0 or Q3_K (typ) rows of nb 32-element
// blocks (nb/8 super-blocks for Q3_K), packed back to back in w as in a GGUF
// file, into the head's layout.
func NewQHead(typ gguf.Type, w []byte, rows, nb int) (*QHead, error) {
	h, err := newQHead(typ, rows, nb, len(w))
	if err != nil {
		return nil, err
	}
	h.CopyRows(w, 0, rows)
	return h, nil
}

// NewQHeadEmpty returns a head of rows × nb blocks of typ whose rows are
// filled by CopyRows (e.g. a chunk at a time, letting the source's pages go
// between chunks).
func NewQHeadEmpty(typ gguf.Type, rows, nb int) (*QHead, error) {
	if !sizeOK(rows, nb) {
		return newQHead(typ, rows, nb, 0) // which reports it
	}
	return newQHead(typ, rows, nb, rows*srcRowBytes(typ, nb))
}

// sizeOK reports whether a head of rows × nb blocks is within the sizes
// whose byte counts cannot overflow.
func sizeOK(rows, nb int) bool {
	return rows >= 0 && nb >= 0 && rows < 1<<29 && nb < 1<<29 && int64(rows)*int64(nb) < 1<<36
}

func newQHead(typ gguf.Type, rows, nb, have int) (*QHead, error) {
	h := &QHead{typ: typ, rows: rows, nb: nb}
	if !sizeOK(rows, nb) {
		return nil, fmt.Errorf("dot: %d %s rows of %d blocks: rows and blocks must be in [0, 2^29), rows·blocks below 2^36", rows, typ, nb)
	}
	switch typ {
	case gguf.Q8_0:
		h.wb, h.off = 256, 128
	case gguf.Q4_0:
		h.wb, h.off = 128, 8
	case q3K:
		if nb%8 != 0 {
			return nil, fmt.Errorf("dot: a Q3_K head row of %d 32-element blocks is not a whole number of 256-element super-blocks (nb must be a multiple of 8)", nb)
		}
	default:
		return nil, fmt.Errorf("dot: the int8 head holds Q8_0, Q4_0 or Q3_K rows, not %s", typ)
	}
	if need := rows * srcRowBytes(typ, nb); have < need {
		return nil, fmt.Errorf("dot: %d %s rows of %d blocks need %d bytes, got %d", rows, typ, nb, need, have)
	}
	gr := h.groupRows()
	h.buf = LargeBytes(h, (rows+gr-1)/gr*h.groupBytes())
	if typ == q3K {
		// Padding rows: all zero (codes 0, scales 0, d +0).
		return h, nil
	}
	// Padding rows: weight 0 (stored as its offset), scale +0.
	for r := rows; r < (rows+7)&^7; r++ {
		for b := 0; b < nb; b++ {
			for i := 0; i < 32; i++ {
				h.set(r, b, i, uint8(h.off))
			}
		}
	}
	return h, nil
}

// set stores the offset weight v (w + o) of row r, block b, element i.
func (h *QHead) set(r, b, i int, v uint8) {
	at, sh := h.rowAt(r)
	p := &h.buf[r/8*h.groupBytes()+b*h.wb+at+i]
	if h.typ == gguf.Q8_0 {
		*p = v
		return
	}
	*p = *p&(0xf0>>sh) | v<<sh
}

// scale is the fp16 scale of row r, block b.
func (h *QHead) scale(r, b int) float32 {
	grp := h.buf[r/8*h.groupBytes():]
	return gguf.FP16ToFP32(binary.LittleEndian.Uint16(grp[h.nb*h.wb+16*b+2*(r%8):]))
}

// CopyRows copies the rows [lo, hi) of the matrix, packed back to back in w
// from row lo on (w holds (hi−lo)·nb blocks of the head's type, (hi−lo)·nb/8
// super-blocks for Q3_K), into the head.
func (h *QHead) CopyRows(w []byte, lo, hi int) {
	nb := h.nb
	if lo < 0 || hi > h.rows || lo > hi || len(w) < (hi-lo)*srcRowBytes(h.typ, nb) {
		panic(fmt.Sprintf("dot.QHead.CopyRows: rows [%d, %d) of %d from %d bytes", lo, hi, h.rows, len(w)))
	}
	if h.typ == q3K {
		h.copyRowsQ3K(w, lo, hi)
		return
	}
	bs := Q8Block
	if h.typ == gguf.Q4_0 {
		bs = Q4Block
	}
	for r := lo; r < hi; r++ {
		grp := h.buf[r/8*h.groupBytes():]
		row := w[(r-lo)*nb*bs:]
		at, sh := h.rowAt(r)
		for b := 0; b < nb; b++ {
			blk := row[b*bs : (b+1)*bs]
			copy(grp[nb*h.wb+16*b+2*(r%8):], blk[:2])
			dst := grp[b*h.wb+at : b*h.wb+at+32]
			if h.typ == gguf.Q8_0 {
				for i, v := range blk[2:34] {
					dst[i] = v ^ 0x80
				}
				continue
			}
			keep := byte(0xf0) >> sh // the other row's nibbles
			for i, v := range blk[2:18] {
				dst[i] = dst[i]&keep | (v&15)<<sh
				dst[16+i] = dst[16+i]&keep | (v>>4)<<sh
			}
		}
	}
}

// rowAt is where row r's 32 weight bytes of a block start within the
// block's bytes of its group, and (Q4_0) the bit its nibbles start at.
func (h *QHead) rowAt(r int) (at int, sh uint) {
	j := r % 8
	if h.typ == gguf.Q8_0 {
		return 32 * j, 0
	}
	return 64*(j/4) + 32*(j%2), uint(4 * ((j % 4) / 2))
}

// Rows is the number of rows.
func (h *QHead) Rows() int { return h.rows }

// Blocks is the number of 32-element blocks per row.
func (h *QHead) Blocks() int { return h.nb }

// Type is the block type of the rows (Q8_0, Q4_0 or Q3_K).
func (h *QHead) Type() gguf.Type { return h.typ }

// Bytes is the memory the copy holds.
func (h *QHead) Bytes() int64 { return int64(len(h.buf)) }

// Row writes row r de-quantized, dst[32b+i] = float32(w)·d (exact), for
// len(dst) ≤ nb·32 elements; Q3_K rows as ggml's dequantize_row_q3_K does,
// dst[e] = float32(d·float32(sc))·float32(c−4).
func (h *QHead) Row(dst []float32, r int) {
	nb := h.nb
	if r < 0 || r >= h.rows || len(dst) > nb*32 {
		panic(fmt.Sprintf("dot.QHead.Row: row %d of %d, %d values of %d", r, h.rows, len(dst), nb*32))
	}
	if h.typ == q3K {
		h.rowQ3K(dst, r)
		return
	}
	grp := h.buf[r/8*h.groupBytes():]
	at, sh := h.rowAt(r)
	for b := 0; b*32 < len(dst); b++ {
		d := h.scale(r, b)
		src := grp[b*h.wb+at : b*h.wb+at+32]
		for i := range dst[b*32 : min(len(dst), b*32+32)] {
			v := int32(src[i])
			if h.typ == gguf.Q4_0 {
				v = int32(src[i]>>sh) & 15
			}
			dst[b*32+i] = float32(v-h.off) * d
		}
	}
}

// Acts sets k[8b + l] = −o·Σ_{i<4} q[32b + 4l + i] for the nb = len(q)/32
// blocks of the activations: HeadRowsDiv's per-token offset terms (o = 128
// for Q8_0 rows, 8 for Q4_0). For Q3_K rows it fills k's first nb·32 bytes
// with the activations in the kernels' order instead (actsQ3K). len(k) must
// be at least nb·8.
func (h *QHead) Acts(k []int32, q []int8) {
	if h.typ == q3K {
		h.actsQ3K(k, q)
		return
	}
	nb := len(q) / 32
	k = k[:nb*8]
	for i := range k {
		x := q[4*i : 4*i+4]
		k[i] = -h.off * (int32(x[0]) + int32(x[1]) + int32(x[2]) + int32(x[3]))
	}
}

// HeadRowsDiv sets out[i] = Q8Rows' (Q4Rows') product of row lo+i with the
// nb·32 activations q, divided by s (one float32 division): the same bits
// as Q8Rows (Q4Rows) followed by out[i] /= s, for any int8 activations. k
// holds Acts(k, q). Q3_K rows give the bits defined in head_q3k.go
// (rowsQ3KGo), for any int8 activations.
func (h *QHead) HeadRowsDiv(out []float32, lo int, q []int8, k []int32, s float32) {
	nb := h.nb
	hi := lo + len(out)
	if lo < 0 || hi > h.rows || len(q) < nb*32 || len(k) < nb*8 {
		panic(fmt.Sprintf("dot.HeadRowsDiv: rows [%d, %d) of %d, %d activations and %d offsets for %d blocks", lo, hi, h.rows, len(q), len(k), nb))
	}
	if len(out) == 0 {
		return
	}
	if nb == 0 {
		for i := range out {
			out[i] = 0 / s
		}
		return
	}
	kern := active.q8head
	switch h.typ {
	case gguf.Q4_0:
		kern = active.q4head
	case q3K:
		kern = active.q3head
	}
	// Whole groups in the kernel, the rows around them in Go.
	gr := h.groupRows()
	a, z := min((lo+gr-1)/gr*gr, hi), hi/gr*gr
	if kern == nil || z <= a {
		a, z = hi, hi
	}
	gb := h.groupBytes()
	h.rowsGo(out[:a-lo], lo, q, s)
	if z > a {
		kern(out[a-lo:z-lo], h.buf[a/gr*gb:z/gr*gb], q, k, nb, s)
	}
	h.rowsGo(out[z-lo:], z, q, s)
}

// rowsGo is the Go twin for rows lo..: per lane l of block b the exact
// int32 Σ w·q of four elements (the same integer as Σ (w+o)·q − o·Σ q), f_l += float32(float32(p)·d)
// (no fused multiply-add), the lanes reduced as laneSum, then one division.
func (h *QHead) rowsGo(out []float32, lo int, q []int8, s float32) {
	if h.typ == q3K {
		h.rowsQ3KGo(out, lo, q, s)
		return
	}
	gb, nb := h.groupBytes(), h.nb
	for i := range out {
		r := lo + i
		grp := h.buf[r/8*gb : (r/8+1)*gb]
		j := r % 8
		// Row r's 32 bytes of block b start at b·wb + at; a Q4_0 row's
		// nibbles are at bit sh of them.
		at, sh := h.rowAt(r)
		var f [8]float32
		for b := 0; b < nb; b++ {
			src := grp[b*h.wb+at : b*h.wb+at+32]
			x := q[32*b : 32*b+32]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(grp[nb*h.wb+16*b+2*j:]))
			var w [32]int32
			if h.typ == gguf.Q4_0 {
				for e, v := range src {
					w[e] = int32(v>>sh&15) - 8
				}
			} else {
				for e, v := range src {
					w[e] = int32(v) - 128
				}
			}
			for l := 0; l < 8; l++ {
				var p int32
				for e := 4 * l; e < 4*l+4; e++ {
					p += w[e] * int32(x[e])
				}
				f[l] = f[l] + float32(float32(p)*d)
			}
		}
		out[i] = laneSum(&f) / s
	}
}
