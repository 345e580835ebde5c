package kernels

import "sync"

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
	pack      packFunc
	packBlock packBlockFunc
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

// gemm splits C into blocks of whole micro-tiles, one block per thread, and
// runs the blocked product on each. Threads never split K.
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
		gemmBlock(ks, g)
		return
	}
	if splitRows(ks, threads, g.m, g.k, g.n) {
		Parallel(threads, mTiles, func(lo, hi int) {
			gemmBlock(ks, g.rows(lo*ks.mr, min(hi*ks.mr, g.m)))
		})
		return
	}
	Parallel(threads, nTiles, func(lo, hi int) {
		gemmBlock(ks, g.cols(lo*ks.nr, min(hi*ks.nr, g.n)))
	})
}

// packFlops is what packing one element costs, in FLOPs of the
// micro-kernel's rate (about 0.15 ns per element against 100 GFLOP/s).
const packFlops = 16

// splitRows reports whether threads should split C by rows (each thread
// then packs all of B) rather than by columns (each packs all of A): the
// split whose busiest thread has the least work, counting its FMAs on whole
// micro-tiles and the elements it packs.
func splitRows(ks kernelSet, threads, m, k, n int) bool {
	mTiles := (m + ks.mr - 1) / ks.mr
	nTiles := (n + ks.nr - 1) / ks.nr
	if mTiles < 2 || nTiles < 2 {
		return nTiles < 2
	}
	// cost is the busiest thread's work with rows×cols of C.
	cost := func(rows, cols int) int {
		aPacks := (cols + blockN - 1) / blockN // A is packed once per NC columns
		return 2*rows*k*cols + packFlops*(rows*k*aPacks+k*cols)
	}
	busiest := func(tiles, size, tile int) int {
		return min(size, (tiles+threads-1)/threads*tile)
	}
	return cost(busiest(mTiles, m, ks.mr), n) <= cost(m, busiest(nTiles, n, ks.nr))
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

// getBuffers returns scratch space for the blocks of g: a pooled set when it
// is large enough, else a new one.
func getBuffers(ks kernelSet, g gemmArgs) *packBuffers {
	kc := min(blockK, g.k)
	needA := roundUp(min(blockM, g.m), ks.mr) * kc
	needB := roundUp(min(blockN, g.n), ks.nr) * kc
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

// gemmBlock runs the blocked product on one thread.
func gemmBlock(ks kernelSet, g gemmArgs) {
	buf := getBuffers(ks, g)
	defer packPool.Put(buf)
	mr, nr := ks.mr, ks.nr
	mc := roundUp(blockM, mr)
	for jc := 0; jc < g.n; jc += blockN {
		nc := min(blockN, g.n-jc)
		for pc := 0; pc < g.k; pc += blockK {
			kc := min(blockK, g.k-pc)
			packB(ks, buf.b, g, pc, kc, jc, nc)
			load := g.acc || pc > 0
			for ic := 0; ic < g.m; ic += mc {
				mcc := min(mc, g.m-ic)
				packA(ks, buf.a, g, ic, mcc, pc, kc)
				for ir := 0; ir < mcc; ir += mr {
					ap := buf.a[ir*kc : (ir+mr)*kc]
					rowsLeft := min(mr, mcc-ir)
					for jr := 0; jr < nc; jr += nr {
						bp := buf.b[jr*kc : (jr+nr)*kc]
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
