//go:build purego || !amd64

package ssd

// inputGrads8 is inputGrads8Go in this build.
func inputGrads8(dts *[8]float32, x []float32, xs int, dX []float32, ds int, dx []float32, n int, g *[8]float64) {
	inputGrads8Go(dts, x, xs, dX, ds, dx, n, g)
}
