package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// microKernel updates one mr×nr tile of C (row stride ldc) from a packed A
// micro-panel (kc steps of mr values) and a packed B micro-panel (kc steps of
// nr values). Every C element runs one FMA chain over the kc steps in order,
// starting from the stored C when load is true and from +0 otherwise.
type microKernel func(kc int, a, b, c []float32, ldc int, load bool)

// kernelSet is one implementation of the micro-kernel with its tile shape.
type kernelSet struct {
	name      string
	mr, nr    int
	kernel    microKernel
	kernelA   microKernelA // nil: A is always packed
	pack      packFunc
	packBlock packBlockFunc
}

// microKernelA is microKernel with A read in place instead of from a packed
// micro-panel: element (r, p) of the panel is a[r*rs+p*ks]. Its FMA chains
// are those of the set's microKernel, so a product gives the same bits
// whichever of the two reads A.
type microKernelA func(kc int, a []float32, rs, ks int, b, c []float32, ldc int, load bool)

// inPlaceA reports whether gemmBlock reads g's A in place rather than
// packing it. Packing A costs a pass over it per product; reading it in
// place costs nothing extra, as the micro-kernel reads a panel's values in
// order. A transposed A (TN products) is always read in place (measured
// on a 2048×2048 A with a stride of 8 KiB, from memory: 98 GFLOP/s in
// place, 81 packed); a row-major A (NN and NT) is unless its row stride is
// a multiple of 4 KiB, which puts the twelve rows of a micro-panel in the
// same L1 sets (there reading in place gains nothing).
func inPlaceA(ks kernelSet, g gemmArgs) bool {
	return ks.kernelA != nil && (g.transA || g.lda%1024 != 0) && !noInPlaceA
}

// conflictingStride reports whether g's A is transposed with a row stride
// of 1 or 2 KiB: the K steps of a micro-panel read in place then fall in a
// few cache sets (a 2048×256 A read in place ran at 83 GFLOP/s on one
// thread, with a stride of 264 floats at 101, and from the padded copy at
// 92; with strides of 512 and 256 bytes the copy cost more than it saved,
// and a 2048×2048 A, read in place at 109, would be copied whole).
func conflictingStride(g gemmArgs) bool { return g.transA && (g.lda == 256 || g.lda == 512) }

// padMinRows is the least number of rows of C for which gemmBlock copies
// a conflicting A (a narrower strip reads as few values per row as the
// copy would).
const padMinRows = 48

// paddedStride is the row stride of a padded copy of m columns: a multiple
// of 16 floats that is not one of 256.
func paddedStride(m int) int {
	ld := roundUp(m, 16)
	if ld%256 == 0 {
		ld += 16
	}
	return ld
}

// padTransA replaces g's A (transposed, k rows of g.m values) by a pooled
// copy with a padded row stride when its stride conflicts, and returns the
// copy (nil: none made). The copy has the same values, so the product has
// the same bits.
func padTransA(ks kernelSet, g *gemmArgs, k int) *[]float32 {
	if !conflictingStride(*g) || !inPlaceA(ks, *g) {
		return nil
	}
	ld := paddedStride(g.m)
	buf := getShared(ld * k)
	for p := 0; p < k; p++ {
		copy((*buf)[p*ld:p*ld+g.m], g.a[p*g.lda:p*g.lda+g.m])
	}
	g.a, g.lda = (*buf)[:ld*k], ld
	return buf
}

// noInPlaceA turns inPlaceA off (tests and benchmarks of the packed path).
var noInPlaceA bool

// aAt returns the offset of op(A)(i, p) in g.a and op(A)'s row and K
// strides.
func (g gemmArgs) aAt(i, p int) (off, rs, ks int) {
	if g.transA {
		return p*g.lda + i, 1, g.lda
	}
	return i*g.lda + p, g.lda, 1
}

// Cache blocking. KC bounds the length of one chain segment between a store
// and a reload of C (this changes no bits: the stored float32 partial is the
// exact chain state). A packed A micro-panel (mr×KC) stays in L1 while the
// B micro-panels stream past it from the packed B block (KC×NC, L2 and L3).
// NC is wide because A is packed again for every NC columns: from a large
// row-major A (strided reads that miss the caches) that repacking cost 8%
// of 2048³ at NC = 512.
const (
	blockK = 256
	blockN = 2048
	blockM = 96
)

