package models

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/rng"
)

func TestFastExpMatchesKernelsExp(t *testing.T) {
	r := rng.New(1, "test/fastexp")
	check := func(x float64) {
		t.Helper()
		got, want := fastExp(x), kernels.Exp(x)
		if want < 2.3e-308 {
			if got != 0 && math.Abs(got-want) > 1e-300 {
				t.Fatalf("fastExp(%v) = %v, want ≈ %v", x, got, want)
			}
			return
		}
		if rel := math.Abs(got-want) / want; rel > 1e-15 {
			t.Fatalf("fastExp(%v) = %v, kernels.Exp = %v (relative difference %.3g)", x, got, want, rel)
		}
	}
	for i := 0; i < 200000; i++ {
		check(float64(r.Float64()*1400 - 705))
		check(float64(r.Float64()*40 - 20))
	}
	for _, x := range []float64{0, -0, 1, -1, 0.5, -708, 709, -707.9, 708.9, 1e-300, -1e-20} {
		check(x)
	}
	specials := []struct{ x, want float64 }{
		{math.Inf(-1), 0}, {-1000, 0}, {-709, 0}, {math.Inf(1), math.Inf(1)}, {710, math.Inf(1)},
	}
	for _, c := range specials {
		if got := fastExp(c.x); got != c.want {
			t.Errorf("fastExp(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := fastExp(math.NaN()); !math.IsNaN(got) {
		t.Errorf("fastExp(NaN) = %v, want NaN", got)
	}
	if got := fastExp(0); got != 1 {
		t.Errorf("fastExp(0) = %v, want exactly 1", got)
	}
}

func TestSigmoidAndSiLU(t *testing.T) {
	r := rng.New(2, "test/sigmoid")
	for i := 0; i < 100000; i++ {
		x := float32(r.Norm() * 8)
		silu, sig := siluSig(x)
		if d := math.Abs(float64(sig) - float64(kernels.Sigmoid32(x))); d > 1e-7*float64(kernels.Sigmoid32(x)) {
			t.Fatalf("σ(%v) = %v, kernels.Sigmoid32 = %v", x, sig, kernels.Sigmoid32(x))
		}
		if sig != sigmoid32(x) {
			t.Fatalf("siluSig(%v) σ = %v, sigmoid32 = %v", x, sig, sigmoid32(x))
		}
		want := kernels.SiLU32(x)
		if d := math.Abs(float64(silu) - float64(want)); d > 1.2e-7*math.Abs(float64(want)) {
			t.Fatalf("SiLU(%v) = %v, kernels.SiLU32 = %v", x, silu, want)
		}
		// Central difference of SiLU in float64 against siluGradSig.
		f := func(v float64) float64 { return v / (1 + kernels.Exp(-v)) }
		const h = 1e-4
		fd := (f(float64(x)+h) - f(float64(x)-h)) / (2 * h)
		if g := float64(siluGradSig(x, sig)); math.Abs(g-fd) > 1e-5 {
			t.Fatalf("SiLU'(%v) = %v, central difference %v", x, g, fd)
		}
	}
	for _, c := range []struct{ x, sig float32 }{
		{0, 0.5}, {100, 1}, {-200, 0}, {float32(math.Inf(1)), 1}, {float32(math.Inf(-1)), 0},
	} {
		if got := sigmoid32(c.x); got != c.sig {
			t.Errorf("sigmoid32(%v) = %v, want %v", c.x, got, c.sig)
		}
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

func BenchmarkSiLUKernels(b *testing.B) {
	x := randVec(1, "bench/silu", 4096, 3)
	y := make([]float32, len(x))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, v := range x {
			y[j] = kernels.SiLU32(v)
		}
	}
	b.ReportMetric(float64(b.N*len(x))/b.Elapsed().Seconds()/1e6, "Melem/s")
}

func TestSiLURowMatchesSiLUSig(t *testing.T) {
	r := rng.New(3, "test/silurow")
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(r.Norm() * float64(1+i%40))
	}
	inf := float32(math.Inf(1))
	x = append(x, 0, float32(math.Copysign(0, -1)), 708, -708, 709, -709, 1e30, -1e30, inf, 1e-40, -1e-40)
	silu, sig := make([]float32, len(x)), make([]float32, len(x))
	siluRow(silu, sig, x)
	for i, v := range x {
		ws, wg := siluSig(v)
		if math.Float32bits(silu[i]) != math.Float32bits(ws) || math.Float32bits(sig[i]) != math.Float32bits(wg) {
			t.Fatalf("siluRow(%v) = (%v, %v), siluSig = (%v, %v)", v, silu[i], sig[i], ws, wg)
		}
	}
	nan := float32(math.NaN())
	siluRow(silu[:1], sig[:1], []float32{nan})
	if !math.IsNaN(float64(silu[0])) || !math.IsNaN(float64(sig[0])) {
		t.Errorf("siluRow(NaN) = (%v, %v), want NaN", silu[0], sig[0])
	}
}

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
	}
	if got != want || expShiftRow(nil, x, mx) != want {
		t.Errorf("sum = %v, want %v", got, want)
	}
}
