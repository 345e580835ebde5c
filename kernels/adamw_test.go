package kernels

import (
	"math"
	"testing"
)

// TestAdamWVectorMatchesScalar compares AdamWUpdate (vector prefix plus
// scalar tail) with the scalar definition and with adamwRef (the documented
// operations, written independently of adamwGo), bit for bit, on ragged
// lengths, special values and several hyper-parameter sets.
func TestAdamWVectorMatchesScalar(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 3e38, -3e38, float32(math.Inf(1)), 1e-20}
	for _, k := range []AdamWConsts{
		{Beta1: 0.9, Beta2: 0.95, Decay: 1e-4, C1: 0.1, C2: 0.05, Eps: 1e-8, LR: 1e-3},
		{Beta1: 0, Beta2: 0, Decay: 0, C1: 1, C2: 1, Eps: 1e-6, LR: 0.5},
		{Beta1: 0.99, Beta2: 0.999, Decay: 0.01, C1: 0.6513215599, C2: 0.0099501663, Eps: 1e-12, LR: 3e-4},
	} {
		for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 1000} {
			mk := func(seed uint32, pos bool) []float32 {
				x := make([]float32, n)
				h := seed
				for i := range x {
					h = h*1664525 + 1013904223
					x[i] = (float32(h>>8)/float32(1<<24) - 0.5) * 4
					if i%11 == 3 {
						x[i] = special[(i/11)%len(special)]
					}
					if pos {
						x[i] = float32(math.Abs(float64(x[i])))
					}
				}
				return x
			}
			w, g, m, v := mk(1, false), mk(2, false), mk(3, false), mk(4, true)
			w2, g2, m2, v2 := append([]float32(nil), w...), append([]float32(nil), g...), append([]float32(nil), m...), append([]float32(nil), v...)
			w3, g3, m3, v3 := append([]float32(nil), w...), append([]float32(nil), g...), append([]float32(nil), m...), append([]float32(nil), v...)
			AdamWUpdate(w, g, m, v, k)
			adamwGo(w2, g2, m2, v2, k)
			for i := 0; i < n; i++ {
				rw, rm, rv := adamwRef(w3[i], g3[i], m3[i], v3[i], k)
				for _, pair := range [][3]float32{{w[i], w2[i], rw}, {m[i], m2[i], rm}, {v[i], v2[i], rv}} {
					a, b, r := pair[0], pair[1], pair[2]
					if !same32bits(a, b) {
						t.Fatalf("%+v n=%d element %d: vector %v (%#x), scalar %v (%#x)", k, n, i, a, math.Float32bits(a), b, math.Float32bits(b))
					}
					if !same32bits(a, r) {
						t.Fatalf("%+v n=%d element %d: %v (%#x), documented operations give %v (%#x)", k, n, i, a, math.Float32bits(a), r, math.Float32bits(r))
					}
				}
			}
		}
	}
}

// BenchmarkAdamW reports elements per second of AdamWUpdate against the
// scalar definition.
func BenchmarkAdamW(b *testing.B) {
	const n = 1 << 20
	w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range w {
		w[i], g[i] = float32(i%100)*1e-3, float32(i%37)*1e-4
	}
	k := AdamWConsts{Beta1: 0.9, Beta2: 0.95, Decay: 1e-4, C1: 0.1, C2: 0.05, Eps: 1e-8, LR: 1e-3}
	for _, tc := range []struct {
		name string
		f    func(w, g, m, v []float32, k AdamWConsts)
	}{{"kernel", AdamWUpdate}, {"scalar", adamwGo}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tc.f(w, g, m, v, k)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
	}
}