// gemmArgs describes C[m×n] (+)= op(A)·op(B) with explicit leading
// dimensions; op(A)(i,p) is a[i*lda+p], or a[p*lda+i] when transA, and
// op(B)(p,j) is b[p*ldb+j], or b[j*ldb+p] when transB.
type gemmArgs struct {
	c              []float32
	ldc            int
	a, b           []float32
	lda, ldb       int
	transA, transB bool
	m, k, n        int
	acc            bool
}

// gemm runs the blocked product on one thread, or on several with the
// operand that all workers read packed once and shared (sharedGemm). Each
// element of C is computed by exactly one worker, whatever the split, so the
// thread count never changes bits.
func gemm(ks kernelSet, threads int, g gemmArgs) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 {
		if !g.acc {
			for i := 0; i < g.m; i++ {
				clear(g.c[i*g.ldc : i*g.ldc+g.n])
			}
		}
		return
	}
	if threads < 1 {
		threads = 1
	}
	mTiles := (g.m + ks.mr - 1) / ks.mr
	nTiles := (g.n + ks.nr - 1) / ks.nr
	if threads == 1 || mTiles*nTiles == 1 {
		gemmBlock(ks, g, nil, nil)
		return
	}
	if kSplit(ks, threads, g) {
		kSplitGemm(ks, threads, g)
		return
	}
	sharedGemm(ks, threads, g, mTiles >= nTiles, nil)
}

// kSplitMin is the least number of K steps per thread for which a TN
// product splits K (kSplitGemm).
const kSplitMin = 256

// kSplit reports whether a multi-threaded product runs as kSplitGemm: a TN
// product whose A is read in place, with kSplitMin steps of K and at least
// four row tiles per thread (a worker waits for the one before it strip by
// strip, so with fewer strips it would mostly wait; e.g. a LoRA gradient of
// rank 8 splits its columns in sharedGemm instead).
func kSplit(ks kernelSet, threads int, g gemmArgs) bool {
	mTiles := (g.m + ks.mr - 1) / ks.mr
	return g.transA && g.k >= kSplitMin*threads && mTiles >= 4*threads && inPlaceA(ks, g)
}

// kSplitGemm is the multi-threaded TN product (C = Aᵀ·B, the reduction over
// the rows of A and B, as in a weight gradient): worker w takes the w-th
// range of K, so that it reads only its share of the rows of A and B (the
// rows a row pass on its thread wrote), packs its part of B once, and runs
// every strip of C over its range, after worker w−1 has run that strip
// over the range before: each element's chain continues from the float32
// that the previous range stored, which is the exact chain state, so the
// chains, and the bits, are those of one thread. Worker w starts a strip
// behind worker w−1; the strips are small so that the wait is short.
func kSplitGemm(ks kernelSet, threads int, g gemmArgs) {
	mTiles := (g.m + ks.mr - 1) / ks.mr
	per := max(mTiles/32, 1) // row tiles per strip
	strips := (mTiles + per - 1) / per
	done := make([]atomic.Int64, threads) // strips finished by each worker
	ldB := roundUp(g.n, ks.nr)
	Parallel(threads, threads, func(w, _ int) {
		gw := g.kRange(g.k*w/threads, g.k*(w+1)/threads)
		if padded := padTransA(ks, &gw, gw.k); padded != nil {
			defer sharedPool.Put(padded)
		}
		packed := getShared(ldB * gw.k)
		defer sharedPool.Put(packed)
		for pc := 0; pc < gw.k; pc += blockK {
			packB(ks, (*packed)[pc*ldB:], gw, pc, min(blockK, gw.k-pc), 0, g.n)
		}
		for s := 0; s < strips; s++ {
			if w > 0 {
				for done[w-1].Load() <= int64(s) {
					runtime.Gosched()
				}
			}
			gemmBlock(ks, gw.rows(s*per*ks.mr, min((s+1)*per*ks.mr, g.m)), nil, *packed)
			done[w].Store(int64(s + 1))
		}
	})
}

