package dot

import (
	"fmt"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// Block sizes in bytes.
const (
	TQ2Block = 66 // 256 weights
	TQ1Block = 54 // 256 weights
	Q8Block  = 34 // 32 weights
	Q4Block  = 18 // 32 weights
)

// kernelSet is one implementation of the row products.
type kernelSet struct {
	name string
	tq2  func(out []int32, w []byte, q []int8, nb int)
	// tq1, where set, is TQ1Rows' kernel (nil: Go).
	tq1 func(out []int32, w []byte, q []int8, nb int)
	// q8head and q4head, where set, are QHead.HeadRowsDiv's kernels for
	// whole groups of sixteen Q8_0 / Q4_0 rows (nil: the Go twin).
	q8head func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32)
	q4head func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32)
	// q3head, where set, is the kernel for whole groups of sixteen Q3_K
	// rows (nil: the Go twin): cs and ds are the groups' code-and-scale
	// and d bytes (head_q3k.go); it reads the activations from k (Acts).
	q3head func(out []float32, cs, ds []byte, k []int32, nsb int, s float32)

	// tq2half, where set, is tq2 for one-block rows whose activations
	// 128..255 are zero (it may skip those elements).
	tq2half func(out []int32, w []byte, q []int8)

	fmaCols func(s, q, kt []float32, stride int)
	fmaRows func(out, p, v []float32, stride int)
	ssm     func(st []float32, u, bv, cv []float64, y []float32, decay float64)
	// quant and scale are nil where Go does the work (len multiple of 8).
	quant func(q []int8, x []float32, s, lo, hi float32) int32
	scale func(y []float32, acc []int32, qsum int32, gs, fs float64)
	// f16head is F16HeadT (nil: Go).
	f16head func(out []float32, x []float64, et []uint16)
	// read is ReadStream's kernel for a multiple of 512 bytes (nil: Go).
	read func(p []byte) uint64
	// update is UpdateStream's kernel for a multiple of 512 bytes (nil: Go).
	update func(p []byte, k uint64)
}

var goSet = kernelSet{name: "purego", tq2: tq2RowsGo,
	fmaCols: fmaColsGo, fmaRows: fmaRowsGo, ssm: ssmStepGo}

// KernelSet names the set in use: "avx512vnni", "avx2" or "purego". All give
// the same bits.
func KernelSet() string { return active.name }

// KernelSets lists the sets this machine runs, fastest first.
func KernelSets() []string {
	var out []string
	for _, s := range availableSets() {
		out = append(out, s.name)
	}
	return out
}

// Use selects a set by name ("" is the start-up choice, the fastest this CPU
// runs). Call it before decoding starts: it is not synchronised with row
// products in flight.
func Use(name string) error {
	sets := availableSets()
	if name == "" {
		active = sets[0]
		return nil
	}
	for _, s := range sets {
		if s.name == name {
			active = s
			return nil
		}
	}
	return fmt.Errorf("dot: kernel set %q is not available on this machine (available: %v)", name, KernelSets())
}

// check panics when the buffers cannot hold the rows: these are programming
// errors of the caller (the engine sizes every buffer from the file's
// checked shapes).
func check(nOut, nw, nq, nb, blockBytes, blockLen int) {
	if nb < 0 || nq < nb*blockLen || nw < nOut*nb*blockBytes {
		panic(fmt.Sprintf("dot: %d rows of %d blocks need %d weight bytes and %d activations, got %d and %d",
			nOut, nb, nOut*nb*blockBytes, nb*blockLen, nw, nq))
	}
}

// TQ2RowsLive is TQ2Rows when only the first live activations can be
// non-zero (q[live:] are zero, e.g. the padding of a row shorter than a
// block): a kernel may skip the blocks' elements that meet only zeros. The
// result is the same integers.
func TQ2RowsLive(out []int32, w []byte, q []int8, nb, live int) {
	if nb == 1 && live <= gguf.QK_K/2 && active.tq2half != nil && len(out) > 0 {
		check(len(out), len(w), len(q), nb, TQ2Block, gguf.QK_K)
		active.tq2half(out, w, q)
		return
	}
	TQ2Rows(out, w, q, nb)
}

