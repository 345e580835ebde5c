package kernels

import "math"

// FMA32 returns a*b+c rounded once to float32, as a hardware fused
// multiply-add does. The product of two float32 values is exact in float64;
// the sum is formed with TwoSum, rounded to odd in float64 and then rounded
// to nearest float32, which yields the correctly rounded result because
// float64 carries more than 2*24+2 significand bits.
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	q := float64(c)
	s := p + q
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
