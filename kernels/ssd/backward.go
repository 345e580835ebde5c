package ssd

import (
	"fmt"

	"github.com/nanomamba-edge/harness/kernels"
)

// gradChunk extends the forward scratch with the buffers of the reverse pass.
type gradChunk struct {
	*chunk
	dy   []float64 // (Q×P) output gradient
	dX   []float64 // (Q×P) gradient of dt_s·x_s
	u    []float64 // (Q×P) dS_out·B_s
	dSg  []float64 // (Q×Q) gradient of the segment sums
	dCB  []float64 // (Q×Q) gradient of C_l·B_s
	dBc  []float64 // (Q×N) this head's gradient of B_s
	dCc  []float64 // (Q×N) this head's gradient of C_l
	v    []float64 // (Q×N) rows S_inᵀ·dy_l
	dS   []float64 // (P×N) gradient of the state leaving the chunk
	dSn  []float64 // (P×N) gradient of the state entering it
	run  []float64 // (Q) column suffix sums of dSg
	dOff []float64 // (Q) gradient of the log-decay of the state → output path
	da   []float64 // (Q) gradient of the log-decays a_s
	dST  []float64 // (N×P) dS transposed
	mT   []float64 // (Q×Q) m transposed
	xT   []float64 // (P×Q) dt_s·x_s transposed
	dCBT []float64 // (Q×Q) dCB transposed
	eDyT []float64 // (P×Q) exp(Acs_l)·dy_l transposed
}

func newGradChunk(d Dims) *gradChunk {
	q, p, n := d.Chunk, d.HeadDim, d.State
	return &gradChunk{
		chunk: newChunk(d),
		dy:    make([]float64, q*p),
		dX:    make([]float64, q*p),
		u:     make([]float64, q*p),
		dSg:   make([]float64, q*q),
		dCB:   make([]float64, q*q),
		dBc:   make([]float64, q*n),
		dCc:   make([]float64, q*n),
		v:     make([]float64, q*n),
		dS:    make([]float64, p*n),
		dSn:   make([]float64, p*n),
		run:   make([]float64, q),
		dOff:  make([]float64, q),
		da:    make([]float64, q),
		dST:   make([]float64, n*p),
		mT:    make([]float64, q*q),
		xT:    make([]float64, p*q),
		dCBT:  make([]float64, q*q),
		eDyT:  make([]float64, p*q),
	}
}

