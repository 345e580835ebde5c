//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// Assembly micro-kernels (gemm_amd64.s). a, b and c point at the packed A
// micro-panel, the packed B micro-panel and the top-left element of the C
// tile; ldc is C's row stride in elements; load is 1 to continue the chains
// from the stored C and 0 to start them from +0.

//go:noescape
func kernel12x32AVX512(kc int, a, b, c *float32, ldc int, load int)

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, load int)

//go:noescape
func kernel12x32AVX512A(kc int, a *float32, rs, ks int, b, c *float32, ldc int, load int)

var avx512Kernels = kernelSet{name: "avx512", mr: 12, nr: 32, kernel: kernelAVX512, kernelA: kernelAVX512A, pack: packPanelAVX512, packBlock: packBlockAVX512}

var avx2Kernels = kernelSet{name: "avx2", mr: 6, nr: 16, kernel: kernelAVX2, pack: packPanelAVX2, packBlock: packBlockAVX2}

func kernelAVX512(kc int, a, b, c []float32, ldc int, load bool) {
	checkTile(kc, a, b, c, ldc, 12, 32)
	kernel12x32AVX512(kc, &a[0], &b[0], &c[0], ldc, boolInt(load))
}

func kernelAVX512A(kc int, a []float32, rs, ks int, b, c []float32, ldc int, load bool) {
	checkTileA(kc, a, rs, ks, b, c, ldc, 12, 32)
	kernel12x32AVX512A(kc, &a[0], rs, ks, &b[0], &c[0], ldc, boolInt(load))
}

func kernelAVX2(kc int, a, b, c []float32, ldc int, load bool) {
	checkTile(kc, a, b, c, ldc, 6, 16)
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, boolInt(load))
}

//go:noescape
func packTransposeAVX512(dst, src *float32, lds, nrows, kc, dstw int, smask uint32)

// packPanelAVX512 is the packFunc of the AVX-512 set (at most 32 lanes):
// masked vector copies for contiguous lanes and in-register 16×16
// transposes for strided ones (gathers are slow on CPUs with the
// gather-sampling mitigation).
func packPanelAVX512(dst, src []float32, base, ld int, contiguous bool, lanes, width, kc int) {
	if kc < 1 || lanes < 1 || width > 32 {
		packPanelGo(dst, src, base, ld, contiguous, lanes, width, kc)
		return
	}
	_ = dst[kc*width-1]
	if contiguous {
		_ = src[base+(kc-1)*ld+lanes-1]
		packRowsAVX512(&dst[0], &src[base], ld, kc, width, 1, laneMask(lanes))
		return
	}
	_ = src[base+(lanes-1)*ld+kc-1]
	for jb := 0; jb < width; jb += 16 {
		nrows := min(max(lanes-jb, 0), 16)
		from := 0
		if nrows > 0 {
			from = base + jb*ld
		}
		packTransposeAVX512(&dst[jb], &src[from], ld, nrows, kc, width, laneMask(min(16, width-jb)))
	}
}

//go:noescape
func packRowsAVX512(dst, src *float32, lds, rows, width, panels int, lmask uint32)

// wholeLine is the panel width (in floats) from which a contiguous block is
// packed panel by panel: each source row then gives whole cache lines, and
// the panel is written sequentially. Narrower panels are packed row by row
// across all panels, so that the source is read in sequential streams
// rather than one short piece per row.
const wholeLine = 16

// packBlockAVX512 packs contiguous lanes with masked vector copies (see
// wholeLine for the order) and strided lanes panel by panel with
// in-register transposes.
func packBlockAVX512(dst, src []float32, base, ld int, contiguous bool, n, width, kc int) {
	if !contiguous || n < 1 || kc < 1 || width > 32 {
		packBlockGo(packPanelAVX512)(dst, src, base, ld, contiguous, n, width, kc)
		return
	}
	panels := (n + width - 1) / width
	_ = dst[panels*width*kc-1]
	_ = src[base+(kc-1)*ld+n-1]
	if width >= wholeLine {
		for q := 0; q < panels; q++ {
			packRowsAVX512(&dst[q*width*kc], &src[base+q*width], ld, kc, width, 1, laneMask(min(width, n-q*width)))
		}
		return
	}
	packRowsAVX512(&dst[0], &src[base], ld, kc, width, panels, laneMask(n-(panels-1)*width))
}

//go:noescape
func packRowsAVX2(dst, src *float32, lds, rows, width, panels, last int)

//go:noescape
func packTransposeAVX2(dst, src *float32, lds, nrows, kc, dstw, slanes int)

// packPanelAVX2 is the packFunc of the AVX2 set: masked moves for
// contiguous lanes and in-register 8×8 transposes for strided ones (at most
// 16 lanes).
func packPanelAVX2(dst, src []float32, base, ld int, contiguous bool, lanes, width, kc int) {
	if kc < 1 || lanes < 1 || width > 16 {
		packPanelGo(dst, src, base, ld, contiguous, lanes, width, kc)
		return
	}
	_ = dst[kc*width-1]
	if contiguous {
		_ = src[base+(kc-1)*ld+lanes-1]
		packRowsAVX2(&dst[0], &src[base], ld, kc, width, 1, lanes)
		return
	}
	_ = src[base+(lanes-1)*ld+kc-1]
	for jb := 0; jb < width; jb += 8 {
		nrows := min(max(lanes-jb, 0), 8)
		from := 0
		if nrows > 0 {
			from = base + jb*ld
		}
		packTransposeAVX2(&dst[jb], &src[from], ld, nrows, kc, width, min(8, width-jb))
	}
}

// packBlockAVX2 packs contiguous lanes with vector copies (see wholeLine
// for the order) and strided lanes panel by panel.
func packBlockAVX2(dst, src []float32, base, ld int, contiguous bool, n, width, kc int) {
	if !contiguous || n < 1 || kc < 1 || width > 16 {
		packBlockGo(packPanelAVX2)(dst, src, base, ld, contiguous, n, width, kc)
		return
	}
	panels := (n + width - 1) / width
	_ = dst[panels*width*kc-1]
	_ = src[base+(kc-1)*ld+n-1]
	if width >= wholeLine {
		for q := 0; q < panels; q++ {
			packRowsAVX2(&dst[q*width*kc], &src[base+q*width], ld, kc, width, 1, min(width, n-q*width))
		}
		return
	}
	packRowsAVX2(&dst[0], &src[base], ld, kc, width, panels, n-(panels-1)*width)
}

// laneMask has the low n bits set.
func laneMask(n int) uint32 { return uint32(uint64(1)<<n - 1) }

// checkTile guards the unchecked memory accesses of an assembly kernel.
func checkTile(kc int, a, b, c []float32, ldc, mr, nr int) {
	if kc < 1 || len(a) < kc*mr || len(b) < kc*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic("kernels: micro-kernel called with a tile outside its buffers")
	}
}

// checkTileA guards the unchecked memory accesses of an assembly kernel
// that reads A in place (element (r, p) of the panel at a[r*rs+p*ks]).
func checkTileA(kc int, a []float32, rs, ks int, b, c []float32, ldc, mr, nr int) {
	if kc < 1 || rs < 1 || ks < 1 || len(a) <= (mr-1)*rs+(kc-1)*ks || len(b) < kc*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic("kernels: micro-kernel called with a tile outside its buffers")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// availableKernels lists the kernel sets this CPU can run, fastest first.
func availableKernels() []kernelSet {
	var sets []kernelSet
	if cpu.X86.HasAVX512F {
		sets = append(sets, avx512Kernels)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, avx2Kernels)
	}
	return append(sets, goKernels)
}

var active = availableKernels()[0]
