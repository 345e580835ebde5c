//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func fmaLoopAVX512(n int)

//go:noescape
func fmaLoopAVX2(n int)

// peakLoop returns the widest vector FMA loop this CPU runs, the FMAs per
// iteration times lanes, and its name.
func peakLoop() (loop func(n int), flopsPerIter float64, name string) {
	switch {
	case cpu.X86.HasAVX512F:
		return fmaLoopAVX512, 12 * 16 * 2, "avx512-fma"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return fmaLoopAVX2, 12 * 8 * 2, "avx2-fma"
	}
	return nil, 0, ""
}
