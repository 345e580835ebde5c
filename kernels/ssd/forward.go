package ssd

import (
	"sync"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// Cache holds what Backward needs from a Forward call: the chunk-boundary
// states and the per-group inner products C_l·B_s of every chunk. Everything
// else is recomputed inside each chunk.
type Cache struct {
	d Dims
	// states is (Batch, Chunks+1, Heads, HeadDim, State): entry c is the
	// state entering chunk c, entry Chunks the final state.
	states []float32
	// cb is (Batch, Groups, Chunks, Chunk·Chunk): C·Bᵀ of each chunk, stored
	// densely as q×q for a chunk of length q.
	cb []float32
	// inference marks a cache made by ForwardInference: it holds neither
	// states nor scores, and Backward refuses it.
	inference bool
}

// Dims returns the shapes the cache was made for.
func (c *Cache) Dims() Dims { return c.d }

// Bytes returns the memory the cache holds.
func (c *Cache) Bytes() int { return 4*len(c.states) + 4*len(c.cb) }

// stateAt returns the (HeadDim×State) boundary state entering chunk k of
// pair (b, h).
func (c *Cache) stateAt(b, k, h int) []float32 {
	d := c.d
	pn := d.HeadDim * d.State
	i := ((b*(d.Chunks()+1)+k)*d.Heads + h) * pn
	return c.states[i : i+pn]
}

// scores returns the C·Bᵀ block of chunk k of (b, g) (q×q for a chunk of
// length q).
func (c *Cache) scores(b, g, k int) []float32 {
	d := c.d
	qq := d.Chunk * d.Chunk
	i := ((b*d.Groups+g)*d.Chunks() + k) * qq
	return c.cb[i : i+qq]
}

// Forward computes y (overwritten) by the chunked algorithm and returns the
// cache for Backward. init may be nil (zero initial state); final may be nil
// (not wanted); both are (Batch, Heads, HeadDim, State). Work is split over
// up to threads goroutines; the result does not depend on threads. Forward
// panics if d is invalid or a buffer is too short (see Dims.Validate).
func Forward(threads int, d Dims, y, x, dt, A, Bm, Cm, init, final []float32) *Cache {
	return ForwardReuse(nil, threads, d, y, x, dt, A, Bm, Cm, init, final)
}

// ForwardReuse is Forward that reuses the memory of reuse, a cache of an
// earlier call, when it was made for the same Dims (reuse may be nil). The
// returned cache replaces reuse, which must no longer be used.
func ForwardReuse(reuse *Cache, threads int, d Dims, y, x, dt, A, Bm, Cm, init, final []float32) *Cache {
	d.checkInputs("Forward", x, dt, A, Bm, Cm)
	checkLen("Forward", "y", y, d.xSize())
	if init != nil {
		checkLen("Forward", "init", init, d.stateSize())
	}
	if final != nil {
		checkLen("Forward", "final", final, d.stateSize())
	}
	nc := d.Chunks()
	c := reuse
	if c == nil || c.d != d || c.inference {
		c = &Cache{
			d:      d,
			states: make([]float32, d.Batch*(nc+1)*d.Heads*d.HeadDim*d.State),
			cb:     make([]float32, d.Batch*d.Groups*nc*d.Chunk*d.Chunk),
		}
	}
	c.computeScores(threads, Bm, Cm)

	pn, H := d.HeadDim*d.State, d.Heads
	kernels.Parallel(threads, d.Batch*H, func(lo, hi int) {
		w := getChunk(d)
		defer chunks.Put(w)
		// A worker's pairs of one batch row walk the chunks together (the
		// heads of a chunk read the same rows of x, B and C); every pair
		// still runs its own chunks in ascending order.
		for b := lo / H; b*H < hi; b++ {
			h0, h1 := max(lo-b*H, 0), min(hi-b*H, H)
			for h := h0; h < h1; h++ {
				bh := b*H + h
				s0 := c.stateAt(b, 0, h)
				if init != nil {
					copy(s0, init[bh*pn:bh*pn+pn])
				} else {
					clear(s0)
				}
			}
			for k := 0; k < nc; k++ {
				for h := h0; h < h1; h++ {
					g := h / d.headsPerGroup()
					w.forwardChunk(c.scores(b, g, k), c.stateAt(b, k, h), c.stateAt(b, k+1, h),
						k == 0 && init == nil, b, h, k, y, x, dt, A, Bm, Cm)
				}
			}
			if final != nil {
				for h := h0; h < h1; h++ {
					bh := b*H + h
					copy(final[bh*pn:bh*pn+pn], c.stateAt(b, nc, h))
				}
			}
		}
	})
	return c
}

// chunks recycles the per-worker scratch of Forward.
var chunks sync.Pool

func getChunk(d Dims) *chunk {
	if w, ok := chunks.Get().(*chunk); ok && w.d == d {
		return w
	}
	return newChunk(d)
}

// computeScores fills c.cb, in parallel over (batch, group, chunk).
func (c *Cache) computeScores(threads int, Bm, Cm []float32) {
	d := c.d
	nc := d.Chunks()
	kernels.Parallel(threads, d.Batch*d.Groups*nc, func(lo, hi int) {
		bs := make([]float32, d.Chunk*d.State)
		cs := make([]float32, d.Chunk*d.State)
		for i := lo; i < hi; i++ {
			k := i % nc
			bg := i / nc
			b, g := bg/d.Groups, bg%d.Groups
			groupScores(d, b, g, k, Bm, Cm, c.scores(b, g, k), bs, cs)
		}
	})
}

// forwardChunk writes y for chunk k of pair (b, h) and, when sOut is not
// nil, the state leaving it:
//
//	Y     = diag(eA)·(C·S_inᵀ) + M·X            (M = (C·Bᵀ)∘L, X = dt·x)
//	S_out = exp(Acs_last)·S_in + (diag(L[last,:])·X)ᵀ·B
//
// as float32 GEMMs, each continuing the chain from the scaled first term.
// cb is the chunk's C·Bᵀ (q×q). zeroIn says that the entering state is
// all +0 (chunk 0 without an initial state); sIn may then be nil. sOut may
// be sIn (the state is then updated in place: sIn is read in full before
// sOut is written, and elementwise where both are touched).
//
// With zeroIn, the state terms are skipped when that cannot change a bit:
// every element of C·S_inᵀ is a chain of FMAs that starts from +0 and adds
// c·(+0), which is ±0 for a finite c, and (±0) + (+0) = +0 under
// round-to-nearest, so the chain stays +0; then +0·eA = +0 for a finite
// eA (eA ≥ 0, an exp), and likewise +0·exp(Acs_last) = +0 for S_out, on
// which the input term then accumulates as before. A non-finite c or eA
// would instead make the term NaN (c·0, 0·∞), and the intra-chunk term
// alone need not reproduce that NaN (it can give ±∞, or another NaN): so
// the skip is taken only when every eA and every diagonal score C_l·B_l of
// the chunk is finite. A finite C_l·B_l implies a finite C_l, because a
// non-finite factor makes its product, and then the whole FMA chain,
// non-finite.
func (w *chunk) forwardChunk(cb, sIn, sOut []float32, zeroIn bool, b, h, k int, y, x, dt, A, Bm, Cm []float32) {
	d := w.d
	Q, P, N, H := d.Chunk, d.HeadDim, d.State, d.Heads
	w.load(b, h, k, x, dt, A, Bm, Cm, cb)
	q := w.q
	yc := w.yc[:q*P]
	skip := zeroIn && w.finiteState(cb)
	if !skip && sIn == nil {
		sIn = w.zeroState()
	}
	// State → output, then the intra-chunk (attention-like) part. When the
	// state term is skipped, its +0 is the chains' start: mulNN without acc
	// starts every chain from +0, the same bits as accumulating onto +0.
	if !skip {
		kernels.MatMulNT(1, yc, w.cs, sIn, q, N, P, false)
		for l := 0; l < q; l++ {
			row := yc[l*P : l*P+P]
			vec.Scale(row, row, w.eA[l])
		}
	}
	mulNN(yc, w.m[:q*q], w.xs[:q*P], q, q, P, !skip)
	for l := 0; l < q; l++ {
		i := ((b*d.Len+k*Q+l)*H + h) * P
		copy(y[i:i+P], yc[l*P:l*P+P])
	}
	if sOut == nil {
		return
	}
	// Chunk state: decay the entering state, add the chunk's inputs (from
	// +0, the decayed zero state, when the state term is skipped).
	if !skip {
		vec.Scale(sOut, sIn, w.eA[q-1])
	}
	last := w.dec[(q-1)*q : q*q]
	for s := 0; s < q; s++ {
		vec.Scale(w.wx[s*P:s*P+P], w.xs[s*P:s*P+P], last[s])
	}
	mulTN(sOut, w.wx[:q*P], w.bs, P, q, N, !skip)
}

// zeroState returns HeadDim·State zeros, the entering state of the general
// path when the caller passes none. It is never written.
func (w *chunk) zeroState() []float32 {
	pn := w.d.HeadDim * w.d.State
	if len(w.zero) < pn {
		w.zero = make([]float32, pn)
	}
	return w.zero[:pn]
}

// finiteState reports whether every eA of the loaded chunk and every
// diagonal entry of its scores cb are finite (see forwardChunk).
func (w *chunk) finiteState(cb []float32) bool {
	q := w.q
	for l := 0; l < q; l++ {
		if e, s := w.eA[l], cb[l*q+l]; e-e != 0 || s-s != 0 {
			return false
		}
	}
	return true
}
