package kernels

import "math"

// The package rng imports kernels, so the tests here draw their data from a
// local splitmix64 stream.
type testStream struct{ state uint64 }

func (s *testStream) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *testStream) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// normalData fills n values roughly uniform in [-1,1).
func normalData(s *testStream, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(2*s.float() - 1)
	}
	return x
}

// adversarialData mixes magnitudes from 1e-8 to 1e8, exact negations of the
// previous value (cancellation) and values near 1 that round differently
// under double rounding.
func adversarialData(s *testStream, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r := s.next() % 4; {
		case r == 0:
			x[i] = float32(2*s.float() - 1)
		case r == 1:
			e := 16*s.float() - 8
			v := float32(math.Pow(10, e))
			if s.next()&1 == 1 {
				v = -v
			}
			x[i] = v
		case r == 2 && i > 0:
			x[i] = -x[i-1]
		default:
			x[i] = 1 + float32(s.next()%64)*0x1p-23
		}
	}
	return x
}

// refGemm is the plain reference: one FMA32 chain per element of C over K
// in ascending order, from +0 or from the stored C.
func refGemm(variant string, c, a, b []float32, m, k, n int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			if acc {
				s = c[i*n+j]
			}
			for p := 0; p < k; p++ {
				var av, bv float32
				switch variant {
				case "NN":
					av, bv = a[i*k+p], b[p*n+j]
				case "NT":
					av, bv = a[i*k+p], b[j*k+p]
				case "TN":
					av, bv = a[p*m+i], b[p*n+j]
				}
				s = FMA32(av, bv, s)
			}
			c[i*n+j] = s
		}
	}
}

// gemmWith runs one public variant through the given kernel set.
func gemmWith(ks kernelSet, variant string, threads int, c, a, b []float32, m, k, n int, acc bool) {
	gemm(ks, threads, variantArgs(variant, c, a, b, m, k, n, acc))
}

// variantArgs describes one variant's product on dense row-major operands.
func variantArgs(variant string, c, a, b []float32, m, k, n int, acc bool) gemmArgs {
	g := gemmArgs{c: c, ldc: n, a: a, lda: k, b: b, ldb: n, m: m, k: k, n: n, acc: acc}
	switch variant {
	case "NT":
		g.ldb, g.transB = k, true
	case "TN":
		g.lda, g.transA = m, true
	}
	return g
}
