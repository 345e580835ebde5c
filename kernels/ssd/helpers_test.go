package ssd

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/rng"
)

// inputs is one random problem of shape d.
type inputs struct {
	x, dt, A, Bm, Cm, init []float32
}

// dtScale selects the step sizes: small as upstream's test draws them, or
// large (≈ 0.5–1) so that decays over a chunk matter.
type dtScale int

const (
	dtSmall dtScale = iota
	dtLarge
)

func randInputs(seed int64, d Dims, scale dtScale, withInit bool) inputs {
	r := rng.New(seed, "ssd-test-inputs")
	fill := func(n int, f func() float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = f()
		}
		return v
	}
	norm := func() float32 { return float32(r.Norm()) }
	in := inputs{
		x:  fill(d.xSize(), norm),
		Bm: fill(d.bcSize(), norm),
		Cm: fill(d.bcSize(), norm),
		A:  fill(d.Heads, func() float32 { return float32(-kernels.Exp(r.Float64())) }),
	}
	switch scale {
	case dtSmall:
		in.dt = fill(d.dtSize(), func() float32 { return kernels.Softplus32(float32(r.Norm() - 4)) })
	default:
		in.dt = fill(d.dtSize(), func() float32 { return float32(0.5 + 0.5*r.Float64()) })
	}
	if withInit {
		in.init = fill(d.stateSize(), norm)
	}
	return in
}

// closeTo fails the test when some |got−want| > tol·(|want| + rms(want)).
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	var ss float64
	for _, w := range want {
		ss += w * w
	}
	rms := math.Sqrt(ss / float64(max(1, len(want))))
	worst, at := 0.0, -1
	for i, w := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			t.Fatalf("%s[%d] = %v", what, i, g)
		}
		e := math.Abs(g-w) / (math.Abs(w) + rms + 1e-30)
		if e > worst {
			worst, at = e, i
		}
	}
	if worst > tol {
		t.Errorf("%s: relative error %.3g at %d (got %v, want %v), tolerance %.3g", what, worst, at, got[at], want[at], tol)
	}
}

func widen32(v []float32) []float64 {
	if v == nil {
		return nil
	}
	return widen(v)
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s[%d]: %v (%#x) != %v (%#x)", what, i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
		}
	}
}

func TestRowMulEqualsAxpy(t *testing.T) {
	r := rng.New(3, "rowmul")
	for _, n := range []int{1, 3, 4, 7, 8, 13, 21} {
		for _, k := range []int{0, 1, 5} {
			ldb := n + 2
			a, b := make([]float64, k), make([]float64, k*ldb)
			for i := range a {
				a[i] = r.Norm()
			}
			for i := range b {
				b[i] = r.Norm()
			}
			got, want := make([]float64, n), make([]float64, n)
			for i := range got {
				got[i] = r.Norm()
				want[i] = got[i]
			}
			rowMul(got, a, b, ldb)
			for kk := range a {
				axpy(a[kk], b[kk*ldb:kk*ldb+n], want)
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("n=%d k=%d: out[%d] = %v, want %v", n, k, i, got[i], want[i])
				}
			}
		}
	}
}

// axpy adds alpha·x to y element by element: the reference for rowMul.
func axpy(alpha float64, x, y []float64) {
	x = x[:len(y)]
	for i := range y {
		y[i] += float64(alpha * x[i])
	}
}
