package dot

import (
	"encoding/binary"
	"fmt"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// QHead is a Q8_0, Q4_0 or Q3_K matrix laid out for the int8 output head
// (HeadRowsDiv), sixteen rows to a group so that each dword lane of a
// 512-bit VPDPBUSD holds one row and the head needs no horizontal
// reduction. Q3_K rows have a layout of their own (see head_q3k.go).
//
// Q8_0 and Q4_0 rows keep the file's bytes per block (34, 18). Group g
// (rows 16g..16g+15, the last one padded with zero rows) holds its blocks
// in pairs, one sequential stream: the weights of blocks 2p and 2p+1 of its
// sixteen rows as unsigned bytes (wb bytes each), then their sixteen rows'
// fp16 scales (32 bytes each, row 16g+j at 2j); for an odd nb the last
// block alone, its weights then its scales (blockAt, scaleAt).
//
// Q8_0 (wb = 512): the 64-byte vector t = 0..7 of a block's weights holds
// at byte 4j+i row 16g+j's element 4t+i, stored as w + 128.
// Q4_0 (wb = 256): the nibbles n = w + 8; the 64 bytes at 64u (u = 0..3)
// of a block's weights hold at byte 4j+i row 16g+j's element 4u+i in the
// low nibble and element 16+4u+i in the high nibble, so one load, a mask
// and a shift give the Q8_0 layout's vectors t = u and t = u+4.
//
// The weights enter VPDPBUSD as its unsigned operand and the token's four
// activations 4t..4t+3, broadcast, as the signed one, with no restriction
// on either range; Σ q·(w+o) − o·Σ q (o = 128 or 8) is the exact block sum
// I_b, and the −o·Σ q of each block depends on the token only (Acts), not
// on the row. Per row, f = f + float32(float32(I_b)·d_b) for b ascending
// from f = +0, then f/s (see the package documentation).
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

// qRows is the number of Q8_0 / Q4_0 rows in a group.
const qRows = 16

// groupBytes is the size of one group of sixteen rows.
func (h *QHead) groupBytes() int {
	if h.typ == q3K {
		return h.nb / 8 * (q3GroupSB + q3DSB)
	}
	return h.nb * (h.wb + 2*qRows)
}

// groupRows is the number of rows in a group (sixteen for every type).
func (h *QHead) groupRows() int {
	if h.typ == q3K {
		return q3Rows
	}
	return qRows
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
		h.wb, h.off = 32*qRows, 128
	case gguf.Q4_0:
		h.wb, h.off = 16*qRows, 8
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
	for r := rows; r < (rows+qRows-1)/qRows*qRows; r++ {
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
	at, sh := h.pos(r, i)
	p := &h.buf[r/qRows*h.groupBytes()+h.blockAt(b)+at]
	if h.typ == gguf.Q8_0 {
		*p = v
		return
	}
	*p = *p&(0xf0>>sh) | v<<sh
}

// blockAt is where block b's weights start within a group.
func (h *QHead) blockAt(b int) int {
	return b/2*(2*h.wb+4*qRows) + b%2*h.wb
}

// scaleAt is where block b's sixteen fp16 scales start within a group.
func (h *QHead) scaleAt(b int) int {
	p := b / 2
	return p*(2*h.wb+4*qRows) + min(2, h.nb-2*p)*h.wb + b%2*2*qRows
}

// get is the offset weight (w + o) of row r, block b, element i.
func (h *QHead) get(r, b, i int) int32 {
	at, sh := h.pos(r, i)
	return int32(h.buf[r/qRows*h.groupBytes()+h.blockAt(b)+at]>>sh) & h.mask()
}

// mask keeps the stored bits of a weight: 0xff (Q8_0) or 0x0f (Q4_0).
func (h *QHead) mask() int32 {
	if h.typ == gguf.Q4_0 {
		return 15
	}
	return 255
}

// pos is where element i of row r's block lies within the block's wb
// bytes of its group: byte at, bit sh (Q4_0 nibbles).
func (h *QHead) pos(r, i int) (at int, sh uint) {
	j := r % qRows
	if h.typ == gguf.Q8_0 {
		return 64*(i/4) + 4*j + i%4, 0
	}
	return 64*(i%16/4) + 4*j + i%4, uint(4 * (i / 16))
}

// scale is the fp16 scale of row r, block b.
func (h *QHead) scale(r, b int) float32 {
	grp := h.buf[r/qRows*h.groupBytes():]
	return gguf.FP16ToFP32(binary.LittleEndian.Uint16(grp[h.scaleAt(b)+2*(r%qRows):]))
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
		grp := h.buf[r/qRows*h.groupBytes():]
		row := w[(r-lo)*nb*bs:]
		for b := 0; b < nb; b++ {
			blk := row[b*bs : (b+1)*bs]
			copy(grp[h.scaleAt(b)+2*(r%qRows):], blk[:2])
			if h.typ == gguf.Q8_0 {
				for i, v := range blk[2:34] {
					h.set(r, b, i, v^0x80)
				}
				continue
			}
			for i, v := range blk[2:18] {
				h.set(r, b, i, v&15)
				h.set(r, b, 16+i, v>>4)
			}
		}
	}
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
	for b := 0; b*32 < len(dst); b++ {
		d := h.scale(r, b)
		for i := range dst[b*32 : min(len(dst), b*32+32)] {
			dst[b*32+i] = float32(h.get(r, b, i)-h.off) * d
		}
	}
}

// Acts sets k[b] = −o·Σ_{i<32} q[32b + i] for the nb = len(q)/32 blocks of
// the activations: HeadRowsDiv's per-token offset terms (o = 128 for Q8_0
// rows, 8 for Q4_0). For Q3_K rows it fills k's first nb·32 bytes with the
// activations in the kernels' order instead (actsQ3K). len(k) must be at
// least nb·8.
func (h *QHead) Acts(k []int32, q []int8) {
	if h.typ == q3K {
		h.actsQ3K(k, q)
		return
	}
	nb := len(q) / 32
	if len(k) < nb*8 {
		panic(fmt.Sprintf("dot.QHead.Acts: %d offsets for %d blocks (need %d)", len(k), nb, nb*8))
	}
	for b := range k[:nb] {
		var t int32
		for _, v := range q[32*b : 32*b+32] {
			t += int32(v)
		}
		k[b] = -h.off * t
	}
}

// HeadRowsDiv sets out[i] to the product of row lo+i with the nb·32
// activations q, divided by s, with the bits of the package documentation:
// per block the exact int32 sum I_b, f = f + float32(float32(I_b)·d_b)
// from f = +0 (blocks ascending, no fused multiply-add), out = f/s (one
// float32 division), for any int8 activations; Q3_K rows per super-block
// (head_q3k.go). k holds Acts(k, q).
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
	if h.typ == q3K {
		h.headQ3K(out, lo, q, k, s)
		return
	}
	kern := active.q8head
	if h.typ == gguf.Q4_0 {
		kern = active.q4head
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

// rowsGo is the Go twin for rows lo..: per block b the exact int32
// I_b = Σ w·q (computed as Σ (w+o)·q − o·Σ q, the same integer), f = f +
// float32(float32(I_b)·d_b) (no fused multiply-add), then one division. It
// runs the rows of a group together, in the kernels' order of the bytes.
func (h *QHead) rowsGo(out []float32, lo int, q []int8, s float32) {
	if h.typ == q3K {
		h.rowsQ3KGo(out, lo, q, s)
		return
	}
	gb, hi := h.groupBytes(), lo+len(out)
	for g := lo / qRows; g*qRows < hi; g++ {
		ja, jb := max(lo-g*qRows, 0), min(hi-g*qRows, qRows)
		grp := h.buf[g*gb : (g+1)*gb]
		var f [qRows]float32
		for b := 0; b < h.nb; b++ {
			blk := grp[h.blockAt(b) : h.blockAt(b)+h.wb]
			sc := grp[h.scaleAt(b) : h.scaleAt(b)+2*qRows]
			x := q[32*b : 32*b+32]
			var qs int32
			for _, v := range x {
				qs += int32(v)
			}
			for j := ja; j < jb; j++ {
				var p int32
				if h.typ == gguf.Q8_0 {
					for t := 0; t < 8; t++ {
						w := blk[64*t+4*j : 64*t+4*j+4]
						p += int32(w[0])*int32(x[4*t]) + int32(w[1])*int32(x[4*t+1]) +
							int32(w[2])*int32(x[4*t+2]) + int32(w[3])*int32(x[4*t+3])
					}
				} else {
					for u := 0; u < 4; u++ {
						w := blk[64*u+4*j : 64*u+4*j+4]
						lo, hi := x[4*u:4*u+4], x[16+4*u:16+4*u+4]
						for i, v := range w {
							p += int32(v&15)*int32(lo[i]) + int32(v>>4)*int32(hi[i])
						}
					}
				}
				p -= h.off * qs
				d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(sc[2*j:]))
				f[j] = f[j] + float32(float32(p)*d)
			}
		}
		for j := ja; j < jb; j++ {
			out[g*qRows+j-lo] = f[j] / s
		}
	}
}
