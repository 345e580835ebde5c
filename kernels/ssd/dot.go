package ssd

// dot returns Σ a_i·b_i over len(a) in float64 in a fixed order: four
// interleaved partial sums of exact products (s_j over i ≡ j mod 4, up to
// the last multiple of four), the remaining products added to s0, combined
// as (s0+s1)+(s2+s3).
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	n4 := len(a) &^ 3
	var s [4]float64
	dotLanes(a[:n4], b[:n4], &s)
	return dotFinish(a, b, n4, &s)
}

// dot2 returns dot(a0, b0) and dot(a1, b1), with the two sums interleaved
// when the vectors have the same length.
func dot2(a0, b0, a1, b1 []float32) (float64, float64) {
	n := len(a0)
	if len(a1) != n {
		return dot(a0, b0), dot(a1, b1)
	}
	b0, b1 = b0[:n], b1[:n]
	n4 := n &^ 3
	var s, t [4]float64
	dotLanes2(a0[:n4], b0[:n4], a1[:n4], b1[:n4], &s, &t)
	return dotFinish(a0, b0, n4, &s), dotFinish(a1, b1, n4, &t)
}

// dotFinish adds the products past n4 to s[0] and combines the lanes.
func dotFinish(a, b []float32, n4 int, s *[4]float64) float64 {
	s0 := s[0]
	for i := n4; i < len(a); i++ {
		s0 += float64(float64(a[i]) * float64(b[i]))
	}
	return (s0 + s[1]) + (s[2] + s[3])
}

// dotLanesGo sets s[j] to the float64 sum, from +0 in ascending i, of the
// exact products a_i·b_i with i ≡ j mod 4; len(a) is a multiple of four.
func dotLanesGo(a, b []float32, s *[4]float64) {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	for i := 0; i+4 <= len(a); i += 4 {
		aa, bb := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += float64(float64(aa[0]) * float64(bb[0]))
		s1 += float64(float64(aa[1]) * float64(bb[1]))
		s2 += float64(float64(aa[2]) * float64(bb[2]))
		s3 += float64(float64(aa[3]) * float64(bb[3]))
	}
	s[0], s[1], s[2], s[3] = s0, s1, s2, s3
}

// dotLanes2Go is dotLanesGo on two pairs of vectors of the same length.
func dotLanes2Go(a0, b0, a1, b1 []float32, s, t *[4]float64) {
	dotLanesGo(a0, b0, s)
	dotLanesGo(a1, b1, t)
}
