package ssd

import (
	"math"
	"testing"
)

// TestInputGrads8MatchesGo: the dispatched inputGrads8 gives the bits of
// inputGrads8Go and of inputGrads2Go over the same steps (sums and updated
// dx), for row lengths on and off the vector path and strided rows.
func TestInputGrads8MatchesGo(t *testing.T) {
	for _, tc := range []struct{ n, xs, ds int }{{1, 3, 1}, {5, 7, 5}, {8, 8, 8}, {16, 40, 16}, {32, 256, 32}, {40, 41, 48}, {64, 64, 64}} {
		v := func(seed uint32, k int) []float32 {
			x := make([]float32, k)
			h := seed
			for i := range x {
				h = h*1664525 + 1013904223
				x[i] = float32(int32(h>>8)-1<<23) / (1 << 21)
			}
			return x
		}
		xl, dl := 7*tc.xs+tc.n, 7*tc.ds+tc.n
		x, dX, dx := v(1, xl), v(2, dl), v(3, xl)
		dts := [8]float32{0.37, 1.9, 0, -0.5, 3e-3, 7, 0.25, 1}
		a, b, c := append([]float32(nil), dx...), append([]float32(nil), dx...), append([]float32(nil), dx...)
		var got, want [8]float64
		inputGrads8(&dts, x, tc.xs, dX, tc.ds, a, tc.n, &got)
		inputGrads8Go(&dts, x, tc.xs, dX, tc.ds, b, tc.n, &want)
		var pair [8]float64
		for s := 0; s < 8; s += 2 {
			r0, r1 := x[s*tc.xs:s*tc.xs+tc.n], x[(s+1)*tc.xs:(s+1)*tc.xs+tc.n]
			d0, d1 := dX[s*tc.ds:s*tc.ds+tc.n], dX[(s+1)*tc.ds:(s+1)*tc.ds+tc.n]
			pair[s], pair[s+1] = inputGrads2Go(dts[s], dts[s+1], r0, r1, d0, d1, c[s*tc.xs:s*tc.xs+tc.n], c[(s+1)*tc.xs:(s+1)*tc.xs+tc.n])
		}
		for s := range got {
			if math.Float64bits(got[s]) != math.Float64bits(want[s]) || math.Float64bits(got[s]) != math.Float64bits(pair[s]) {
				t.Fatalf("%+v: sum %d = %v, want %v (pairs %v)", tc, s, got[s], want[s], pair[s])
			}
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) || math.Float32bits(a[i]) != math.Float32bits(c[i]) {
				t.Fatalf("%+v: dx[%d] = %v, want %v (pairs %v)", tc, i, a[i], b[i], c[i])
			}
		}
	}
}