// TQ2Rows sets out[r] = Σ_k c_{r,k}·q_k for the len(out) TQ2_0 rows packed
// back to back in w (nb blocks of 256 weights, 66 bytes each, per row),
// where c = t+1 ∈ {0, 1, 2} are the stored codes and q holds nb·256 int8
// activations. Block scales are not read.
func TQ2Rows(out []int32, w []byte, q []int8, nb int) {
	check(len(out), len(w), len(q), nb, TQ2Block, gguf.QK_K)
	if len(out) == 0 || nb == 0 {
		clear(out)
		return
	}
	active.tq2(out, w, q, nb)
}

// TQ1Rows is TQ2Rows for TQ1_0 rows (54 bytes per block, base-3 codes);
// the vector sets extract the codes with 16-bit multiplies.
func TQ1Rows(out []int32, w []byte, q []int8, nb int) {
	check(len(out), len(w), len(q), nb, TQ1Block, gguf.QK_K)
	if len(out) == 0 || nb == 0 || active.tq1 == nil {
		tq1RowsGo(out, w, q, nb)
		return
	}
	active.tq1(out, w, q, nb)
}

// HeadKernel reports whether the active set runs QHead.HeadRowsDiv on rows
// of typ in vector code (otherwise its Go twin runs).
func HeadKernel(typ gguf.Type) bool {
	if typ == gguf.Q4_0 {
		return active.q4head != nil
	}
	return active.q8head != nil
}

// tq2RowsGo: byte 32h+m of a block holds the codes of elements 128h+m+32l
// at bits 2l.
func tq2RowsGo(out []int32, w []byte, q []int8, nb int) {
	rb := nb * TQ2Block
	for r := range out {
		row := w[r*rb : (r+1)*rb]
		var acc int32
		for b := 0; b < nb; b++ {
			blk := row[b*TQ2Block : b*TQ2Block+64]
			xq := q[b*256 : b*256+256]
			for h := 0; h < 2; h++ {
				qs := blk[32*h : 32*h+32]
				x := xq[128*h : 128*h+128]
				x0, x1, x2, x3 := x[0:32], x[32:64], x[64:96], x[96:128]
				for m, c := range qs {
					acc += int32(c&3)*int32(x0[m]) + int32(c>>2&3)*int32(x1[m]) +
						int32(c>>4&3)*int32(x2[m]) + int32(c>>6)*int32(x3[m])
				}
			}
		}
		out[r] = acc
	}
}

// trits[b] are the five base-3 codes of a TQ1_0 byte, most significant first.
var trits = func() (t [256][5]int32) {
	for b := range t {
		for n := 0; n < 5; n++ {
			t[b][n] = int32(gguf.Trit(uint8(b), n))
		}
	}
	return
}()

func tq1RowsGo(out []int32, w []byte, q []int8, nb int) {
	rb := nb * TQ1Block
	for r := range out {
		row := w[r*rb : (r+1)*rb]
		var acc int32
		for b := 0; b < nb; b++ {
			blk := row[b*TQ1Block : b*TQ1Block+52]
			xq := q[b*256 : b*256+256]
			for m, c := range blk[:32] {
				t := &trits[c]
				acc += t[0]*int32(xq[m]) + t[1]*int32(xq[32+m]) + t[2]*int32(xq[64+m]) + t[3]*int32(xq[96+m]) + t[4]*int32(xq[128+m])
			}
			for m, c := range blk[32:48] {
				t := &trits[c]
				acc += t[0]*int32(xq[160+m]) + t[1]*int32(xq[176+m]) + t[2]*int32(xq[192+m]) + t[3]*int32(xq[208+m]) + t[4]*int32(xq[224+m])
			}
			for m, c := range blk[48:52] {
				t := &trits[c]
				acc += t[0]*int32(xq[240+m]) + t[1]*int32(xq[244+m]) + t[2]*int32(xq[248+m]) + t[3]*int32(xq[252+m])
			}
		}
		out[r] = acc
	}
}
