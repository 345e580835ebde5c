package kernels

import "fmt"

// PackedNT is the right operand B[n×k] of C = A·Bᵀ packed once, in the
// layout the GEMM driver packs it into for every call of MatMulNT, for a
// weight matrix multiplied by many inputs while it does not change (an
// evaluation's projections and head). Packing only moves values: a product
// with a PackedNT has the bits of MatMulNT with the matrix it was packed
// from.
type PackedNT struct {
	ks   kernelSet
	n, k int
	src  []float32 // the matrix packed, for the paths that do not use the packing
	data []float32 // K block by K block: all n lanes as ks.nr-wide panels
}

// PackNT packs b, an n×k row-major matrix, for MatMulNTPacked with the
// kernel set active now. The packing is a copy: b may change afterwards only
// if the PackedNT is no longer used (a product would read the stale copy on
// the packed path and b itself on the others).
func PackNT(b []float32, n, k int) *PackedNT {
	if n < 0 || k < 0 || len(b) < n*k {
		panic(fmt.Sprintf("kernels.PackNT: bad shapes n=%d k=%d len(b)=%d (need n,k >= 0, len(b) >= n*k)", n, k, len(b)))
	}
	ks := active
	p := &PackedNT{ks: ks, n: n, k: k, src: b[:n*k]}
	if n == 0 || k == 0 {
		return p
	}
	g := gemmArgs{b: b, ldb: k, transB: true, n: n, k: k}
	ld := roundUp(n, ks.nr)
	p.data = make([]float32, ld*k)
	for pc := 0; pc < k; pc += blockK {
		kc := min(blockK, k-pc)
		packB(ks, p.data[pc*ld:], g, pc, kc, 0, n)
	}
	return p
}

// Rows returns n, the rows of the packed matrix (the columns of C).
func (p *PackedNT) Rows() int { return p.n }

// Cols returns k, the columns of the packed matrix (the reduction length).
func (p *PackedNT) Cols() int { return p.k }

// Bytes returns the memory the packed copy holds.
func (p *PackedNT) Bytes() int { return 4 * len(p.data) }

// MatMulNTPacked computes C = A·Bᵀ (C is m×n, A is m×k, B the n×k matrix
// packed by PackNT), or C += A·Bᵀ when acc is true: the bits of
// MatMulNT(threads, c, a, b, m, k, n, acc) with the matrix b was packed
// from, for any thread count. Under WithGEMM, when another kernel set was
// selected after the packing, or for a single row tile on several threads
// (which MatMulNT splits by columns), it runs MatMulNT on the source
// matrix.
func MatMulNTPacked(threads int, c, a []float32, b *PackedNT, m int, acc bool) {
	k, n := b.k, b.n
	checkGemm("MatMulNTPacked", c, a, b.src, m, k, n)
	ks := b.ks
	mTiles := (m + ks.mr - 1) / ks.mr
	if override.Load() != nil || active.name != ks.name || k == 0 || m == 0 || n == 0 || (mTiles == 1 && threads > 1) {
		MatMulNT(threads, c, a, b.src, m, k, n, acc)
		return
	}
	g := gemmArgs{
		c: c, ldc: n,
		a: a, lda: k,
		b: b.src, ldb: k, transB: true,
		m: m, k: k, n: n, acc: acc,
	}
	if threads <= 1 {
		gemmBlock(ks, g, nil, b.data)
		return
	}
	sharedGemm(ks, threads, g, true, b.data)
}
