//go:build !purego

package vec

import "golang.org/x/sys/cpu"

// hasAsm reports whether the AVX-512 kernels (vec_amd64.s) run on this CPU.
var hasAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW

// The assembly kernels process n elements, a multiple of 8 (16 for the
// float32-only kernels); the Go wrappers check the lengths.

//go:noescape
func siluAsm(silu, sig, x *float32, n int, c *float64)

//go:noescape
func expShiftAsm(d, x *float32, n int, mx float32, c *float64) float64

//go:noescape
func prefetchAsm(x *float32, lines int)

//go:noescape
func expTermsAsm(d *float32, e *float64, x *float32, n int, mx float32, c *float64)

// sumExpNonPosAsm is SumExpNonPos from sum for the blocks of 8 up to the
// first block with an argument outside [−708, 0] or NaN (n a multiple of
// 8); it returns the sum and the number of elements done.
//
//go:noescape
func sumExpNonPosAsm(x *float32, n int, mx float32, sum float64, c *float64) (s float64, done int)

//go:noescape
func absMaxBitsAsm(x *float32, n int) uint32

//go:noescape
func maxAsm(x *float32, n int) (key int32, abs uint32)

//go:noescape
func quantAsm(dst, x *float32, n int, s, lo, hi float32, div int)

//go:noescape
func blendAsm(dst, a, b *float32, n int, lam float32)

//go:noescape
func mulAsm(dst, a, b *float32, n int)

//go:noescape
func scaleMulAsm(dst, x, gn *float32, n int, r float32)

//go:noescape
func siluGradAsm(dg, du, dh, gt, s, u *float32, n int)

//go:noescape
func rmsBackAsm(dx, do, gn, x *float32, n int, rs, c float64)

//go:noescape
func gainGradAsm(acc *float64, do, x *float32, n int, rs float32)

//go:noescape
func gainGradRowsAsm(acc *float64, do, x *float32, ld int, rstd *float32, rows, n int)

//go:noescape
func rmsBackSetAsm(dx, do, gn, x *float32, n int, rs, c float64)

//go:noescape
func mulAddF64RowsAsm(acc *float64, a *float32, lda int, b *float32, ldb int, rows, n int)

//go:noescape
func mulAddF64Asm(acc *float64, a, b *float32, n int)

//go:noescape
func toF32Asm(dst *float32, src *float64, n int)

//go:noescape
func axpyExactAsm(y, x *float32, n int, d float64)

// sumSq4Asm writes to lanes[4j+k] the sum over i ≡ k (mod 4), i < n, of
// x_j[i]² for the four rows x_j = x + j·stride (n a multiple of 4).
//
//go:noescape
func sumSq4Asm(x *float32, stride, n int, lanes *[16]float64)

// dotGain4Asm is sumSq4Asm for the terms float64(do_j[i]·g[i])·float64(x_j[i]).
//
//go:noescape
func dotGain4Asm(do, x *float32, stride int, gn *float32, n int, lanes *[16]float64)

//go:noescape
func scaleAsm(dst, x *float32, n int, f float32)

//go:noescape
func scaleF64Asm(x *float32, n int, f float64)

//go:noescape
func addAsm(dst, a, b *float32, n int)

//go:noescape
func siluBackAsm(dst, dy, x, s *float32, n int)

//go:noescape
func softmaxBackAsm(d, p *float32, n int, sum, scale float32)

// absSum8Asm writes to sums[l] the running float64 sum of |x| over the
// first n&^7 float32 values at ptrs[l], for the eight lanes l at once.
//
//go:noescape
func absSum8Asm(ptrs *[8]*float32, n int, sums *[8]float64)

// headDots8Asm continues the running float64 sum in sums[l] with the exact
// products a[j]·b[j] over the bytes offsets offs[l] + r·rowBytes + 4i,
// rows r < rows and i < 8·blocks, in ascending (r, i).
//
//go:noescape
func headDots8Asm(a, b *float32, offs *[8]int, rows, rowBytes, blocks int, sums *[8]float64)

// dotTapsAsm is DotTaps for the first n values (a multiple of 8) with
// ntaps ≤ 8 weight and input pointers in wp and xp; init may be nil.
//
//go:noescape
func dotTapsAsm(out, init *float32, wp, xp *[8]*float32, ntaps, n int)
