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

var avx512Kernels = kernelSet{name: "avx512", mr: 12, nr: 32, kernel: kernelAVX512}

var avx2Kernels = kernelSet{name: "avx2", mr: 6, nr: 16, kernel: kernelAVX2}

func kernelAVX512(kc int, a, b, c []float32, ldc int, load bool) {
	checkTile(kc, a, b, c, ldc, 12, 32)
	kernel12x32AVX512(kc, &a[0], &b[0], &c[0], ldc, boolInt(load))
}

func kernelAVX2(kc int, a, b, c []float32, ldc int, load bool) {
	checkTile(kc, a, b, c, ldc, 6, 16)
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, boolInt(load))
}

// checkTile guards the unchecked memory accesses of an assembly kernel.
func checkTile(kc int, a, b, c []float32, ldc, mr, nr int) {
	if kc < 1 || len(a) < kc*mr || len(b) < kc*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
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
