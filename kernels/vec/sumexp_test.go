package vec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
)

// scalarSumExpNonPos is the loop SumExpNonPos replaces: the softmax
// denominator of experiment's logSoftmaxAt, term by term with
// kernels.ExpNonPos in ascending j.
func scalarSumExpNonPos(x []float32, mx float32) float64 {
	var s float64
	for _, v := range x {
		s += kernels.ExpNonPos(float64(v - mx))
	}
	return s
}

// oracleSumExp is Σ e**(x[j] − mx) from math.Exp, the difference rounded
// to float32 as documented, with a bound on the error of the kernel's sum:
// each term within a few ulp of e**· (relative 1e-15, plus an absolute
// 1e-300 for terms near the subnormal range) and n float64 additions of
// positive terms (relative n·2**−53).
func oracleSumExp(x []float32, mx float32) (sum, tol float64) {
	for _, v := range x {
		sum += math.Exp(float64(sub32(v, mx)))
	}
	return sum, sum*(1e-15+float64(len(x))*0x1p-53) + 1e-300
}

func TestSumExpNonPos(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	r := rand.New(rand.NewPCG(3, 14))
	randRow := func(n int, scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * scale)
		}
		return x
	}
	// set returns x with x[i] = v for the listed positions.
	set := func(x []float32, v float32, at ...int) []float32 {
		x = append([]float32(nil), x...)
		for _, i := range at {
			x[i] = v
		}
		return x
	}
	fill := func(n int, v float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = v
		}
		return x
	}
	logits := randRow(2048, 3)
	rowMax := math.Float32frombits(0x7fc0beef) // a NaN: use the row's maximum (refMax)
	cases := []struct {
		name string
		x    []float32
		mx   float32
	}{
		{"empty", nil, rowMax},
		{"one", []float32{1.5}, rowMax},
		{"seven", randRow(7, 1), rowMax},
		{"eight", randRow(8, 1), rowMax},
		{"logits vocab 2048", logits, rowMax},
		{"logits 2047", logits[:2047], rowMax},
		{"logits 77", logits[3:80], rowMax},
		{"tiny spread", randRow(333, 1e-6), rowMax},
		{"all equal", fill(40, 2), rowMax},
		{"huge spread", randRow(1000, 300), rowMax},
		{"boundary −708 exactly", set(make([]float32, 64), -708, 5, 17, 40), 0},
		{"just below −708", set(make([]float32, 64), -708.0001, 5, 17), 0},
		{"below −745 (zero terms)", set(randRow(64, 1), -800, 9, 10, 11, 50), 5},
		{"−Inf terms", set(randRow(100, 2), -inf, 0, 33, 99), rowMax},
		{"NaN in a block", set(randRow(100, 2), nan, 42), 10},
		{"NaN in the tail", set(randRow(100, 2), nan, 98), 10},
		{"positive arguments", randRow(90, 2), 0},
		{"overflow", set(randRow(48, 1), 800, 20), 0},
		{"mx below every value", randRow(256, 1), -50},
		{"mx +Inf", randRow(24, 1), inf},
		{"NaN row maximum", set(randRow(24, 1), nan, 0), rowMax},
		{"mx NaN", randRow(24, 1), nan},
		{"bad blocks between good ones", set(randRow(200, 4), 1000, 8, 9, 30, 64, 71, 72, 199), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mx := c.mx
			if math.Float32bits(mx) == math.Float32bits(rowMax) {
				mx = refMax(c.x)
			}
			got := SumExpNonPos(c.x, mx)
			if want := scalarSumExpNonPos(c.x, mx); math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
				t.Fatalf("SumExpNonPos = %v (%#016x), scalar loop %v (%#016x)", got, math.Float64bits(got), want, math.Float64bits(want))
			}
			want, tol := oracleSumExp(c.x, mx)
			switch {
			case want != want || got != got:
				if !(want != want && got != got) {
					t.Fatalf("SumExpNonPos = %v, math.Exp sum %v", got, want)
				}
			case math.IsInf(want, 0) || math.IsInf(got, 0):
				if got != want {
					t.Fatalf("SumExpNonPos = %v, math.Exp sum %v", got, want)
				}
			case math.Abs(got-want) > tol:
				t.Fatalf("SumExpNonPos = %v, math.Exp sum %v (difference %g > %g)", got, want, got-want, tol)
			}
		})
	}
}

// TestSumExpNonPosRandom compares SumExpNonPos with the scalar loop bit for
// bit on random rows of every length up to 70 and random shifts, some of
// them putting arguments above 0 or below −708.
func TestSumExpNonPosRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	for i := 0; i < 3000; i++ {
		n := i % 71
		scale := []float64{1e-3, 1, 10, 100, 400}[i%5]
		x := make([]float32, n)
		for j := range x {
			x[j] = float32(r.NormFloat64() * scale)
		}
		mx := refMax(x)
		if i%7 == 3 {
			mx = float32(r.NormFloat64() * scale)
		}
		got, want := SumExpNonPos(x, mx), scalarSumExpNonPos(x, mx)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("row %d (n %d, scale %v, mx %v): SumExpNonPos = %v, scalar loop %v", i, n, scale, mx, got, want)
		}
		if w, tol := oracleSumExp(x, mx); !math.IsInf(w, 0) && math.Abs(got-w) > tol {
			t.Fatalf("row %d: SumExpNonPos = %v, math.Exp sum %v", i, got, w)
		}
	}
}

func BenchmarkSumExpNonPos(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 2048)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 3)
	}
	mx := refMax(x)
	b.Run("vec", func(b *testing.B) {
		for range b.N {
			SumExpNonPos(x, mx)
		}
	})
	b.Run("scalar", func(b *testing.B) {
		for range b.N {
			scalarSumExpNonPos(x, mx)
		}
	})
}
