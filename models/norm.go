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
	kernels.Parallel(threads, rows, func(lo, hi int) { n.forwardRows(a, lo, hi) })
}

// forwardRows normalizes rows [lo, hi) of a.in, four rows at a time so that
// the second pass reads them from cache.
func (n *rmsNorm) forwardRows(a *normActs, lo, hi int) {
	d, g, in := n.dim, n.gain.Data, a.in
	var ss [4]float64
	for r0 := lo; r0 < hi; r0 += 4 {
		r1 := min(r0+4, hi)
		vec.SumSquaresRows(ss[:r1-r0], in[r0*d:r1*d], d)
		for r := r0; r < r1; r++ {
			rs := float32(1 / math.Sqrt(ss[r-r0]/float64(d)+n.eps))
			a.rstd[r] = rs
			vec.ScaleMul(a.out[r*d:r*d+d], in[r*d:r*d+d], g, rs)
		}
	}
}

// backward accumulates into din and into the gain gradient.
func (n *rmsNorm) backward(threads int, a *normActs, dout, din []float32, rows int) {
	if threads <= 1 {
		// One pass: the gain gradient's column chains run over the rows in
		// ascending order, as in the column-split pass below.
		acc := make([]float64, n.dim)
		n.backwardRows(a, dout, din, 0, rows, acc, false)
		n.addGain(acc)
		return
	}
	kernels.Parallel(threads, rows, func(lo, hi int) { n.backwardRows(a, dout, din, lo, hi, nil, false) })
	n.gainGrad(threads, a, dout, rows)
}

// gainAcc returns the gain-gradient accumulator of a one-thread row pass
// (backwardRows adds each row to it in ascending order), or nil when
// threads > 1 (finishGain then runs the column-split pass).
func gainAcc(threads int, n *rmsNorm) []float64 {
	if threads <= 1 {
		return make([]float64, n.dim)
	}
	return nil
}

// finishGain adds the gain gradient after a row pass of backwardRows that
// used acc = gainAcc(threads, n).
func (n *rmsNorm) finishGain(threads int, acc []float64, a *normActs, dout []float32, rows int) {
	if acc != nil {
		n.addGain(acc)
		return
	}
	n.gainGrad(threads, a, dout, rows)
}

// addGain adds the gain-gradient chains of a one-thread pass to the gain's
// gradient.
func (n *rmsNorm) addGain(acc []float64) {
	gg := n.gain.Grad
	for j, v := range acc {
		gg[j] += float32(v)
	}
}

// gainGrad adds the gain gradient: per column one float64 chain over the
// rows in ascending order; threads split the columns.
func (n *rmsNorm) gainGrad(threads int, a *normActs, dout []float32, rows int) {
	d, gg := n.dim, n.gain.Grad
	kernels.Parallel(threads, d, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		vec.GainGradRows(acc, dout[lo:], a.in[lo:], d, a.rstd[:rows])
		for j, v := range acc {
			gg[lo+j] += float32(v)
		}
	})
}

// backwardRows adds the input gradient of rows [lo, hi) to din, four rows
// at a time so that the second pass reads them from cache; when acc is not
// nil it also adds each row's gain-gradient terms to acc. With zero, din's
// rows are cleared first (the bits of adding to a cleared buffer), so a
// caller's row pass needs no separate clearing pass.
func (n *rmsNorm) backwardRows(a *normActs, dout, din []float32, lo, hi int, acc []float64, zero bool) {
	d, g := n.dim, n.gain.Data
	var dots [4]float64
	for r0 := lo; r0 < hi; r0 += 4 {
		r1 := min(r0+4, hi)
		if zero {
			clear(din[r0*d : r1*d])
		}
		vec.DotGainRows(dots[:r1-r0], dout[r0*d:r1*d], g, a.in[r0*d:r1*d], d)
		for r := r0; r < r1; r++ {
			rs := float64(a.rstd[r])
			c := rs * rs * rs * dots[r-r0] / float64(d)
			vec.RMSBack(din[r*d:r*d+d], dout[r*d:r*d+d], g, a.in[r*d:r*d+d], rs, c)
		}
		if acc != nil {
			vec.GainGradRows(acc, dout[r0*d:], a.in[r0*d:], d, a.rstd[r0:r1])
		}
	}
}
