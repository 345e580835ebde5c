//go:build purego || !amd64

package ssd

// mmAsm reports false: there is no assembly kernel in this build.
func mmAsm(c, a, b []float32, m, k, n, sai, sak int, acc bool) bool { return false }

// inputGrads2 is inputGrads2Go in this build.
func inputGrads2(dts0, dts1 float32, x0, x1, dX0, dX1, dx0, dx1 []float32) (float64, float64) {
	return inputGrads2Go(dts0, dts1, x0, x1, dX0, dX1, dx0, dx1)
}
