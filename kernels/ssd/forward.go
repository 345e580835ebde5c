package ssd

import "github.com/nanomamba-edge/harness/kernels"

// Cache holds what Backward needs from a Forward call: the chunk-boundary
// states and the per-group inner products C_l·B_s of every chunk. Everything
// else is recomputed inside each chunk.
type Cache struct {
	d Dims
	// states is (Batch, Chunks+1, Heads, HeadDim, State): entry c is the
	// state entering chunk c, entry Chunks the final state.
	states []float32
	// cb is (Batch, Groups, Chunks, Chunk, Chunk): C_l·B_s for s ≤ l.
	cb []float64
}

// Dims returns the shapes the cache was made for.
func (c *Cache) Dims() Dims { return c.d }

// Bytes returns the memory the cache holds.
func (c *Cache) Bytes() int { return 4*len(c.states) + 8*len(c.cb) }

// stateAt returns the (HeadDim×State) boundary state entering chunk k of
// pair (b, h).
func (c *Cache) stateAt(b, k, h int) []float32 {
	d := c.d
	pn := d.HeadDim * d.State
	i := ((b*(d.Chunks()+1)+k)*d.Heads + h) * pn
	return c.states[i : i+pn]
}

// scores returns the (Chunk×Chunk) C·Bᵀ block of chunk k of (b, g).
func (c *Cache) scores(b, g, k int) []float64 {
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
	d.checkInputs("Forward", x, dt, A, Bm, Cm)
	checkLen("Forward", "y", y, d.xSize())
	if init != nil {
		checkLen("Forward", "init", init, d.stateSize())
	}
	if final != nil {
		checkLen("Forward", "final", final, d.stateSize())
	}
	nc := d.Chunks()
	c := &Cache{
		d:      d,
		states: make([]float32, d.Batch*(nc+1)*d.Heads*d.HeadDim*d.State),
		cb:     make([]float64, d.Batch*d.Groups*nc*d.Chunk*d.Chunk),
	}
	c.computeScores(threads, Bm, Cm)

	pn := d.HeadDim * d.State
	kernels.Parallel(threads, d.Batch*d.Heads, func(lo, hi int) {
		w := newChunk(d)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/d.Heads, bh%d.Heads
			s0 := c.stateAt(b, 0, h)
			if init != nil {
				copy(s0, init[bh*pn:bh*pn+pn])
			}
			for k := 0; k < nc; k++ {
				w.forwardChunk(c, b, h, k, y, x, dt, A, Bm, Cm)
			}
			if final != nil {
				copy(final[bh*pn:bh*pn+pn], c.stateAt(b, nc, h))
			}
		}
	})
	return c
}

// computeScores fills c.cb, in parallel over (batch, group, chunk).
func (c *Cache) computeScores(threads int, Bm, Cm []float32) {
	d := c.d
	nc := d.Chunks()
	kernels.Parallel(threads, d.Batch*d.Groups*nc, func(lo, hi int) {
		bs := make([]float64, d.Chunk*d.State)
		cs := make([]float64, d.Chunk*d.State)
		for i := lo; i < hi; i++ {
			k := i % nc
			bg := i / nc
			b, g := bg/d.Groups, bg%d.Groups
			groupScores(d, b, g, k, Bm, Cm, c.scores(b, g, k), bs, cs)
		}
	})
}

// forwardChunk writes y for chunk k of pair (b, h) and the state leaving it.
func (w *chunk) forwardChunk(c *Cache, b, h, k int, y, x, dt, A, Bm, Cm []float32) {
	d := w.d
	Q, P, N, H := d.Chunk, d.HeadDim, d.State, d.Heads
	g := h / d.headsPerGroup()
	w.load(b, h, k, x, dt, A, Bm, Cm, c.scores(b, g, k))
	for i, v := range c.stateAt(b, k, h) {
		w.sIn[i] = float64(v)
	}
	q := w.q
	transpose(w.sT, P, w.sIn, N, P, N)
	clear(w.off[:q*P])
	matMulRows(w.off, P, w.cs, N, q, N, w.sT, P, P)
	for l := 0; l < q; l++ {
		// State → output, then the intra-chunk (attention-like) part.
		e := w.eA[l]
		for p, v := range w.off[l*P : l*P+P] {
			w.acc[p] = float64(e * v)
		}
		rowMul(w.acc, w.m[l*Q:l*Q+l+1], w.xs, P)
		i := ((b*d.Len+k*Q+l)*H + h) * P
		for p, v := range w.acc {
			y[i+p] = float32(v)
		}
	}
	// Chunk state: decay the entering state, add the chunk's inputs.
	eEnd := w.eA[q-1]
	for i, v := range w.sIn {
		w.sOut[i] = float64(eEnd * v)
	}
	last := w.dec[(q-1)*Q:]
	for s := 0; s < q; s++ {
		for p := 0; p < P; p++ {
			w.wxT[p*Q+s] = float64(last[s] * w.xs[s*P+p])
		}
	}
	matMulRows(w.sOut, N, w.wxT, Q, P, q, w.bs, N, N)
	next := c.stateAt(b, k+1, h)
	for i, v := range w.sOut {
		next[i] = float32(v)
	}
}
