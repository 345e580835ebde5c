package rng

import (
	"math"
	"testing"
)

func TestStreamsAreKeyed(t *testing.T) {
	a, b := New(1, "init/w"), New(1, "init/w")
	for i := 0; i < 100; i++ {
		if a.Uint64() != b.Uint64() {
			t.Fatal("same (seed, purpose) gave different draws")
		}
	}
	c, d := New(1, "init/v"), New(2, "init/w")
	x := New(1, "init/w").Uint64()
	if c.Uint64() == x || d.Uint64() == x {
		t.Fatal("a different purpose or seed gave the same first draw")
	}
}

func TestResumeFromCounter(t *testing.T) {
	s := New(7, "data")
	for i := 0; i < 37; i++ {
		s.Uint64()
	}
	saved := *s
	want := []uint64{s.Uint64(), s.Uint64(), s.Uint64()}
	r := &Stream{Key: saved.Key, Counter: saved.Counter}
	for i, w := range want {
		if got := r.Uint64(); got != w {
			t.Fatalf("draw %d after restore = %d, want %d", i, got, w)
		}
	}
}

func TestDistributions(t *testing.T) {
	s := New(3, "stats")
	const n = 200000
	var sum, sum2, usum float64
	counts := make([]int, 7)
	for i := 0; i < n; i++ {
		z := s.Norm()
		sum += z
		sum2 += z * z
		u := s.Float64()
		if u < 0 || u >= 1 {
			t.Fatalf("Float64 out of [0,1): %v", u)
		}
		usum += u
		counts[s.Intn(7)]++
	}
	mean, variance := sum/n, sum2/n-(sum/n)*(sum/n)
	if math.Abs(mean) > 0.01 || math.Abs(variance-1) > 0.015 {
		t.Errorf("Norm mean %.4f variance %.4f", mean, variance)
	}
	if math.Abs(usum/n-0.5) > 0.005 {
		t.Errorf("Float64 mean %.4f", usum/n)
	}
	for k, c := range counts {
		if math.Abs(float64(c)/n-1.0/7) > 0.005 {
			t.Errorf("Intn(7) value %d frequency %.4f", k, float64(c)/n)
		}
	}
}

func TestPerm(t *testing.T) {
	p := New(5, "perm").Perm(1000)
	seen := make([]bool, 1000)
	for _, v := range p {
		if seen[v] {
			t.Fatalf("Perm repeats %d", v)
		}
		seen[v] = true
	}
	q := New(5, "perm").Perm(1000)
	for i := range p {
		if p[i] != q[i] {
			t.Fatal("Perm not deterministic")
		}
	}
}

func TestMul64(t *testing.T) {
	cases := [][4]uint64{{0, 5, 0, 0}, {1 << 63, 4, 2, 0}, {math.MaxUint64, math.MaxUint64, math.MaxUint64 - 1, 1}}
	for _, c := range cases {
		hi, lo := mul64(c[0], c[1])
		if hi != c[2] || lo != c[3] {
			t.Errorf("mul64(%d,%d) = %d,%d want %d,%d", c[0], c[1], hi, lo, c[2], c[3])
		}
	}
}
