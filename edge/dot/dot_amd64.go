//go:build !purego

package dot

import "golang.org/x/sys/cpu"

// Assembly row products (dot_amd64.s); rows ≥ 1 and nb ≥ 1, every buffer
// checked by the caller.

//go:noescape
func tq2RowsVNNI(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func tq2Rows128VNNI(out *int32, w *byte, q *int8, rows int)

//go:noescape
func tq2Rows256VNNI(out *int32, w *byte, q *int8, rows int)

//go:noescape
func tq2RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func q8HeadVNNI(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)

//go:noescape
func tq1RowsVNNI(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func tq1RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func q4HeadVNNI(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)

//go:noescape
func q8HeadAVX2(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)

//go:noescape
func q4HeadAVX2(out *float32, grp *byte, q *int8, k *int32, nb, groups int, s float32)

//go:noescape
func q3HeadVNNI(out *float32, cs, ds *byte, pq *int32, nsb, groups int, s float32)

//go:noescape
func q3HeadAVX2(out *float32, cs, ds *byte, pq *int32, nsb, groups int, s float32)

var vnniSet = kernelSet{
	name: "avx512vnni",
	tq2: func(out []int32, w []byte, q []int8, nb int) {
		r4 := 0
		if nb == 1 {
			// One-block rows four at a time.
			if r4 = len(out) &^ 3; r4 > 0 {
				tq2Rows256VNNI(&out[0], &w[0], &q[0], r4)
			}
		} else if r4 = len(out) &^ 3; r4 > 0 {
			// Longer rows four at a time, code planes by mask.
			tq2Rows4MaskVNNI(&out[0], &w[0], &q[0], nb, r4)
		}
		if r4 < len(out) {
			tq2RowsVNNI(&out[r4], &w[r4*nb*TQ2Block], &q[0], nb, len(out)-r4)
		}
	},
	tq1: func(out []int32, w []byte, q []int8, nb int) { tq1RowsVNNI(&out[0], &w[0], &q[0], nb, len(out)) },
	q8head: func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32) {
		q8HeadVNNI(&out[0], &grp[0], &q[0], &k[0], nb, len(out)/16, s)
	},
	q4head: func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32) {
		q4HeadVNNI(&out[0], &grp[0], &q[0], &k[0], nb, len(out)/16, s)
	},
	q3head: func(out []float32, cs, ds []byte, k []int32, nsb int, s float32) {
		q3HeadVNNI(&out[0], &cs[0], &ds[0], &k[0], nsb, len(out)/16, s)
	},
	tq2half: func(out []int32, w []byte, q []int8) {
		if r4 := len(out) &^ 3; r4 > 0 {
			tq2Rows128VNNI(&out[0], &w[0], &q[0], r4)
		}
		if r4 := len(out) &^ 3; r4 < len(out) {
			tq2RowsVNNI(&out[r4], &w[r4*TQ2Block], &q[0], 1, len(out)-r4)
		}
	},

	fmaCols: fmaColsVec, fmaRows: fmaRowsVec, ssm: ssmVec(ssmAVX512),
	quant: func(q []int8, x []float32, s, lo, hi float32) int32 {
		return quantAVX512(&q[0], &x[0], len(x), s, lo, hi)
	},
	scale: func(y []float32, acc []int32, qsum int32, gs, fs float64) {
		scaleAccAVX512(&y[0], &acc[0], len(acc), qsum, gs, fs)
	},
	f16head: func(out []float32, x []float64, et []uint16) {
		f16HeadAVX512(&out[0], &x[0], &et[0], len(x), len(out)/8)
	},
	read:   func(p []byte) uint64 { return readAVX512(&p[0], len(p)) },
	update: func(p []byte, k uint64) { updateAVX512(&p[0], len(p), k) },
}