// sharedGemm is the multi-threaded product. With byRows, B is packed once
// (the threads share its panels) and the workers take strips of whole row
// tiles of C from a shared counter; otherwise A is packed once and the
// workers take strips of column tiles. The strips shrink towards the end
// (guided scheduling), so a worker slowed by the machine leaves little
// behind, and no worker repacks what another packed. packed, when not nil,
// is the shared operand already packed over all of K in that layout (a
// PackNT's B, byRows only): the workers then pack nothing.
func sharedGemm(ks kernelSet, threads int, g gemmArgs, byRows bool, packed []float32) {
	// A shared operand larger than sharedFloats is packed and used one
	// range of K blocks at a time, so that it stays in the last-level
	// cache; C holds the exact chain state between the ranges.
	lanes, width := g.m, ks.mr
	if byRows {
		lanes, width = g.n, ks.nr
	}
	ld := roundUp(lanes, width)
	kPhase := max(sharedFloats/ld/blockK, 1) * blockK
	for p0 := 0; p0 < g.k; p0 += kPhase {
		var pre []float32
		if packed != nil {
			pre = packed[p0*ld:]
		}
		sharedPhase(ks, threads, g.kRange(p0, min(p0+kPhase, g.k)), byRows, pre)
	}
}

// sharedFloats bounds the shared packed operand of one phase (4 MiB).
const sharedFloats = 1 << 20

// sharedPhase runs sharedGemm on one range of K; packed, when not nil, is
// that range's shared operand already packed.
func sharedPhase(ks kernelSet, threads int, g gemmArgs, byRows bool, packed []float32) {
	// The shared operand has lanes in panels of width; the workers' strips
	// are made of tiles of the other dimension.
	width, lanes, tiles := ks.mr, g.m, (g.n+ks.nr-1)/ks.nr
	pack := packA
	if byRows {
		width, lanes, tiles = ks.nr, g.n, (g.m+ks.mr-1)/ks.mr
		pack = func(ks kernelSet, dst []float32, g gemmArgs, lo, n, pc, kc int) { packB(ks, dst, g, pc, kc, lo, n) }
	}
	panels := (lanes + width - 1) / width
	// The shared operand: for each K block at pc, all its lanes as panels
	// (the layout of packA or packB over the whole dimension) from pc*ld,
	// so that the block of lanes from l starts at pc*ld + l*kc.
	ld := roundUp(lanes, width)
	const group = 8 // panels per packing task
	groups := (panels + group - 1) / group
	packTasks := int64((g.k+blockK-1)/blockK) * int64(groups)
	shared := &packed
	if packed == nil {
		shared = getShared(ld * g.k)
		defer sharedPool.Put(shared)
	} else {
		packTasks = 0
	}
	var packDone atomic.Int64
	packQ, stripQ := newTaskQueue(packTasks), newTaskQueue(int64(tiles))
	Parallel(threads, threads, func(w, _ int) {
		// Pack tasks first, taken from a queue by whichever workers run,
		// then strips once every task is done.
		for {
			t, _, ok := packQ.take(w, threads, func(int64) int64 { return 1 })
			if !ok {
				break
			}
			pc, l := int(t)/groups*blockK, int(t)%groups*group*width
			kc := min(blockK, g.k-pc)
			pack(ks, (*shared)[pc*ld+l*kc:], g, l, min(group*width, lanes-l), pc, kc)
			packDone.Add(1)
		}
		for packDone.Load() < packTasks {
			runtime.Gosched()
		}
		maxRun := int64(stripTiles(ks, byRows))
		for {
			t0, t1, ok := stripQ.take(w, threads, func(left int64) int64 {
				return min(max(left/int64(2*threads), 1), maxRun)
			})
			if !ok {
				return
			}
			t, size := int(t0), int(t1-t0)
			if byRows {
				gemmBlock(ks, g.rows(t*ks.mr, min((t+size)*ks.mr, g.m)), nil, *shared)
			} else {
				gemmBlock(ks, g.cols(t*ks.nr, min((t+size)*ks.nr, g.n)), *shared, nil)
			}
		}
	})
}

// taskQueue hands out the tasks [0, n) in ascending runs. With two
// workers, worker 0 takes runs from the front and worker 1 from the back,
// so each does the half of the tasks that Parallel's static split of the
// same range gives it (the rows a row pass on that thread wrote, or will
// read, stay in its core's caches) unless the other falls behind; with
// more, all take from the front. Which worker runs a task never changes
// its result.
type taskQueue struct {
	// state holds the front in its low 32 bits and the back in its high
	// 32 bits: the tasks left are [front, back).
	state atomic.Uint64
}