// Backward accumulates (+=) into dx, ddt, dA, dBm, dCm, and dInit if it is
// non-nil, the gradients of a loss with gradient dy for y and dFinal for the
// final state (dFinal may be nil: no gradient). c is the cache of the
// Forward call on the same inputs. dA is summed over batch and time per
// head; dBm and dCm over the heads of each group. The gradients are those of
// the chunked computation, exactly, evaluated in float64 from the cached
// chunk-boundary states; they do not depend on threads. Backward panics on
// bad shapes or a cache made for other Dims.
func Backward(threads int, d Dims, c *Cache, dy, dFinal, x, dt, A, Bm, Cm, dx, ddt, dA, dBm, dCm, dInit []float32) {
	const fn = "Backward"
	d.checkInputs(fn, x, dt, A, Bm, Cm)
	if c == nil || c.d != d {
		panic(fmt.Sprintf("ssd.%s: cache is nil or was made for other Dims (want %+v)", fn, d))
	}
	checkLen(fn, "dy", dy, d.xSize())
	checkLen(fn, "dx", dx, d.xSize())
	checkLen(fn, "ddt", ddt, d.dtSize())
	checkLen(fn, "dA", dA, d.Heads)
	checkLen(fn, "dBm", dBm, d.bcSize())
	checkLen(fn, "dCm", dCm, d.bcSize())
	if dFinal != nil {
		checkLen(fn, "dFinal", dFinal, d.stateSize())
	}
	if dInit != nil {
		checkLen(fn, "dInit", dInit, d.stateSize())
	}

	H, N, G, pn := d.Heads, d.State, d.Groups, d.HeadDim*d.State
	nc := d.Chunks()
	// Per-head gradients of B and C, and per-(batch, head) gradients of A,
	// reduced in a fixed order below.
	dBh := make([]float64, d.Batch*d.Len*H*N)
	dCh := make([]float64, d.Batch*d.Len*H*N)
	dAh := make([]float64, d.Batch*H)
	kernels.Parallel(threads, d.Batch*H, func(lo, hi int) {
		w := newGradChunk(d)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			clear(w.dS)
			if dFinal != nil {
				for i, v := range dFinal[bh*pn : bh*pn+pn] {
					w.dS[i] = float64(v)
				}
			}
			var gA float64
			for k := nc - 1; k >= 0; k-- {
				gA += w.backwardChunk(c, b, h, k, dy, x, dt, A, Bm, Cm, dx, ddt, dBh, dCh)
			}
			dAh[bh] = gA
			if dInit != nil {
				di := dInit[bh*pn : bh*pn+pn]
				for i, v := range w.dS {
					di[i] += float32(v)
				}
			}
		}
	})

	hpg := d.headsPerGroup()
	kernels.Parallel(threads, d.Batch*d.Len, func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			for g := 0; g < G; g++ {
				for n := 0; n < N; n++ {
					var sb, sc float64
					for h := g * hpg; h < (g+1)*hpg; h++ {
						sb += dBh[(bt*H+h)*N+n]
						sc += dCh[(bt*H+h)*N+n]
					}
					dBm[(bt*G+g)*N+n] += float32(sb)
					dCm[(bt*G+g)*N+n] += float32(sc)
				}
			}
		}
	})
	for h := 0; h < H; h++ {
		var s float64
		for b := 0; b < d.Batch; b++ {
			s += dAh[b*H+h]
		}
		dA[h] += float32(s)
	}
}

