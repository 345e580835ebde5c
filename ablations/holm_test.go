package ablations

import (
	"math"
	"testing"
)

func TestHolmKnownAnswer(t *testing.T) {
	cases := []struct {
		in, want []float64
	}{
		// sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
		{[]float64{0.01, 0.04, 0.03, 0.005}, []float64{0.03, 0.06, 0.06, 0.02}},
		{[]float64{math.NaN(), 0.02, 0.5}, []float64{math.NaN(), 0.04, 0.5}},
		{[]float64{0.6, 0.9}, []float64{1, 1}},
		{nil, []float64{}},
	}
	for _, c := range cases {
		got := Holm(c.in)
		if len(got) != len(c.want) {
			t.Fatalf("Holm(%v) = %v", c.in, got)
		}
		for i := range got {
			if math.IsNaN(c.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && math.Abs(got[i]-c.want[i]) > 1e-12) {
				t.Errorf("Holm(%v)[%d] = %v, want %v", c.in, i, got[i], c.want[i])
			}
		}
	}
}

func TestMinDetectableKnownAnswer(t *testing.T) {
	// Large n: (z₀.₉₇₅ + z₀.₈)·σ/√n = 2.8016/√n.
	if got, want := MinDetectable(1, 10000), (1.959964+0.841621)/100; math.Abs(got-want) > 1e-4 {
		t.Errorf("n = 10000: %v, want %v", got, want)
	}
	// n = 5: t₀.₉₇₅,₄ = 2.776445, t₀.₈,₄ = 0.940965.
	if got, want := MinDetectable(2, 5), 2*(2.776445+0.940965)/math.Sqrt(5); math.Abs(got-want) > 1e-5 {
		t.Errorf("n = 5: %v, want %v", got, want)
	}
	if !math.IsNaN(MinDetectable(1, 1)) {
		t.Error("n = 1 gave a number")
	}
}
