package models

import (
	"math"
	"runtime"
	"sync/atomic"

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

// backward accumulates into din (writes din, with zero: the bits of adding
// to a cleared din) and into the gain gradient.
func (n *rmsNorm) backward(threads int, a *normActs, dout, din []float32, rows int, zero bool) {
	acc := make([]float64, n.dim)
	chainedRowBlocks(threads, rows,
		func(r0, r1 int) { n.backwardRows(a, dout, din, r0, r1, zero) },
		func(r0, r1 int) { n.gainRows(acc, a, dout, r0, r1) })
	n.addGain(acc)
}

// gainRows adds rows [r0, r1) to the gain gradient's chains in acc (one
// float64 chain per column, over the rows in ascending order; acc holds
// the chains' state after row r0−1).
func (n *rmsNorm) gainRows(acc []float64, a *normActs, dout []float32, r0, r1 int) {
	d := n.dim
	vec.GainGradRows(acc, dout[r0*d:], a.in[r0*d:], d, a.rstd[r0:r1])
}

// addGain adds the gain-gradient chains to the gain's gradient.
func (n *rmsNorm) addGain(acc []float64) {
	gg := n.gain.Grad
	for j, v := range acc {
		gg[j] += float32(v)
	}
}

// chainRows is the number of rows chainedRowBlocks chains at once on its
// first worker: the chains' kernels keep their sums in registers across the
// rows of one call, and 64 rows of a pass's operands stay in L2 (with 32,
// the chains' state moves between the threads twice as often; 128 ran
// slower).
const chainRows = 64

// chainedRowBlocks runs body over [0, rows) in blocks of at most four rows
// and chain over the same rows in ascending order, on threads threads: the
// workers take chunks of chainRows rows in ascending order from a counter,
// run body over a chunk and then, once the chunk before it is chained,
// chain over it, while it is in cache. So a chain over all rows (a norm's
// gain gradient, one float64 sum per column) runs in row order, whatever
// the thread count, with no pass over the columns afterwards, and the
// workers overlap one chunk's chain with the next chunks' body. The chains'
// state moves between the threads once per chunk.
func chainedRowBlocks(threads, rows int, body, chain func(r0, r1 int)) {
	chunks := (rows + chainRows - 1) / chainRows
	threads = max(min(threads, chunks), 1)
	var next, chained atomic.Int64 // the next chunk to take; the chunks [0, chained) are chained
	kernels.Parallel(threads, threads, func(int, int) {
		for {
			c := next.Add(1) - 1
			if c >= int64(chunks) {
				return
			}
			c0, c1 := int(c)*chainRows, min(int(c+1)*chainRows, rows)
			for r0 := c0; r0 < c1; r0 += 4 {
				body(r0, min(r0+4, c1))
			}
			for chained.Load() != c {
				runtime.Gosched()
			}
			chain(c0, c1)
			chained.Store(c + 1)
		}
	})
}

// backwardRows adds the input gradient of rows [lo, hi) to din, four rows
// at a time so that the second pass reads them from cache (the gain
// gradient is gainRows'). With zero, din's rows are written instead
// (vec.RMSBackSet: the bits of adding to a cleared buffer), so a caller's
// row pass needs no clearing pass.
func (n *rmsNorm) backwardRows(a *normActs, dout, din []float32, lo, hi int, zero bool) {
	d, g := n.dim, n.gain.Data
	var dots [4]float64
	for r0 := lo; r0 < hi; r0 += 4 {
		r1 := min(r0+4, hi)
		vec.DotGainRows(dots[:r1-r0], dout[r0*d:r1*d], g, a.in[r0*d:r1*d], d)
		for r := r0; r < r1; r++ {
			rs := float64(a.rstd[r])
			c := rs * rs * rs * dots[r-r0] / float64(d)
			if zero {
				vec.RMSBackSet(din[r*d:r*d+d], dout[r*d:r*d+d], g, a.in[r*d:r*d+d], rs, c)
			} else {
				vec.RMSBack(din[r*d:r*d+d], dout[r*d:r*d+d], g, a.in[r*d:r*d+d], rs, c)
			}
		}
	}
}
