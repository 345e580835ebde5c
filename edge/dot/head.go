package dot

import (
	"encoding/binary"
	"fmt"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// Q8Head is a Q8_0 matrix laid out for the int8 output head (HeadRowsDiv):
// the int8 weights of every block stored as unsigned bytes w + 128, 32 per
// block without the scale (row r, block b at (r·nb + b)·32), and the block
// scales as float32 (the exact conversions of their fp16 values) in d. The
// weights then enter VPDPBUSD as its unsigned operand and the activations
// as the signed one, with no restriction on either range; Σ q·(w+128) −
// 128·Σ q is the exact block product, and the 128·Σ q terms depend on the
// token only (HeadActs), not on the row.
type Q8Head struct {
	wu       []uint8
	d        []float32
	rows, nb int
}

// NewQ8Head copies rows Q8_0 rows of nb blocks (34 bytes each, packed back
// to back in w) into the head's layout.
func NewQ8Head(w []byte, rows, nb int) (*Q8Head, error) {
	if rows < 0 || nb < 0 || len(w) < rows*nb*Q8Block {
		return nil, fmt.Errorf("dot: %d Q8_0 rows of %d blocks need %d bytes, got %d", rows, nb, rows*nb*Q8Block, len(w))
	}
	h := &Q8Head{wu: make([]uint8, rows*nb*32), d: make([]float32, rows*nb), rows: rows, nb: nb}
	for i := range h.d {
		blk := w[i*Q8Block : (i+1)*Q8Block]
		h.d[i] = gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
		for j, v := range blk[2:] {
			h.wu[i*32+j] = v ^ 0x80
		}
	}
	return h, nil
}

// Rows is the number of rows, Blocks the blocks per row.
func (h *Q8Head) Rows() int { return h.rows }

// Blocks is the number of 32-element blocks per row.
func (h *Q8Head) Blocks() int { return h.nb }

// Bytes is the memory the copy holds.
func (h *Q8Head) Bytes() int64 { return int64(len(h.wu)) + 4*int64(len(h.d)) }

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
	if lo < 0 || lo+len(out) > h.rows || len(q) < nb*32 || len(k) < nb*8 {
		panic(fmt.Sprintf("dot.HeadRowsDiv: rows [%d, %d) of %d, %d activations and %d offsets for %d blocks", lo, lo+len(out), h.rows, len(q), len(k), nb))
	}
	if len(out) == 0 {
		return
	}
	wu, d := h.wu[lo*nb*32:(lo+len(out))*nb*32], h.d[lo*nb:(lo+len(out))*nb]
	if nb == 0 {
		for i := range out {
			out[i] = 0 / s
		}
		return
	}
	i := 0
	if active.q8head != nil {
		if i = len(out) &^ 7; i > 0 {
			active.q8head(out[:i], wu, d, q, k, nb, s)
		}
	}
	q8HeadGo(out[i:], wu[i*nb*32:], d[i*nb:], q, nb, s)
}

// q8HeadGo is the Go twin: per lane l of block b the exact int32 Σ w·q
// of four elements, f_l += float32(float32(p)·d) (no fused multiply-add),
// the lanes reduced as laneSum, then one division.
func q8HeadGo(out []float32, wu []uint8, d []float32, q []int8, nb int, s float32) {
	for r := range out {
		var f [8]float32
		for b := 0; b < nb; b++ {
			blk := wu[(r*nb+b)*32 : (r*nb+b)*32+32]
			x := q[32*b : 32*b+32]
			db := d[r*nb+b]
			for l := 0; l < 8; l++ {
				var p int32
				for i := 4 * l; i < 4*l+4; i++ {
					p += (int32(blk[i]) - 128) * int32(x[i])
				}
				f[l] = f[l] + float32(float32(p)*db)
			}
		}
		out[r] = laneSum(&f) / s
	}
}