func newTaskQueue(n int64) *taskQueue {
	q := &taskQueue{}
	q.state.Store(uint64(n) << 32)
	return q
}

// take removes the next run of worker w (of threads) of size(left) tasks
// at most, left being the number of tasks not yet taken, and returns it as
// [lo, hi); ok is false when no task is left.
func (q *taskQueue) take(w, threads int, size func(left int64) int64) (lo, hi int64, ok bool) {
	for {
		s := q.state.Load()
		front, back := int64(s&0xffffffff), int64(s>>32)
		if front >= back {
			return 0, 0, false
		}
		n := min(max(size(back-front), 1), back-front)
		var next uint64
		if threads == 2 && w == 1 {
			lo, hi = back-n, back
			next = uint64(front) | uint64(lo)<<32
		} else {
			lo, hi = front, front+n
			next = uint64(hi) | uint64(back)<<32
		}
		if q.state.CompareAndSwap(s, next) {
			return lo, hi, true
		}
	}
}

// stripTiles is the most tiles a worker takes at once: an A block's rows,
// or eight column tiles (across which an A micro-panel from the shared A is
// reused).
func stripTiles(ks kernelSet, byRows bool) int {
	if byRows {
		return max(blockM/ks.mr, 1)
	}
	return 8
}

var sharedPool sync.Pool

// getShared returns a pooled buffer of at least n floats.
func getShared(n int) *[]float32 {
	if p, ok := sharedPool.Get().(*[]float32); ok && len(*p) >= n {
		return p
	}
	b := make([]float32, n)
	return &b
}

// rows restricts the product to rows [lo,hi) of C.
func (g gemmArgs) rows(lo, hi int) gemmArgs {
	g.c = g.c[lo*g.ldc:]
	if g.transA {
		g.a = g.a[lo:]
	} else {
		g.a = g.a[lo*g.lda:]
	}
	g.m = hi - lo
	return g
}

// kRange restricts the product to the steps [lo,hi) of K, continuing the
// chains stored in C when lo > 0.
func (g gemmArgs) kRange(lo, hi int) gemmArgs {
	if g.transA {
		g.a = g.a[lo*g.lda:]
	} else {
		g.a = g.a[lo:]
	}
	if g.transB {
		g.b = g.b[lo:]
	} else {
		g.b = g.b[lo*g.ldb:]
	}
	g.k = hi - lo
	g.acc = g.acc || lo > 0
	return g
}

// cols restricts the product to columns [lo,hi) of C.
func (g gemmArgs) cols(lo, hi int) gemmArgs {
	g.c = g.c[lo:]
	if g.transB {
		g.b = g.b[lo*g.ldb:]
	} else {
		g.b = g.b[lo:]
	}
	g.n = hi - lo
	return g
}

// packBuffers are one worker's packing and edge-tile scratch space.
type packBuffers struct {
	a, b, tile []float32
}

var packPool sync.Pool

