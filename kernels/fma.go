package kernels

import "math"

// FMA32 returns a*b+c rounded once to float32, as a hardware fused
// multiply-add does. The product of two float32 values is exact in float64,
// so only the sum can round twice (to float64, then to float32). Every
// float32 rounding boundary inside the normal range is a float64 value and
// rounding is monotonic, so the float64 sum s rounds to the same float32 as
// the exact sum unless s lies exactly on a boundary (a float32 halfway
// point); that rare case, and sums outside the normal float32 range, take
// the exact path.
func FMA32(a, b, c float32) float32 {
	s := float64(a)*float64(b) + float64(c)
	if fastRound32(s) {
		return float32(s)
	}
	return fma32Exact(a, b, c)
}

// fastRound32 reports whether float32(s) is the correctly rounded float32
// of any exact sum that rounds to the float64 s: s is ±0 (a float64 sum is
// zero only when the exact sum is), or s is in the normal float32 range
// (biased exponent 897..1150) and not on a halfway point (the 29 bits below
// float32 precision are not exactly 1000…0).
func fastRound32(s float64) bool {
	bits := math.Float64bits(s)
	return bits<<1 == 0 || (bits>>52&0x7ff)-897 <= 253 && bits&(1<<29-1) != 1<<28
}

// fma32Exact forms the sum with TwoSum, rounds it to odd in float64 and then
// to nearest float32, which yields the correctly rounded result because
// float64 carries more than 2*24+2 significand bits. A float64 sum of
// float32 operands cannot overflow, so an infinite or NaN s means an
// infinite or NaN operand, and s is then the IEEE result (TwoSum would turn
// −Inf into NaN).
func fma32Exact(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	q := float64(c)
	s := p + q
	if s-s != 0 {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (q - bb)
	if e != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}
