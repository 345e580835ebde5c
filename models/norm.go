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
	kernels.Parallel(threads, rows, func(lo, hi int) {
		ss := make([]float64, hi-lo)
		vec.SumSquaresRows(ss, in[lo*d:hi*d], d)
		for r := lo; r < hi; r++ {
			rs := float32(1 / math.Sqrt(ss[r-lo]/float64(d)+n.eps))
			a.rstd[r] = rs
			vec.ScaleMul(a.out[r*d:r*d+d], in[r*d:r*d+d], g, rs)
		}
	})
}

// backward accumulates into din and into the gain gradient.
func (n *rmsNorm) backward(threads int, a *normActs, dout, din []float32, rows int) {
	d, g := n.dim, n.gain.Data
	kernels.Parallel(threads, rows, func(lo, hi int) {
		dots := make([]float64, hi-lo)
		vec.DotGainRows(dots, dout[lo*d:hi*d], g, a.in[lo*d:hi*d], d)
		for r := lo; r < hi; r++ {
			rs := float64(a.rstd[r])
			c := rs * rs * rs * dots[r-lo] / float64(d)
			vec.RMSBack(din[r*d:r*d+d], dout[r*d:r*d+d], g, a.in[r*d:r*d+d], rs, c)
		}
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
