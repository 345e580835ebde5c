package models

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/rng"
)

// refSigmoid is σ(x) = 1/(1+e**−x) in float64 from the standard library's
// exponential, independent of the project's own.
func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// near32 reports whether got is float32(w) for some w within relative
// distance tol of want (NaN only for a NaN want).
func near32(got float32, want, tol float64) bool {
	if want != want || got != got {
		return want != want && got != got
	}
	if math.IsInf(want, 0) {
		return float64(got) == want
	}
	d := math.Abs(want) * tol
	return got >= float32(want-d) && got <= float32(want+d)
}

// TestSiLURow checks the model's SiLU rows against float64 σ and x·σ, and
// that the σ it stores is sigmoid32's, bit for bit (the model's backward
// passes use both).
func TestSiLURow(t *testing.T) {
	r := rng.New(3, "test/silurow")
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(r.Norm() * float64(1+i%40))
	}
	inf := float32(math.Inf(1))
	x = append(x, 0, float32(math.Copysign(0, -1)), 708, -708, 709, -709, 1e30, -1e30, inf, 1e-40, -1e-40, -87, -104, 88.7)
	silu, sig := make([]float32, len(x)), make([]float32, len(x))
	siluRow(silu, sig, x)
	for i, v := range x {
		s := refSigmoid(float64(v))
		if !near32(sig[i], s, 2e-15) || !near32(silu[i], float64(v)*s, 2e-15) {
			t.Fatalf("siluRow(%v) = (%v, %v), want ≈ (%v, %v)", v, silu[i], sig[i], float64(v)*s, s)
		}
		if math.Float32bits(sig[i]) != math.Float32bits(sigmoid32(v)) {
			t.Fatalf("siluRow(%v) σ = %v, sigmoid32 = %v", v, sig[i], sigmoid32(v))
		}
	}
	for _, c := range []struct{ x, silu, sig float32 }{
		{0, 0, 0.5}, {100, 100, 1}, {-200, float32(math.Copysign(0, -1)), 0}, {inf, inf, 1},
		{-inf, -inf, 0}, // the clamped exponential: −∞ times a tiny σ
	} {
		siluRow(silu[:1], sig[:1], []float32{c.x})
		if math.Float32bits(silu[0]) != math.Float32bits(c.silu) || sig[0] != c.sig || sigmoid32(c.x) != c.sig {
			t.Errorf("siluRow(%v) = (%v, %v), sigmoid32 %v; want (%v, %v)", c.x, silu[0], sig[0], sigmoid32(c.x), c.silu, c.sig)
		}
	}
	nan := float32(math.NaN())
	siluRow(silu[:1], sig[:1], []float32{nan})
	if !math.IsNaN(float64(silu[0])) || !math.IsNaN(float64(sig[0])) || !math.IsNaN(float64(sigmoid32(nan))) {
		t.Errorf("siluRow(NaN) = (%v, %v), want NaN", silu[0], sig[0])
	}
}

// TestExpShiftRowMatchesFastExp checks that the softmax rows of training
// (expShiftRow, with its clamped exponential) give the bits of fastExp, the
// exponential of the decoding path, when mx is the row maximum, and that
// both are e**x.
func TestExpShiftRowMatchesFastExp(t *testing.T) {
	r := rng.New(4, "test/expshift")
	x := make([]float32, 3000)
	for i := range x {
		x[i] = float32(r.Norm() * float64(1+i%300))
	}
	x = append(x, -1e30, float32(math.Inf(-1)), 0)
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	d := make([]float32, len(x))
	got := expShiftRow(d, x, mx)
	var want float64
	for j, v := range x {
		e := fastExp(float64(v - mx))
		want += e
		if math.Float32bits(d[j]) != math.Float32bits(float32(e)) {
			t.Fatalf("exp(%v − %v) = %v, fastExp gives %v", v, mx, d[j], float32(e))
		}
		if ref := math.Exp(float64(v - mx)); !near32(d[j], ref, 1e-15) {
			t.Fatalf("exp(%v − %v) = %v, want ≈ %v", v, mx, d[j], ref)
		}
	}
	if got != want || expShiftRow(nil, x, mx) != want {
		t.Errorf("sum = %v, want %v", got, want)
	}
}

func BenchmarkSiLU(b *testing.B) {
	x := randVec(1, "bench/silu", 4096, 3)
	y, s := make([]float32, len(x)), make([]float32, len(x))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		siluRow(y, s, x)
	}
	b.ReportMetric(float64(b.N*len(x))/b.Elapsed().Seconds()/1e6, "Melem/s")
}
