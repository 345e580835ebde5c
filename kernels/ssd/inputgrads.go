package ssd

// inputGrads8Go runs the chain to the inputs of eight consecutive time
// steps: step s reads x[s·xs:], dx[s·xs:] and dX[s·ds:] (n values each),
// adds float32(dts[s]·dX) to dx and sets g[s] to Σ_p x_p·dX_p summed in
// float64 in ascending p from +0, as inputGrads2Go does for two steps.
func inputGrads8Go(dts *[8]float32, x []float32, xs int, dX []float32, ds int, dx []float32, n int, g *[8]float64) {
	for s := 0; s < 8; s++ {
		xr, dXr, dxr := x[s*xs:s*xs+n], dX[s*ds:s*ds+n], dx[s*xs:s*xs+n]
		var gs float64
		for p, v := range dXr {
			gs += float64(float64(xr[p]) * float64(v))
			dxr[p] += float32(dts[s] * v)
		}
		g[s] = gs
	}
}
