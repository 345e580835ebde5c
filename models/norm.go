package models

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// parRows runs fn(r) for every r in [0,n) split over threads.
func parRows(threads, n int, fn func(r int)) {
	kernels.Parallel(threads, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			fn(r)
		}
	})
}

// rmsNorm is y = x / sqrt(mean(x²) + eps) ⊙ gain over the last dim.
type rmsNorm struct {
	dim  int
	eps  float64
	gain *Param
}

// normActs holds what the backward pass of an rmsNorm needs.
type normActs struct {
	in   []float32 // reference to the caller's input
	out  []float32
	rstd []float32
}

func newNormActs(rows, dim int) normActs {
	return normActs{out: make([]float32, rows*dim), rstd: make([]float32, rows)}
}

func (n *rmsNorm) forward(threads int, a *normActs, in []float32, rows int) {
	a.in = in
	d, g := n.dim, n.gain.Data
	parRows(threads, rows, func(r int) {
		x := in[r*d : r*d+d]
		ss := sumSquares(x)
		rs := float32(1 / math.Sqrt(ss/float64(d)+n.eps))
		a.rstd[r] = rs
		vec.ScaleMul(a.out[r*d:r*d+d], x, g, rs)
	})
}

// backward accumulates into din and into the gain gradient.
func (n *rmsNorm) backward(threads int, a *normActs, dout, din []float32, rows int) {
	d, g := n.dim, n.gain.Data
	parRows(threads, rows, func(r int) {
		x := a.in[r*d : r*d+d]
		do := dout[r*d : r*d+d]
		dx := din[r*d : r*d+d]
		rs := float64(a.rstd[r])
		dot := dotGain(do, g, x)
		c := rs * rs * rs * dot / float64(d)
		vec.RMSBack(dx, do, g, x, rs, c)
	})
	// Gain gradient: per column one float64 chain over the rows in
	// ascending order; threads split the columns.
	gg := n.gain.Grad
	kernels.Parallel(threads, d, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for r := 0; r < rows; r++ {
			vec.GainGrad(acc, dout[r*d+lo:r*d+hi], a.in[r*d+lo:r*d+hi], a.rstd[r])
		}
		for j, v := range acc {
			gg[lo+j] += float32(v)
		}
	})
}

// sumSquares returns Σ x_i² in float64 (exact products) with four
// interleaved partial sums combined as (s0+s1)+(s2+s3): a fixed order with
// short dependency chains.
func sumSquares(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v0, v1, v2, v3 := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += float64(v0 * v0)
		s1 += float64(v1 * v1)
		s2 += float64(v2 * v2)
		s3 += float64(v3 * v3)
	}
	for ; i < len(x); i++ {
		v := float64(x[i])
		s0 += float64(v * v)
	}
	return (s0 + s1) + (s2 + s3)
}

// dotGain returns Σ (do_i·g_i)·x_i in float64 (do_i·g_i rounded to
// float32), in the order of sumSquares.
func dotGain(do, g, x []float32) float64 {
	g, x = g[:len(do)], x[:len(do)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(do); i += 4 {
		s0 += float64(float64(do[i]*g[i]) * float64(x[i]))
		s1 += float64(float64(do[i+1]*g[i+1]) * float64(x[i+1]))
		s2 += float64(float64(do[i+2]*g[i+2]) * float64(x[i+2]))
		s3 += float64(float64(do[i+3]*g[i+3]) * float64(x[i+3]))
	}
	for ; i < len(do); i++ {
		s0 += float64(float64(do[i]*g[i]) * float64(x[i]))
	}
	return (s0 + s1) + (s2 + s3)
}
