package ssd

import (
	"math"
	"testing"
)

// TestDecaysMaskByProduct checks that the entries of m above the diagonal
// are the products cb·0 (so −0 for negative cb and NaN for NaN), as an
// elementwise cb∘dec gives, and that the others are cb·dec.
func TestDecaysMaskByProduct(t *testing.T) {
	cases := []struct {
		name  string
		upper float32
	}{
		{"positive", 2},
		{"negative", -3},
		{"nan", float32(math.NaN())},
		{"negative zero", float32(math.Copysign(0, -1))},
	}
	d := Dims{Batch: 1, Len: 5, Heads: 1, HeadDim: 1, Groups: 1, State: 1, Chunk: 5}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newChunk(d)
			w.q = 5
			for i := range w.a[:w.q] {
				w.a[i] = -0.1 * float64(i+1)
			}
			cb := make([]float32, 25)
			for l := 0; l < 5; l++ {
				for s := 0; s < 5; s++ {
					if s > l {
						cb[l*5+s] = c.upper
					} else {
						cb[l*5+s] = float32(l - 2*s)
					}
				}
			}
			w.decays(cb)
			zero := make([]float32, 1) // a runtime zero, not a constant
			for l := 0; l < 5; l++ {
				for s := 0; s < 5; s++ {
					i := l*5 + s
					want := cb[i] * w.dec[i]
					if s > l {
						want = cb[i] * zero[0]
						if w.dec[i] != 0 {
							t.Fatalf("dec[%d,%d] = %v, want 0", l, s, w.dec[i])
						}
					}
					if math.Float32bits(w.m[i]) != math.Float32bits(want) {
						t.Fatalf("m[%d,%d] = %v (%#x), want %v (%#x)", l, s, w.m[i], math.Float32bits(w.m[i]), want, math.Float32bits(want))
					}
				}
			}
		})
	}
}

// TestSumHeadsEqualsSerialSum checks the register-blocked head sum against
// the plain float64 sum from +0 in ascending head order, bit for bit,
// including signed zeros.
func TestSumHeadsEqualsSerialSum(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		name     string
		n, heads int
	}{
		{"one head", 13, 1},
		{"eight columns", 8, 3},
		{"ragged", 21, 4},
		{"nano", 96, 8},
		{"narrow", 3, 2},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stride := c.n + 5
			off := 2
			src := make([]float32, off+c.heads*stride)
			for i := range src {
				switch i % 7 {
				case 3:
					src[i] = negZero
				default:
					src[i] = float32(math.Sin(float64(i*(ci+3)))) * float32(1+i%5)
				}
			}
			got, want := make([]float32, c.n), make([]float32, c.n)
			for i := range got {
				if i%2 == 0 {
					got[i], want[i] = negZero, negZero
				} else {
					got[i], want[i] = float32(i)/8, float32(i)/8
				}
			}
			sumHeads(got, src, off, c.heads, stride)
			for j := range want {
				var s float64
				for h := 0; h < c.heads; h++ {
					s += float64(src[off+h*stride+j])
				}
				want[j] += float32(s)
			}
			sameBits(t, "sumHeads", got, want)
		})
	}
}
