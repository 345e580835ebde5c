package ssd

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/rng"
)

// dotRef is the defining order of dot: four interleaved float64 partial
// sums of exact products, the tail added to the first, combined as
// (s0+s1)+(s2+s3).
func dotRef(a, b []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(float64(a[i]) * float64(b[i]))
		s1 += float64(float64(a[i+1]) * float64(b[i+1]))
		s2 += float64(float64(a[i+2]) * float64(b[i+2]))
		s3 += float64(float64(a[i+3]) * float64(b[i+3]))
	}
	for ; i < len(a); i++ {
		s0 += float64(float64(a[i]) * float64(b[i]))
	}
	return (s0 + s1) + (s2 + s3)
}

// TestDotBits checks dot and dot2 (in every implementation this build has)
// against the defining order, bit for bit, with values of widely different
// magnitudes so that the order of the additions shows.
func TestDotBits(t *testing.T) {
	r := rng.New(11, "ssd-dot")
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.Norm() * math.Pow(2, float64(int(r.Float64()*40)-20)))
		}
		return v
	}
	cases := []struct {
		name   string
		n0, n1 int
	}{
		{"empty", 0, 0}, {"one", 1, 1}, {"three", 3, 3}, {"four", 4, 4},
		{"seven", 7, 7}, {"seventeen", 17, 17}, {"head dim", 64, 64},
		{"state", 96, 96}, {"state matrix", 6144, 6144}, {"ragged", 97, 97},
		{"unequal lengths", 12, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a0, b0, a1, b1 := vec(c.n0), vec(c.n0), vec(c.n1), vec(c.n1)
			want0, want1 := dotRef(a0, b0), dotRef(a1, b1)
			got0, got1 := dot2(a0, b0, a1, b1)
			for _, g := range []struct {
				what      string
				got, want float64
			}{
				{"dot", dot(a0, b0), want0},
				{"dot2[0]", got0, want0},
				{"dot2[1]", got1, want1},
			} {
				if math.Float64bits(g.got) != math.Float64bits(g.want) {
					t.Errorf("%s = %v, want %v", g.what, g.got, g.want)
				}
			}
			n4 := c.n0 &^ 3
			var s, u [4]float64
			dotLanes(a0[:n4], b0[:n4], &s)
			dotLanesGo(a0[:n4], b0[:n4], &u)
			if fmt.Sprint(math.Float64bits(s[0]), math.Float64bits(s[1]), math.Float64bits(s[2]), math.Float64bits(s[3])) !=
				fmt.Sprint(math.Float64bits(u[0]), math.Float64bits(u[1]), math.Float64bits(u[2]), math.Float64bits(u[3])) {
				t.Errorf("dotLanes = %v, dotLanesGo = %v", s, u)
			}
		})
	}
}
