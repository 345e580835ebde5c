// Package rng provides counter-based random streams keyed by (seed, purpose).
//
// A stream's n-th draw depends only on its seed, its purpose string and n, so
// parallel work, resumed runs and different thread counts draw the same
// numbers. The generator is SplitMix64 applied to a key-mixed counter.
package rng

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
)

// Stream is a deterministic random stream. Its whole state is (Key, Counter).
type Stream struct {
	Key     uint64
	Counter uint64
}

// New returns the stream for (seed, purpose).
func New(seed int64, purpose string) *Stream {
	k := mix(uint64(seed) ^ 0x9e3779b97f4a7c15)
	for i := 0; i < len(purpose); i++ { // FNV-1a over the purpose, folded into the key
		k ^= uint64(purpose[i])
		k *= 0x100000001b3
	}
	return &Stream{Key: mix(k)}
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Uint64 returns the next 64 random bits.
func (s *Stream) Uint64() uint64 {
	s.Counter++
	return mix(s.Key ^ mix(s.Counter))
}

// Float64 returns a uniform number in [0,1).
func (s *Stream) Float64() float64 { return float64(s.Uint64()>>11) / (1 << 53) }

// Intn returns a uniform integer in [0,n). It panics if n <= 0.
func (s *Stream) Intn(n int) int {
	if n <= 0 {
		panic("rng: Intn with n <= 0")
	}
	// Lemire's multiply-shift with rejection keeps it unbiased.
	bound := uint64(n)
	for {
		x := s.Uint64()
		hi, lo := mul64(x, bound)
		if lo >= bound || lo >= (-bound)%bound {
			return int(hi)
		}
	}
}

func mul64(a, b uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	a0, a1 := a&mask32, a>>32
	b0, b1 := b&mask32, b>>32
	w0 := a0 * b0
	t := a1*b0 + w0>>32
	w1 := t & mask32
	w2 := t >> 32
	w1 += a0 * b1
	hi = a1*b1 + w2 + w1>>32
	lo = a * b
	return
}

// Norm returns a standard normal draw (Marsaglia's polar method, computed
// with the project's own logarithm so the bits do not depend on the CPU).
func (s *Stream) Norm() float64 {
	for {
		u := 2*s.Float64() - 1
		v := 2*s.Float64() - 1
		q := float64(u*u) + float64(v*v)
		if q >= 1 || q == 0 {
			continue
		}
		return u * math.Sqrt(-2*kernels.Log(q)/q)
	}
}

// Perm returns a random permutation of [0,n) (Fisher–Yates).
func (s *Stream) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := s.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
