package ssd

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
)

// TestMulMatchesKernels: mulNN and mulTN give kernels.MatMul's and
// kernels.MatMulTN's bits, with and without accumulation, on shapes that
// take the assembly path (columns a multiple of 16, any row count) and on
// shapes that fall back. The operands include zeros of both signs,
// subnormals and values whose products cancel.
func TestMulMatchesKernels(t *testing.T) {
	fill := func(n int, seed uint32) []float32 {
		x := make([]float32, n)
		h := seed
		for i := range x {
			h = h*1664525 + 1013904223
			switch h >> 28 {
			case 0:
				x[i] = 0
			case 1:
				x[i] = float32(math.Copysign(0, -1))
			case 2:
				x[i] = 1e-39 // subnormal
			default:
				x[i] = float32(int32(h>>8)-1<<23) / (1 << 20)
			}
		}
		return x
	}
	for _, s := range []struct{ m, k, n int }{
		{32, 32, 32}, {1, 1, 16}, {3, 5, 16}, {4, 7, 48}, {7, 32, 32}, {32, 32, 96}, {64, 64, 64}, {5, 3, 8}, {9, 4, 20},
	} {
		for _, acc := range []bool{false, true} {
			a, b, c0 := fill(s.m*s.k, 1), fill(s.k*s.n, 2), fill(s.m*s.n, 3)
			for _, v := range []struct {
				name string
				ours func(c []float32)
				ref  func(c []float32)
			}{
				{"NN", func(c []float32) { mulNN(c, a, b, s.m, s.k, s.n, acc) }, func(c []float32) { kernels.MatMul(1, c, a, b, s.m, s.k, s.n, acc) }},
				{"TN", func(c []float32) { mulTN(c, a, b, s.m, s.k, s.n, acc) }, func(c []float32) { kernels.MatMulTN(1, c, a, b, s.m, s.k, s.n, acc) }},
			} {
				got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
				v.ours(got)
				v.ref(want)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %dx%dx%d acc %v: element %d = %v (%#x), kernels give %v (%#x)",
							v.name, s.m, s.k, s.n, acc, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// TestInputGrads2MatchesGo: the dispatched inputGrads2 gives
// inputGrads2Go's bits (sums and updated dx) for row lengths on and off the
// vector path.
func TestInputGrads2MatchesGo(t *testing.T) {
	for _, n := range []int{1, 5, 8, 16, 32, 40, 64} {
		v := func(seed uint32) []float32 {
			x := make([]float32, n)
			h := seed
			for i := range x {
				h = h*1664525 + 1013904223
				x[i] = float32(int32(h>>8)-1<<23) / (1 << 21)
			}
			return x
		}
		x0, x1, dX0, dX1 := v(1), v(2), v(3), v(4)
		a0, a1 := v(5), v(6)
		b0, b1 := append([]float32(nil), a0...), append([]float32(nil), a1...)
		g0, g1 := inputGrads2(0.37, 1.9, x0, x1, dX0, dX1, a0, a1)
		w0, w1 := inputGrads2Go(0.37, 1.9, x0, x1, dX0, dX1, b0, b1)
		if math.Float64bits(g0) != math.Float64bits(w0) || math.Float64bits(g1) != math.Float64bits(w1) {
			t.Fatalf("n=%d: sums %v, %v, want %v, %v", n, g0, g1, w0, w1)
		}
		for i := range a0 {
			if math.Float32bits(a0[i]) != math.Float32bits(b0[i]) || math.Float32bits(a1[i]) != math.Float32bits(b1[i]) {
				t.Fatalf("n=%d: dx[%d] = %v, %v, want %v, %v", n, i, a0[i], a1[i], b0[i], b1[i])
			}
		}
	}
}
