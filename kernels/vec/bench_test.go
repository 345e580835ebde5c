package vec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchInputs(n int) []float32 {
	return inputs(rand.New(rand.NewPCG(1, 2)), n, 2, false)
}

func BenchmarkKernels(b *testing.B) {
	const n = 4096
	x, y := benchInputs(n), benchInputs(n)
	d, e := make([]float32, n), make([]float32, n)
	xs := make([][]float32, 8)
	for j := range xs {
		xs[j] = benchInputs(n)
	}
	sums := make([]float64, 8)
	cases := []struct {
		name string
		fn   func()
	}{
		{"SiLU", func() { SiLU(d, e, x) }},
		{"SiLU/go", func() { siluGo(d, e, x) }},
		{"ExpShift", func() { ExpShift(d, x, 8) }},
		{"ExpShift/go", func() { expShiftGo(0, d, x, 8) }},
		{"QuantMulDiv", func() { QuantMulDiv(d, x, 40, -128, 127) }},
		{"QuantMulDiv/go", func() { quantMulDivGo(d, x, 40, -128, 127) }},
		{"AbsSums8", func() { AbsSums(sums, xs) }},
		{"AbsSums8/go", func() { absSumsGo(sums, xs) }},
		{"SumSquaresRows", func() { SumSquaresRows(sums, x, n/8) }},
		{"SumSquaresRows/go", func() {
			for r := range sums {
				sums[r] = sumSquaresGo(x[r*n/8 : (r+1)*n/8])
			}
		}},
		{"RMSBack", func() { RMSBack(d, x, y, e, 0.3, 0.01) }},
		{"RMSBack/go", func() { rmsBackGo(d, x, y, e, 0.3, 0.01) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.fn()
			}
		})
	}
}

// BenchmarkArgmax times Argmax on float32 logits rows of the tiny preset's
// vocabulary and the largest one against the scalar scan in the same run.
func BenchmarkArgmax(b *testing.B) {
	for _, n := range []int{2048, 32768} {
		x := benchInputs(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				argmaxSink += Argmax(x)
			}
		})
		b.Run(fmt.Sprintf("n=%d/go", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				argmaxSink += argmaxGo(x)
			}
		})
	}
}

// argmaxSink keeps the benchmarked calls from being optimized away.
var argmaxSink int
