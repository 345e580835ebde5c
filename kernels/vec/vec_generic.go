//go:build purego || !amd64

package vec

// hasAsm is false: every kernel runs its Go form.
const hasAsm = false

func siluAsm(silu, sig, x *float32, n int, c *float64)                 { panic("vec: no assembly") }
func expShiftAsm(d, x *float32, n int, mx float32, c *float64) float64 { panic("vec: no assembly") }

func expTermsAsm(d *float32, e *float64, x *float32, n int, mx float32, c *float64) {
	panic("vec: no assembly")
}
func sumExpNonPosAsm(x *float32, n int, mx float32, sum float64, c *float64) (float64, int) {
	panic("vec: no assembly")
}
func absMaxBitsAsm(x *float32, n int) uint32                      { panic("vec: no assembly") }
func maxAsm(x *float32, n int) (key int32, abs uint32)            { panic("vec: no assembly") }
func quantAsm(dst, x *float32, n int, s, lo, hi float32, div int) { panic("vec: no assembly") }
func blendAsm(dst, a, b *float32, n int, lam float32)             { panic("vec: no assembly") }
func mulAsm(dst, a, b *float32, n int)                            { panic("vec: no assembly") }
func scaleMulAsm(dst, x, gn *float32, n int, r float32)           { panic("vec: no assembly") }
func siluGradAsm(dg, du, dh, gt, s, u *float32, n int)            { panic("vec: no assembly") }
func rmsBackAsm(dx, do, gn, x *float32, n int, rs, c float64)     { panic("vec: no assembly") }
func gainGradAsm(acc *float64, do, x *float32, n int, rs float32) { panic("vec: no assembly") }
func mulAddF64Asm(acc *float64, a, b *float32, n int)             { panic("vec: no assembly") }
func rmsBackSetAsm(dx, do, gn, x *float32, n int, rs, c float64)  { panic("vec: no assembly") }
func mulAddF64RowsAsm(acc *float64, a *float32, lda int, b *float32, ldb int, rows, n int) {
	panic("vec: no assembly")
}
func gainGradRowsAsm(acc *float64, do, x *float32, ld int, rstd *float32, rows, n int) {
	panic("vec: no assembly")
}
func toF32Asm(dst *float32, src *float64, n int)              { panic("vec: no assembly") }
func axpyExactAsm(y, x *float32, n int, d float64)            { panic("vec: no assembly") }
func sumSq4Asm(x *float32, stride, n int, lanes *[16]float64) { panic("vec: no assembly") }
func dotGain4Asm(do, x *float32, stride int, gn *float32, n int, lanes *[16]float64) {
	panic("vec: no assembly")
}
func scaleAsm(dst, x *float32, n int, f float32)              { panic("vec: no assembly") }
func scaleF64Asm(x *float32, n int, f float64)                { panic("vec: no assembly") }
func addAsm(dst, a, b *float32, n int)                        { panic("vec: no assembly") }
func siluBackAsm(dst, dy, x, s *float32, n int)               { panic("vec: no assembly") }
func softmaxBackAsm(d, p *float32, n int, sum, scale float32) { panic("vec: no assembly") }
func absSum8Asm(ptrs *[8]*float32, n int, sums *[8]float64)   { panic("vec: no assembly") }
func headDots8Asm(a, b *float32, offs *[8]int, rows, rowBytes, blocks int, sums *[8]float64) {
	panic("vec: no assembly")
}
func dotTapsAsm(out, init *float32, wp, xp *[8]*float32, ntaps, n int) { panic("vec: no assembly") }

func prefetchAsm(x *float32, lines int) { panic("vec: no assembly") }