// backwardChunk runs the reverse of forwardChunk for chunk k of pair (b, h).
// On entry w.dS is the gradient of the state leaving the chunk; on return it
// is the gradient of the state entering it. It adds into dx and ddt, writes
// this head's B and C gradients into dBh, dCh and returns the chunk's
// contribution to the gradient of A.
func (w *gradChunk) backwardChunk(c *Cache, b, h, k int, dy, x, dt, A, Bm, Cm, dx, ddt []float32, dBh, dCh []float64) float64 {
	d := w.d
	Q, P, N, H := d.Chunk, d.HeadDim, d.State, d.Heads
	g := h / d.headsPerGroup()
	w.load(b, h, k, x, dt, A, Bm, Cm, c.scores(b, g, k))
	for i, v := range c.stateAt(b, k, h) {
		w.sIn[i] = float64(v)
	}
	q := w.q
	t0 := b*d.Len + k*Q
	for l := 0; l < q; l++ {
		i := ((t0+l)*H + h) * P
		for p := 0; p < P; p++ {
			w.dy[l*P+p] = float64(dy[i+p])
		}
	}
	last := w.dec[(q-1)*Q : (q-1)*Q+q]
	eEnd := w.eA[q-1]

	transpose(w.dST, P, w.dS, N, P, N)
	transpose(w.mT, Q, w.m, Q, q, q)
	transpose(w.xT, Q, w.xs, P, q, P)

	// u_s = dS_out·B_s.
	clear(w.u[:q*P])
	matMulRows(w.u, P, w.bs, N, q, N, w.dST, P, P)
	// dX_s = L[last,s]·u_s + Σ_{l≥s} M[l,s]·dy_l.
	for s := 0; s < q; s++ {
		acc := w.dX[s*P : s*P+P]
		for p := range acc {
			acc[p] = float64(last[s] * w.u[s*P+p])
		}
		rowMul(acc, w.mT[s*Q+s:s*Q+q], w.dy[s*P:], P)
	}
	// dM[l,s] = dy_l·X_s; M = CB∘L gives dCB = dM·L and, with L = exp(Sg),
	// dSg = dM·M. The chunk state adds X_s·u_s·L[last,s] to row last.
	for l := 0; l < q; l++ {
		dm := w.dSg[l*Q : l*Q+l+1]
		clear(dm)
		rowMul(dm, w.dy[l*P:l*P+P], w.xT, Q)
		for s, v := range dm {
			w.dCB[l*Q+s] = float64(v * w.dec[l*Q+s])
			dm[s] = float64(v * w.m[l*Q+s])
		}
	}
	for s := 0; s < q; s++ {
		w.dSg[(q-1)*Q+s] += float64(last[s] * dot(w.xs[s*P:s*P+P], w.u[s*P:s*P+P]))
	}
	transpose(w.dCBT, Q, w.dCB, Q, q, q)
	// dC_l = exp(Acs_l)·S_inᵀ·dy_l + Σ_{s≤l} dCB[l,s]·B_s, and the gradient
	// of the log-decay exp(Acs_l) of the state → output path.
	clear(w.v[:q*N])
	matMulRows(w.v, N, w.dy, P, q, P, w.sIn, N, N)
	for l := 0; l < q; l++ {
		e := w.eA[l]
		vl := w.v[l*N : l*N+N]
		dcl := w.dCc[l*N : l*N+N]
		for n, v := range vl {
			dcl[n] = float64(e * v)
		}
		rowMul(dcl, w.dCB[l*Q:l*Q+l+1], w.bs, N)
		w.dOff[l] = float64(e * dot(w.cs[l*N:l*N+N], vl))
	}
	// dB_s = L[last,s]·dS_outᵀ·X_s + Σ_{l≥s} dCB[l,s]·C_l.
	clear(w.dBc[:q*N])
	matMulRows(w.dBc, N, w.xs, P, q, P, w.dS, N, N)
	for s := 0; s < q; s++ {
		dbs := w.dBc[s*N : s*N+N]
		for n, v := range dbs {
			dbs[n] = float64(last[s] * v)
		}
		rowMul(dbs, w.dCBT[s*Q+s:s*Q+q], w.cs[s*N:], N)
	}
	// Gradient of the whole-chunk decay, then of the entering state:
	// dS_in = exp(Acs_last)·dS_out + Σ_l exp(Acs_l)·dy_l ⊗ C_l.
	dEnd := float64(eEnd * dot(w.dS, w.sIn))
	for i, v := range w.dS {
		w.dSn[i] = float64(eEnd * v)
	}
	for l := 0; l < q; l++ {
		e := w.eA[l]
		for p := 0; p < P; p++ {
			w.eDyT[p*Q+l] = float64(e * w.dy[l*P+p])
		}
	}
	matMulRows(w.dSn, N, w.eDyT, Q, P, q, w.cs, N, N)
	w.dS, w.dSn = w.dSn, w.dS

	// da_k = dEnd + Σ_{l≥k} dOff[l] + Σ_{l≥k} Σ_{s<k} dSg[l,s]: a_k lies in
	// every segment sum Sg[l,s] with s < k ≤ l.
	clear(w.run[:q])
	var offSuffix float64
	for kk := q - 1; kk >= 0; kk-- {
		row := w.dSg[kk*Q : kk*Q+kk]
		var rect float64
		for s, v := range row {
			w.run[s] += v
			rect += w.run[s]
		}
		offSuffix += w.dOff[kk]
		w.da[kk] = dEnd + offSuffix + rect
	}

	// Chain to the inputs: X_s = dt_s·x_s and a_s = dt_s·A.
	ah := float64(A[h])
	var gA float64
	for s := 0; s < q; s++ {
		t := t0 + s
		dts := float64(dt[t*H+h])
		i := (t*H + h) * P
		dXs := w.dX[s*P : s*P+P]
		var gdt float64
		for p, v := range dXs {
			gdt += float64(float64(x[i+p]) * v)
			dx[i+p] += float32(float64(dts * v))
		}
		ddt[t*H+h] += float32(gdt + float64(ah*w.da[s]))
		gA += float64(dts * w.da[s])
		j := (t*H + h) * N
		copy(dBh[j:j+N], w.dBc[s*N:s*N+N])
		copy(dCh[j:j+N], w.dCc[s*N:s*N+N])
	}
	return gA
}
