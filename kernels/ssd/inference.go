package ssd

import "github.com/nanomamba-edge/harness/kernels"

// ForwardInference is ForwardReuse for a forward pass that no Backward
// follows: y, and final when it is not nil, are bit for bit those of
// ForwardReuse on the same inputs (for any threads), but it skips the work
// only Backward needs. It keeps one state per (batch row, head) pair,
// carried from chunk to chunk (in final when it is given, else in per-worker
// scratch) instead of the boundary states of every chunk; it computes each
// chunk's C·Bᵀ when the chunk is reached instead of storing them all; and,
// when final is nil, it does not compute the state leaving the last chunk.
// With a single chunk, no initial state and no final state it runs no state
// arithmetic at all when the chunk's decays and diagonal scores are finite
// (otherwise the zero state's terms run, to keep their NaN and Inf bits).
//
// The returned cache holds no states: it exists to be passed back as reuse
// (and keeps the calling shape of ForwardReuse). It must not be passed to
// Backward, which panics on it. reuse may be nil or a cache of any earlier
// call; the returned cache replaces it, and reuse must no longer be used.
// init and final may be the same slice. ForwardInference panics if d is
// invalid or a buffer is too short (see Dims.Validate), as Forward does.
func ForwardInference(reuse *Cache, threads int, d Dims, y, x, dt, A, Bm, Cm, init, final []float32) *Cache {
	const fn = "ForwardInference"
	d.checkInputs(fn, x, dt, A, Bm, Cm)
	checkLen(fn, "y", y, d.xSize())
	if init != nil {
		checkLen(fn, "init", init, d.stateSize())
	}
	if final != nil {
		checkLen(fn, "final", final, d.stateSize())
	}
	c := reuse
	if c == nil || c.d != d || !c.inference {
		c = &Cache{d: d, inference: true}
	}

	nc, H, G, hpg := d.Chunks(), d.Heads, d.Groups, d.headsPerGroup()
	pn, qq := d.HeadDim*d.State, d.Chunk*d.Chunk
	// The state leaving a chunk is needed when another chunk follows or
	// when the caller wants the final state.
	needCarry := nc > 1 && final == nil
	kernels.Parallel(threads, d.Batch*H, func(lo, hi int) {
		w := getChunk(d)
		defer chunks.Put(w)
		if len(w.cbg) < G*qq {
			w.cbg = make([]float32, G*qq)
		}
		if needCarry && len(w.carry) < H*pn {
			w.carry = make([]float32, H*pn)
		}
		// As in ForwardReuse, a worker's pairs of one batch row walk the
		// chunks together; each group's scores are computed once per
		// chunk for the heads the worker holds (a group split between two
		// workers is computed by both, with the same bits).
		for b := lo / H; b*H < hi; b++ {
			h0, h1 := max(lo-b*H, 0), min(hi-b*H, H)
			g0, g1 := h0/hpg, (h1-1)/hpg+1
			for k := 0; k < nc; k++ {
				for g := g0; g < g1; g++ {
					groupScores(d, b, g, k, Bm, Cm, w.cbg[g*qq:g*qq+qq], w.bBuf, w.cBuf)
				}
				lastChunk := k == nc-1
				for h := h0; h < h1; h++ {
					bh := b*H + h
					// st is the pair's carried state: final's row, or
					// scratch when final is not wanted.
					var st []float32
					switch {
					case final != nil:
						st = final[bh*pn : bh*pn+pn]
					case needCarry:
						st = w.carry[h*pn : h*pn+pn]
					}
					sIn := st
					if k == 0 {
						sIn = nil
						if init != nil {
							sIn = init[bh*pn : bh*pn+pn]
						}
					}
					sOut := st
					if lastChunk && final == nil {
						sOut = nil
					}
					g := h / hpg
					w.forwardChunk(w.cbg[g*qq:g*qq+qq], sIn, sOut, k == 0 && init == nil, b, h, k, y, x, dt, A, Bm, Cm)
				}
			}
		}
	})
	return c
}