// getBuffers returns scratch space for the blocks of g (none for an operand
// that is shared): a pooled set when it is large enough, else a new one.
func getBuffers(ks kernelSet, g gemmArgs, packA, packB bool) *packBuffers {
	kc := min(blockK, g.k)
	var needA, needB int
	if packA {
		needA = roundUp(min(blockM, g.m), ks.mr) * kc
	}
	if packB {
		needB = roundUp(min(blockN, g.n), ks.nr) * kc
	}
	if p, ok := packPool.Get().(*packBuffers); ok && len(p.a) >= needA && len(p.b) >= needB && len(p.tile) >= ks.mr*ks.nr {
		return p
	}
	return &packBuffers{
		a:    make([]float32, needA),
		b:    make([]float32, needB),
		tile: make([]float32, ks.mr*ks.nr),
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// gemmBlock runs the blocked product on one thread. sharedA and sharedB,
// when not nil, hold op(A) or op(B) already packed over all of g's rows or
// columns in sharedGemm's layout; otherwise the blocks are packed here.
func gemmBlock(ks kernelSet, g gemmArgs, sharedA, sharedB []float32) {
	buf := getBuffers(ks, g, sharedA == nil, sharedB == nil)
	defer packPool.Put(buf)
	mr, nr := ks.mr, ks.nr
	inPlace := sharedA == nil && inPlaceA(ks, g)
	// A transposed A whose row stride conflicts in the caches is read in
	// place from a copy of each K block with a padded stride.
	var full gemmArgs
	if inPlace && conflictingStride(g) && g.m >= padMinRows {
		full = g
		padded := getShared(paddedStride(g.m) * min(blockK, g.k))
		defer sharedPool.Put(padded)
		g.a, g.lda = *padded, paddedStride(g.m)
	}
	mc := roundUp(blockM, mr)
	ldA, ldB := roundUp(g.m, mr), roundUp(g.n, nr)
	for jc := 0; jc < g.n; jc += blockN {
		nc := min(blockN, g.n-jc)
		for pc := 0; pc < g.k; pc += blockK {
			kc := min(blockK, g.k-pc)
			bBlock := buf.b
			if sharedB != nil {
				bBlock = sharedB[pc*ldB+jc*kc:]
			} else {
				packB(ks, bBlock, g, pc, kc, jc, nc)
			}
			load := g.acc || pc > 0
			if full.a != nil {
				// g.a holds op(A)ᵀ's rows pc..pc+kc: K index p at row p−pc.
				for p := 0; p < kc; p++ {
					copy(g.a[p*g.lda:p*g.lda+g.m], full.a[(pc+p)*full.lda:(pc+p)*full.lda+g.m])
				}
				g.a = g.a[:kc*g.lda]
			}
			for ic := 0; ic < g.m; ic += mc {
				mcc := min(mc, g.m-ic)
				aBlock := buf.a
				switch {
				case sharedA != nil:
					aBlock = sharedA[pc*ldA+ic*kc:]
				case inPlace:
					// Only a ragged last micro-panel is packed.
					if whole := mcc / mr * mr; whole < mcc {
						if full.a != nil {
							packA(ks, aBlock[whole*kc:], full, ic+whole, mcc-whole, pc, kc)
						} else {
							packA(ks, aBlock[whole*kc:], g, ic+whole, mcc-whole, pc, kc)
						}
					}
				default:
					packA(ks, aBlock, g, ic, mcc, pc, kc)
				}
				for ir := 0; ir < mcc; ir += mr {
					ap := aBlock[ir*kc : (ir+mr)*kc]
					rowsLeft := min(mr, mcc-ir)
					if inPlace && rowsLeft == mr {
						apc := pc
						if full.a != nil {
							apc = 0 // the copy starts at row pc
						}
						a0, rs, kst := g.aAt(ic+ir, apc)
						a := g.a[a0:]
						for jr := 0; jr < nc; jr += nr {
							bp := bBlock[jr*kc : (jr+nr)*kc]
							off := (ic+ir)*g.ldc + jc + jr
							if nc-jr >= nr {
								ks.kernelA(kc, a, rs, kst, bp, g.c[off:], g.ldc, load)
								continue
							}
							edgeTileA(ks, kc, a, rs, kst, bp, g.c[off:], g.ldc, nc-jr, load, buf.tile)
						}
						continue
					}
					for jr := 0; jr < nc; jr += nr {
						bp := bBlock[jr*kc : (jr+nr)*kc]
						colsLeft := min(nr, nc-jr)
						off := (ic+ir)*g.ldc + jc + jr
						if rowsLeft == mr && colsLeft == nr {
							ks.kernel(kc, ap, bp, g.c[off:], g.ldc, load)
							continue
						}
						edgeTile(ks, kc, ap, bp, g.c[off:], g.ldc, rowsLeft, colsLeft, load, buf.tile)
					}
				}
			}
		}
	}
}

// edgeTile runs the micro-kernel on a full-size scratch tile for a ragged
// tile of C: the padded rows and columns are computed but never stored, and
// the stored elements run exactly the chain of a full tile.
func edgeTile(ks kernelSet, kc int, ap, bp, c []float32, ldc, rows, cols int, load bool, tile []float32) {
	nr := ks.nr
	if load {
		for i := 0; i < rows; i++ {
			copy(tile[i*nr:i*nr+cols], c[i*ldc:i*ldc+cols])
		}
	}
	ks.kernel(kc, ap, bp, tile, nr, load)
	for i := 0; i < rows; i++ {
		copy(c[i*ldc:i*ldc+cols], tile[i*nr:i*nr+cols])
	}
}

// edgeTileA is edgeTile for a full-height tile of ragged width whose A
// micro-panel is read in place.
func edgeTileA(ks kernelSet, kc int, a []float32, rs, kst int, bp, c []float32, ldc, cols int, load bool, tile []float32) {
	mr, nr := ks.mr, ks.nr
	if load {
		for i := 0; i < mr; i++ {
			copy(tile[i*nr:i*nr+cols], c[i*ldc:i*ldc+cols])
		}
	}
	ks.kernelA(kc, a, rs, kst, bp, tile, nr, load)
	for i := 0; i < mr; i++ {
		copy(c[i*ldc:i*ldc+cols], tile[i*nr:i*nr+cols])
	}
}

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into micro-panels of mr rows:
// panel q holds dst[q*mr*kc + p*mr + r] = op(A)(ic+q*mr+r, pc+p). Rows past
// mc are zero padding.
func packA(ks kernelSet, dst []float32, g gemmArgs, ic, mc, pc, kc int) {
	if g.transA {
		ks.packBlock(dst, g.a, pc*g.lda+ic, g.lda, true, mc, ks.mr, kc)
	} else {
		ks.packBlock(dst, g.a, ic*g.lda+pc, g.lda, false, mc, ks.mr, kc)
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into micro-panels of nr columns:
// panel q holds dst[q*nr*kc + p*nr + j] = op(B)(pc+p, jc+q*nr+j). Columns
// past nc are zero padding.
func packB(ks kernelSet, dst []float32, g gemmArgs, pc, kc, jc, nc int) {
	if g.transB {
		ks.packBlock(dst, g.b, jc*g.ldb+pc, g.ldb, false, nc, ks.nr, kc)
	} else {
		ks.packBlock(dst, g.b, pc*g.ldb+jc, g.ldb, true, nc, ks.nr, kc)
	}
}

// packBlockFunc packs n lanes into ceil(n/width) consecutive micro-panels
// of kc rows by width floats: panel q holds lanes [q*width, q*width+width)
// as packFunc lays out one panel (contiguous lanes: lane l of step p at
// src[base+p*ld+l]; strided: at src[base+l*ld+p]); lanes past n are +0.
type packBlockFunc func(dst, src []float32, base, ld int, contiguous bool, n, width, kc int)

// packBlockGo packs panel by panel with pack.
func packBlockGo(pack packFunc) packBlockFunc {
	return func(dst, src []float32, base, ld int, contiguous bool, n, width, kc int) {
		for q := 0; q*width < n; q++ {
			lanes := min(width, n-q*width)
			off := base + q*width*ld
			if contiguous {
				off = base + q*width
			}
			pack(dst[q*width*kc:(q+1)*width*kc], src, off, ld, contiguous, lanes, width, kc)
		}
	}
}

// packFunc writes one packed micro-panel of kc rows of width floats:
// dst[p*width+j] = src[base+p*ld+j] when contiguous (the panel's lanes are
// adjacent in memory) and src[base+j*ld+p] otherwise, for j < lanes; lanes
// j in [lanes, width) are +0.
type packFunc func(dst, src []float32, base, ld int, contiguous bool, lanes, width, kc int)

// packPanelGo is the portable packFunc.
func packPanelGo(dst, src []float32, base, ld int, contiguous bool, lanes, width, kc int) {
	d := dst[:kc*width]
	if contiguous {
		for p := 0; p < kc; p++ {
			row := d[p*width : p*width+width]
			s := src[base+p*ld : base+p*ld+lanes]
			for j, v := range s {
				row[j] = v
			}
			clear(row[lanes:])
		}
		return
	}
	for j := 0; j < lanes; j++ {
		s := src[base+j*ld : base+j*ld+kc]
		for p, v := range s {
			d[p*width+j] = v
		}
	}
	if lanes < width {
		for p := 0; p < kc; p++ {
			clear(d[p*width+lanes : p*width+width])
		}
	}
}
