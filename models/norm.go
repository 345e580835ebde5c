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
		func(r0, r1, part, parts int) { n.gainRows(acc, a, dout, r0, r1, part, parts) })
	n.addGain(acc)
}

// gainRows adds rows [r0, r1) to the gain gradient's chains in acc (one
// float64 chain per column, over the rows in ascending order; acc holds
// the chains' state after row r0−1), for the columns of part part of
// parts (a rowChain).
func (n *rmsNorm) gainRows(acc []float64, a *normActs, dout []float32, r0, r1, part, parts int) {
	d := n.dim
	lo, hi := span(d, part, parts)
	if lo < hi {
		vec.GainGradRows(acc[lo:hi], dout[r0*d+lo:], a.in[r0*d+lo:], d, a.rstd[r0:r1])
	}
}

// rowChain continues chains over the rows [r0, r1): running sums, each
// over the rows in ascending order, independent of each other. part and
// parts select a share of the sums (part of parts, as span splits them):
// calls with every part of the same parts continue all of them.
type rowChain func(r0, r1, part, parts int)

// span returns part part of [0, n) split into parts contiguous ranges.
func span(n, part, parts int) (lo, hi int) {
	return n * part / parts, n * (part + 1) / parts
}

// addGain adds the gain-gradient chains to the gain's gradient.
func (n *rmsNorm) addGain(acc []float64) {
	gg := n.gain.Grad
	for j, v := range acc {
		gg[j] += float32(v)
	}
}

// twoEndedRowBlocks is chainedRowBlocks on two threads: the first worker
// takes chainRows rows at a time from the front and runs fused over them
// (body and chain), the second takes chainRows rows at a time from the
// back and runs body over them in ascending order, until they meet; then both continue the chains over the
// second's rows, each over half of them (the parts of chain). The meeting
// point balances the two (the first does the chain's share of its rows
// while the second does only body), and each thread works on one
// contiguous range of rows, near the half that Parallel gives it.
func twoEndedRowBlocks(rows int, fused func(r0, r1 int), body func(r0, r1 int), chain rowChain) {
	blocks := int64(rows+3) / 4
	var state atomic.Int64 // front (low 32 bits) and back (high 32 bits), in blocks
	state.Store(blocks << 32)
	take := func(front bool, n int64) (lo, hi int64, ok bool) {
		for {
			st := state.Load()
			f, b := st&0xffffffff, st>>32
			if f >= b {
				return 0, 0, false
			}
			n = min(n, b-f)
			next := (f + n) | b<<32
			lo, hi = f, f+n
			if !front {
				next = f | (b-n)<<32
				lo, hi = b-n, b
			}
			if state.CompareAndSwap(st, next) {
				return lo, hi, true
			}
		}
	}
	row := func(block int64) int { return min(int(block)*4, rows) }
	// The first worker's rows [0, m) are chained when chained is m; the
	// second's body has covered [from, rows) when from is set; both are
	// −1 before.
	var chained, from atomic.Int64
	chained.Store(-1)
	from.Store(-1)
	wait := func(v *atomic.Int64) int {
		for v.Load() < 0 {
			runtime.Gosched()
		}
		return int(v.Load())
	}
	kernels.Parallel(2, 2, func(w, _ int) {
		if w == 0 {
			end := int64(0)
			for {
				lo, hi, ok := take(true, chainRows/4)
				if !ok {
					break
				}
				fused(row(lo), row(hi))
				end = hi
			}
			chained.Store(int64(row(end)))
		} else {
			f := rows
			for {
				lo, hi, ok := take(false, chainRows/4)
				if !ok {
					break
				}
				for r0 := row(lo); r0 < row(hi); r0 += 4 {
					body(r0, min(r0+4, rows))
				}
				f = row(lo)
			}
			from.Store(int64(f))
		}
		r0 := wait(&from)
		wait(&chained)
		if r0 < rows {
			chain(r0, rows, w, 2)
		}
	})
}

// chainRows is the number of rows chainedRowBlocks chains at once on its
// first worker: the chains' kernels keep their sums in registers across the
// rows of one call, and 32 rows of a pass's operands stay in L2.
const chainRows = 32

// chainedRowBlocks runs body over [0, rows) in blocks of at most four rows,
// split over threads by kernels.Parallel, and chain over the same rows in
// ascending order: each worker runs chain over its rows once the worker
// with the rows before its own has, so a chain over all rows (a norm's gain
// gradient, one float64 sum per column) runs in row order, whatever the
// thread count, on the thread that wrote the rows, with no pass over the
// columns afterwards. The worker with the first rows, which never waits,
// runs chain every chainRows rows right after body, while they are in
// cache.
func chainedRowBlocks(threads, rows int, body func(r0, r1 int), chain rowChain) {
	fused := func(lo, hi int) {
		for c0 := lo; c0 < hi; c0 += chainRows {
			c1 := min(c0+chainRows, hi)
			for r0 := c0; r0 < c1; r0 += 4 {
				body(r0, min(r0+4, c1))
			}
			chain(c0, c1, 0, 1)
		}
	}
	if threads <= 1 {
		fused(0, rows)
		return
	}
	if threads == 2 {
		twoEndedRowBlocks(rows, fused, body, chain)
		return
	}
	var chained atomic.Int64 // the rows [0, chained) are chained
	kernels.Parallel(threads, rows, func(lo, hi int) {
		if lo == 0 {
			fused(lo, hi)
		} else {
			for r0 := lo; r0 < hi; r0 += 4 {
				body(r0, min(r0+4, hi))
			}
			for chained.Load() != int64(lo) {
				runtime.Gosched()
			}
			chain(lo, hi, 0, 1)
		}
		chained.Store(int64(hi))
	})
}

// backwardRows adds the input gradient of rows [lo, hi) to din, four rows
// at a time so that the second pass reads them from cache (the gain
// gradient is gainRows'). With zero, din's
// rows are cleared first (the bits of adding to a cleared buffer), so a
// caller's row pass needs no separate clearing pass.
func (n *rmsNorm) backwardRows(a *normActs, dout, din []float32, lo, hi int, zero bool) {
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
	}
}
