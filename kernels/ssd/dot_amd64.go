//go:build !purego

package ssd

import "golang.org/x/sys/cpu"

// The AVX2 routines (dot_amd64.s) keep the four partial sums of dotLanesGo
// in the four float64 lanes of one register: lane j adds the exact products
// of the elements i ≡ j mod 4 in ascending i, with the same roundings.

//go:noescape
func dotLanesAVX2(a, b *float32, n int, s *[4]float64)

//go:noescape
func dotLanes2AVX2(a0, b0, a1, b1 *float32, n int, s, t *[4]float64)

var hasAVX2 = cpu.X86.HasAVX2

// dotLanes is dotLanesGo, in AVX2 where the CPU has it.
func dotLanes(a, b []float32, s *[4]float64) {
	n := len(a)
	if !hasAVX2 || n == 0 {
		dotLanesGo(a, b, s)
		return
	}
	b = b[:n]
	dotLanesAVX2(&a[0], &b[0], n, s)
}

// dotLanes2 is dotLanes2Go, in AVX2 where the CPU has it.
func dotLanes2(a0, b0, a1, b1 []float32, s, t *[4]float64) {
	n := len(a0)
	if !hasAVX2 || n == 0 {
		dotLanes2Go(a0, b0, a1, b1, s, t)
		return
	}
	b0, a1, b1 = b0[:n], a1[:n], b1[:n]
	dotLanes2AVX2(&a0[0], &b0[0], &a1[0], &b1[0], n, s, t)
}
