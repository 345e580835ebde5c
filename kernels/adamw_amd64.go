//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func adamwAVX512(w, grad, m, v *float32, n int, k *[9]float64)

// adamwVector updates the longest multiple-of-8 prefix with AVX-512 and
// returns its length (0 without AVX-512).
func adamwVector(w, g, m, v []float32, k AdamWConsts) int {
	n := len(w) &^ 7
	if n == 0 || !cpu.X86.HasAVX512F {
		return 0
	}
	c := [9]float64{k.Beta1, 1 - k.Beta1, k.Beta2, 1 - k.Beta2, k.Decay, k.C1, k.C2, k.Eps, k.LR}
	adamwAVX512(&w[0], &g[0], &m[0], &v[0], n, &c)
	return n
}
