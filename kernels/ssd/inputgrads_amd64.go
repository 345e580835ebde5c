//go:build !purego

package ssd

//go:noescape
func inputGrads8AVX512(dts *[8]float32, x *float32, xs int, dX *float32, ds int, dx *float32, n int, sums *[8]float64)

// inputGrads8 is inputGrads8Go, in AVX-512 where the CPU has it and the
// rows are whole multiples of eight.
func inputGrads8(dts *[8]float32, x []float32, xs int, dX []float32, ds int, dx []float32, n int, g *[8]float64) {
	if !hasAVX512 || n%8 != 0 || n == 0 {
		inputGrads8Go(dts, x, xs, dX, ds, dx, n, g)
		return
	}
	_ = x[7*xs+n-1]
	_ = dx[7*xs+n-1]
	_ = dX[7*ds+n-1]
	inputGrads8AVX512(dts, &x[0], 4*xs, &dX[0], 4*ds, &dx[0], n, g)
}
