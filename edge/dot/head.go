package dot

import (
	"encoding/binary"
	"fmt"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// Q8Head is a Q8_0 matrix laid out for the int8 output head (HeadRowsDiv),
// eight rows to a group so that the head reads one sequential stream. Group
// g (rows 8g..8g+7, the last one padded with zero rows) holds, for each
// block b in turn, the 32 weights of its eight rows (row 8g+j at
// b·256 + 32j) stored as unsigned bytes w + 128, then the eight rows' fp16
// block scales for each block (row 8g+j, block b at nb·256 + 16b + 2j): 34
// bytes per block, as in the file. The weights enter VPDPBUSD as its
// unsigned operand and the activations as the signed one, with no
// restriction on either range; Σ q·(w+128) − 128·Σ q is the exact block
// product, and the 128·Σ q terms depend on the token only (HeadActs), not
// on the row.
type Q8Head struct {
	buf      []byte
	rows, nb int
}

// q8GroupBytes is the size of one eight-row group of nb blocks.
func q8GroupBytes(nb int) int { return nb * 8 * Q8Block }

// NewQ8Head copies rows Q8_0 rows of nb blocks (34 bytes each, packed back
// to back in w) into the head's layout.
func NewQ8Head(w []byte, rows, nb int) (*Q8Head, error) {
	h, err := newQ8Head(rows, nb, len(w))
	if err != nil {
		return nil, err
	}
	h.CopyRows(w, 0, rows)
	return h, nil
}

func newQ8Head(rows, nb, have int) (*Q8Head, error) {
	if rows < 0 || nb < 0 || have < rows*nb*Q8Block {
		return nil, fmt.Errorf("dot: %d Q8_0 rows of %d blocks need %d bytes, got %d", rows, nb, rows*nb*Q8Block, have)
	}
	h := &Q8Head{rows: rows, nb: nb}
	h.buf = LargeBytes(h, (rows+7)/8*q8GroupBytes(nb))
	// Padding rows: w + 128 = 128 (w = 0), scale +0.
	for r := rows; r < (rows+7)&^7; r++ {
		g, j := r/8, r%8
		grp := h.buf[g*q8GroupBytes(nb):]
		for b := 0; b < nb; b++ {
			for i := 0; i < 32; i++ {
				grp[b*256+32*j+i] = 0x80
			}
		}
	}
	return h, nil
}

// NewQ8HeadEmpty returns a head of rows × nb blocks whose rows are filled by
// CopyRows (e.g. a chunk at a time, letting the source's pages go between
// chunks).
func NewQ8HeadEmpty(rows, nb int) (*Q8Head, error) { return newQ8Head(rows, nb, rows*nb*Q8Block) }

// CopyRows copies the Q8_0 rows [lo, hi) of the matrix, packed back to back
// in w from row lo on (w holds (hi−lo)·nb blocks), into the head.
func (h *Q8Head) CopyRows(w []byte, lo, hi int) {
	nb := h.nb
	if lo < 0 || hi > h.rows || lo > hi || len(w) < (hi-lo)*nb*Q8Block {
		panic(fmt.Sprintf("dot.Q8Head.CopyRows: rows [%d, %d) of %d from %d bytes", lo, hi, h.rows, len(w)))
	}
	gb := q8GroupBytes(nb)
	for r := lo; r < hi; r++ {
		g, j := r/8, r%8
		grp := h.buf[g*gb : (g+1)*gb]
		row := w[(r-lo)*nb*Q8Block:]
		for b := 0; b < nb; b++ {
			blk := row[b*Q8Block : (b+1)*Q8Block]
			copy(grp[nb*256+16*b+2*j:], blk[:2])
			dst := grp[b*256+32*j : b*256+32*j+32]
			for i, v := range blk[2:] {
				dst[i] = v ^ 0x80
			}
		}
	}
}

// Rows is the number of rows, Blocks the blocks per row.
func (h *Q8Head) Rows() int { return h.rows }

// Blocks is the number of 32-element blocks per row.
func (h *Q8Head) Blocks() int { return h.nb }

// Bytes is the memory the copy holds.
func (h *Q8Head) Bytes() int64 { return int64(len(h.buf)) }

// Row writes row r de-quantized, dst[32b+i] = float32(w)·d (exact), for
// len(dst) ≤ nb·32 elements.
func (h *Q8Head) Row(dst []float32, r int) {
	nb := h.nb
	if r < 0 || r >= h.rows || len(dst) > nb*32 {
		panic(fmt.Sprintf("dot.Q8Head.Row: row %d of %d, %d values of %d", r, h.rows, len(dst), nb*32))
	}
	g, j := r/8, r%8
	grp := h.buf[g*q8GroupBytes(nb):]
	for b := 0; b*32 < len(dst); b++ {
		d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(grp[nb*256+16*b+2*j:]))
		src := grp[b*256+32*j : b*256+32*j+32]
		for i := range dst[b*32 : min(len(dst), b*32+32)] {
			dst[b*32+i] = float32(int8(src[i]^0x80)) * d
		}
	}
}

// HeadActs sets k[8b + l] = −128·Σ_{i<4} q[32b + 4l + i] for the nb = len(q)/32
// blocks of the activations: HeadRowsDiv's per-token offset terms.
func HeadActs(k []int32, q []int8) {
	nb := len(q) / 32
	k = k[:nb*8]
	for i := range k {
		x := q[4*i : 4*i+4]
		k[i] = -128 * (int32(x[0]) + int32(x[1]) + int32(x[2]) + int32(x[3]))
	}
}

// HeadRowsDiv sets out[i] = Q8Rows' product of row lo+i with the nb·32
// activations q, divided by s (one float32 division): the same bits as
// Q8Rows followed by out[i] /= s, for any int8 activations. k holds
// HeadActs(k, q).
func (h *Q8Head) HeadRowsDiv(out []float32, lo int, q []int8, k []int32, s float32) {
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
	// Whole groups in the kernel, the rows around them in Go.
	a, z := min((lo+7)&^7, hi), hi&^7
	if active.q8head == nil || z <= a {
		a, z = hi, hi
	}
	gb := q8GroupBytes(nb)
	q8HeadGo(out[:a-lo], h.buf, lo, q, nb, s)
	if z > a {
		active.q8head(out[a-lo:z-lo], h.buf[a/8*gb:z/8*gb], q, k, nb, s)
	}
	q8HeadGo(out[z-lo:], h.buf, z, q, nb, s)
}

// q8HeadGo is the Go twin for rows lo.. of the grouped layout buf: per lane
// l of block b the exact int32 Σ w·q of four elements, f_l +=
// float32(float32(p)·d) (no fused multiply-add), the lanes reduced as
// laneSum, then one division.
func q8HeadGo(out []float32, buf []byte, lo int, q []int8, nb int, s float32) {
	gb := q8GroupBytes(nb)
	for i := range out {
		g, j := (lo+i)/8, (lo+i)%8
		grp := buf[g*gb : (g+1)*gb]
		var f [8]float32
		for b := 0; b < nb; b++ {
			blk := grp[b*256+32*j : b*256+32*j+32]
			x := q[32*b : 32*b+32]
			db := gguf.FP16ToFP32(binary.LittleEndian.Uint16(grp[nb*256+16*b+2*j:]))
			for l := 0; l < 8; l++ {
				var p int32
				for i := 4 * l; i < 4*l+4; i++ {
					p += (int32(blk[i]) - 128) * int32(x[i])
				}
				f[l] = f[l] + float32(float32(p)*db)
			}
		}
		out[i] = laneSum(&f) / s
	}
}