var avx2Set = kernelSet{
	name: "avx2",
	tq2:  func(out []int32, w []byte, q []int8, nb int) { tq2RowsAVX2(&out[0], &w[0], &q[0], nb, len(out)) },
	tq1:  func(out []int32, w []byte, q []int8, nb int) { tq1RowsAVX2(&out[0], &w[0], &q[0], nb, len(out)) },
	q8head: func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32) {
		q8HeadAVX2(&out[0], &grp[0], &q[0], &k[0], nb, len(out)/16, s)
	},
	q4head: func(out []float32, grp []byte, q []int8, k []int32, nb int, s float32) {
		q4HeadAVX2(&out[0], &grp[0], &q[0], &k[0], nb, len(out)/16, s)
	},
	q3head: func(out []float32, cs, ds []byte, k []int32, nsb int, s float32) {
		q3HeadAVX2(&out[0], &cs[0], &ds[0], &k[0], nsb, len(out)/16, s)
	},

	fmaCols: fmaColsVec, fmaRows: fmaRowsVec, ssm: ssmVec(ssmAVX2),
	scale: func(y []float32, acc []int32, qsum int32, gs, fs float64) {
		scaleAccAVX2(&y[0], &acc[0], len(acc), qsum, gs, fs)
	},
	read:   func(p []byte) uint64 { return readAVX2(&p[0], len(p)) },
	update: func(p []byte, k uint64) { updateAVX2(&p[0], len(p), k) },
}

func availableSets() []kernelSet {
	var sets []kernelSet
	// VPDPBUSD on ymm registers needs AVX512_VNNI with AVX512VL; the head
	// kernels also use F16C and AVX2 (VPSIGNB, VPABSB), the float kernels
	// FMA3 (and AVX-512F for the SSM step of the VNNI set), the VNNI set's
	// ternary rows GFNI (VGF2P8AFFINEQB extracts a 2-bit code plane).
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512GFNI && cpu.X86.HasAVX2 && cpu.X86.HasF16C && cpu.X86.HasFMA {
		sets = append(sets, vnniSet)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasF16C && cpu.X86.HasFMA {
		sets = append(sets, avx2Set)
	}
	return append(sets, goSet)
}

var active = availableSets()[0]

//go:noescape
func fmaColsAVX2(s, q, kt *float32, hd, stride, n int)

//go:noescape
func fmaRowsAVX2(out, p, v *float32, n, stride, cols int)

//go:noescape
func ssmAVX512(st *float32, u, bv, cv *float64, y *float32, decay float64, nn, p, cols int)

//go:noescape
func ssmAVX2(st *float32, u, bv, cv *float64, y *float32, decay float64, nn, p, cols int)

func fmaColsVec(s, q, kt []float32, stride int) {
	fmaColsAVX2(&s[0], &q[0], &kt[0], len(q), stride, len(s))
}

// fmaRowsVec runs the columns in multiples of 8 in assembly and the rest
// in Go (each column is its own chain).
func fmaRowsVec(out, p, v []float32, stride int) {
	c8 := len(out) &^ 7
	if c8 > 0 {
		fmaRowsAVX2(&out[0], &p[0], &v[0], len(p), stride, c8)
	}
	if c8 < len(out) {
		fmaRowsGo(out[c8:], p, v[c8:], stride)
	}
}

func ssmVec(asm func(st *float32, u, bv, cv *float64, y *float32, decay float64, nn, p, cols int)) func(st []float32, u, bv, cv []float64, y []float32, decay float64) {
	return func(st []float32, u, bv, cv []float64, y []float32, decay float64) {
		P := len(u)
		c8 := P &^ 7
		if c8 > 0 {
			asm(&st[0], &u[0], &bv[0], &cv[0], &y[0], decay, len(bv), P, c8)
		}
		if c8 < P {
			ssmGo(st, u, bv, cv, y, decay, c8)
		}
	}
}

//go:noescape
func quantAVX512(q *int8, x *float32, n int, s, lo, hi float32) int32

//go:noescape
func scaleAccAVX512(y *float32, acc *int32, n int, qsum int32, gs, fs float64)

//go:noescape
func scaleAccAVX2(y *float32, acc *int32, n int, qsum int32, gs, fs float64)

//go:noescape
func f16HeadAVX512(out *float32, x *float64, et *uint16, d, groups int)

//go:noescape
func tq2Rows4MaskVNNI(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func updateAVX512(p *byte, n int, k uint64)

//go:noescape
func updateAVX2(p *byte, n int, k uint64)

//go:noescape
func readAVX512(p *byte, n int) uint64

//go:noescape
func readAVX2(p *byte, n int) uint64
