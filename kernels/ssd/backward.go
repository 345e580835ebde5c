package ssd

import (
	"fmt"
	"sync"

	"github.com/nanomamba-edge/harness/kernels"
)

// gradChunk extends the forward scratch with the buffers of the reverse pass.
type gradChunk struct {
	*chunk
	dy   []float32 // (q×P) output gradient
	dX   []float32 // (q×P) gradient of X = dt_s·x_s
	u    []float32 // (q×P) B_s·dS_outᵀ
	eDy  []float32 // (q×P) exp(Acs_l)·dy_l
	dM   []float32 // (q×q) dy_l·X_s
	dCB  []float32 // (q×q) gradient of C_l·B_s (zero above the diagonal)
	dSg  []float64 // (Q×Q) gradient of the segment sums (row stride Q)
	v    []float32 // (q×N) dy_l·S_in
	dS   []float32 // (P×N) gradient of the state leaving the chunk
	dSn  []float32 // (P×N) gradient of the state entering it
	run  []float64 // (Q) column suffix sums of dSg
	dOff []float64 // (Q) gradient of the log-decay of the state → output path
	da   []float64 // (Q) gradient of the log-decays a_s
}

func newGradChunk(d Dims) *gradChunk {
	q, p, n := d.Chunk, d.HeadDim, d.State
	f := func(k int) []float32 { return make([]float32, k) }
	return &gradChunk{
		chunk: newChunk(d),
		dy:    f(q * p), dX: f(q * p), u: f(q * p), eDy: f(q * p),
		dM: f(q * q), dCB: f(q * q), dSg: make([]float64, q*q),
		v:  f(q * n),
		dS: f(p * n), dSn: f(p * n),
		run: make([]float64, q), dOff: make([]float64, q), da: make([]float64, q),
	}
}

// gradChunks recycles the per-worker scratch of Backward.
var gradChunks sync.Pool

func getGradChunk(d Dims) *gradChunk {
	if w, ok := gradChunks.Get().(*gradChunk); ok && w.d == d {
		return w
	}
	return newGradChunk(d)
}

// headGrads are the B and C gradients of each (batch row, head) pair of one
// wave of batch rows, (rows, Heads, Len, State) each, kept apart so that
// the heads can run in parallel and be summed afterwards in head order.
type headGrads struct {
	b, c []float32
}

var headGradPool sync.Pool

func getHeadGrads(n int) *headGrads {
	if hg, ok := headGradPool.Get().(*headGrads); ok && len(hg.b) >= n {
		return hg
	}
	return &headGrads{b: make([]float32, n), c: make([]float32, n)}
}

// Backward accumulates (+=) into dx, ddt, dA, dBm, dCm, and dInit if it is
// non-nil, the gradients of a loss with gradient dy for y and dFinal for the
// final state (dFinal may be nil: no gradient). c is the cache of the
// Forward call on the same inputs. dA is summed over batch and time per
// head; dBm and dCm over the heads of each group. The gradients are those of
// the chunked computation, evaluated with the same float32 GEMM rule from
// the cached chunk-boundary states; they do not depend on threads. Backward
// panics on bad shapes or a cache made for other Dims.
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
	if threads < 1 {
		threads = 1
	}

	H, N, G, T, pn := d.Heads, d.State, d.Groups, d.Len, d.HeadDim*d.State
	nc, hpg := d.Chunks(), d.headsPerGroup()
	ln := T * N
	// Batch rows run in waves of enough rows to give every thread a head.
	// Within a wave the (row, head) pairs run in parallel, each writing its
	// own B and C gradients; then, in parallel over time steps, every
	// element of a group's B and C gradient is summed in float64 over the
	// group's heads in ascending order and added to dBm, dCm. The
	// per-(row, head) gradients of A are reduced at the end.
	wave := min(d.Batch, (threads+H-1)/H)
	hg := getHeadGrads(wave * H * ln)
	defer headGradPool.Put(hg)
	dAh := make([]float64, d.Batch*H)
	for b0 := 0; b0 < d.Batch; b0 += wave {
		rows := min(wave, d.Batch-b0)
		kernels.Parallel(threads, rows*H, func(lo, hi int) {
			w := getGradChunk(d)
			defer gradChunks.Put(w)
			for i := lo; i < hi; i++ {
				b, h := b0+i/H, i%H
				bh := b*H + h
				if dFinal != nil {
					copy(w.dS, dFinal[bh*pn:bh*pn+pn])
				} else {
					clear(w.dS)
				}
				dBh, dCh := hg.b[i*ln:(i+1)*ln], hg.c[i*ln:(i+1)*ln]
				var gA float64
				for k := nc - 1; k >= 0; k-- {
					gA += w.backwardChunk(c, b, h, k, dy, x, dt, A, Bm, Cm, dx, ddt, dBh, dCh)
				}
				dAh[bh] = gA
				if dInit != nil {
					di := dInit[bh*pn : bh*pn+pn]
					for j, v := range w.dS {
						di[j] += v
					}
				}
			}
		})
		kernels.Parallel(threads, rows*T, func(lo, hi int) {
			acc := make([]float64, N)
			for r := lo; r < hi; r++ {
				bi, t := r/T, r%T
				for g := 0; g < G; g++ {
					j := (((b0+bi)*T+t)*G + g) * N
					off := (bi*H+g*hpg)*ln + t*N
					sumHeads(dBm[j:j+N], hg.b, off, hpg, ln, acc)
					sumHeads(dCm[j:j+N], hg.c, off, hpg, ln, acc)
				}
			}
		})
	}
	for h := 0; h < H; h++ {
		var s float64
		for b := 0; b < d.Batch; b++ {
			s += dAh[b*H+h]
		}
		dA[h] += float32(s)
	}
}

// sumHeads adds to out[n] the float64 sum, rounded once to float32, of
// src[off+h·stride+n] over h < heads, summed from +0 in ascending h. acc is
// scratch of len(out).
func sumHeads(out, src []float32, off, heads, stride int, acc []float64) {
	n := len(out)
	acc = acc[:n]
	clear(acc)
	for h := 0; h < heads; h++ {
		row := src[off+h*stride : off+h*stride+n]
		for i, v := range row {
			acc[i] += float64(v)
		}
	}
	for i, v := range acc {
		out[i] += float32(v)
	}
}

// backwardChunk runs the reverse of forwardChunk for chunk k of pair (b, h).
// On entry w.dS is the gradient of the state leaving the chunk; on return it
// is the gradient of the state entering it. It adds into dx and ddt, adds
// writes this head's B and C gradients of the chunk's time steps into rows
// k·Q.. of dBh and dCh (Len×State) and returns the chunk's contribution to
// the gradient of A.
func (w *gradChunk) backwardChunk(c *Cache, b, h, k int, dy, x, dt, A, Bm, Cm, dx, ddt, dBh, dCh []float32) float64 {
	d := w.d
	Q, P, N, H := d.Chunk, d.HeadDim, d.State, d.Heads
	g := h / d.headsPerGroup()
	w.load(b, h, k, x, dt, A, Bm, Cm, c.scores(b, g, k))
	sIn := c.stateAt(b, k, h)
	q := w.q
	t0 := b*d.Len + k*Q
	for l := 0; l < q; l++ {
		i := ((t0+l)*H + h) * P
		copy(w.dy[l*P:l*P+P], dy[i:i+P])
	}
	last := w.dec[(q-1)*q : q*q]
	eEnd := w.eA[q-1]
	xs, bs, cs, dyc := w.xs[:q*P], w.bs[:q*N], w.cs[:q*N], w.dy[:q*P]
	m, dec := w.m[:q*q], w.dec[:q*q]

	// u = B·dS_outᵀ; dX = diag(L[last,:])·u + Mᵀ·dy.
	u, dX := w.u[:q*P], w.dX[:q*P]
	kernels.MatMulNT(1, u, bs, w.dS, q, N, P, false)
	for s := 0; s < q; s++ {
		ls := last[s]
		for p, v := range u[s*P : s*P+P] {
			dX[s*P+p] = ls * v
		}
	}
	kernels.MatMulTN(1, dX, m, dyc, q, q, P, true)
	// dM = dy·Xᵀ; M = CB∘L gives dCB = dM∘L and, with L = exp(Sg),
	// dSg = dM∘M. The chunk state adds X_s·u_s·L[last,s] to row last.
	dM, dCB := w.dM[:q*q], w.dCB[:q*q]
	kernels.MatMulNT(1, dM, dyc, xs, q, P, q, false)
	for l := 0; l < q; l++ {
		for s := 0; s <= l; s++ {
			i := l*q + s
			dCB[i] = dM[i] * dec[i]
			w.dSg[l*Q+s] = float64(float64(dM[i]) * float64(m[i]))
		}
		clear(dCB[l*q+l+1 : l*q+q])
	}
	for s := 0; s < q; s++ {
		w.dSg[(q-1)*Q+s] += float64(float64(last[s]) * dot(xs[s*P:s*P+P], u[s*P:s*P+P]))
	}
	// dC = diag(eA)·(dy·S_in) + dCB·B, and the gradient of the log-decay
	// exp(Acs_l) of the state → output path.
	v, dCc := w.v[:q*N], dCh[k*Q*N:(k*Q+q)*N]
	kernels.MatMul(1, v, dyc, sIn, q, P, N, false)
	for l := 0; l < q; l++ {
		e := w.eA[l]
		vl := v[l*N : l*N+N]
		for n, vv := range vl {
			dCc[l*N+n] = e * vv
		}
		w.dOff[l] = float64(float64(e) * dot(cs[l*N:l*N+N], vl))
	}
	kernels.MatMul(1, dCc, dCB, bs, q, q, N, true)
	// dB = diag(L[last,:])·(X·dS_out) + dCBᵀ·C.
	dBc := dBh[k*Q*N : (k*Q+q)*N]
	kernels.MatMul(1, dBc, xs, w.dS, q, P, N, false)
	for s := 0; s < q; s++ {
		ls := last[s]
		row := dBc[s*N : s*N+N]
		for n, vv := range row {
			row[n] = ls * vv
		}
	}
	kernels.MatMulTN(1, dBc, dCB, cs, q, q, N, true)
	// Gradient of the whole-chunk decay, then of the entering state:
	// dS_in = exp(Acs_last)·dS_out + (diag(eA)·dy)ᵀ·C.
	dEnd := float64(float64(eEnd) * dot(w.dS, sIn))
	for i, vv := range w.dS {
		w.dSn[i] = eEnd * vv
	}
	eDy := w.eDy[:q*P]
	for l := 0; l < q; l++ {
		e := w.eA[l]
		for p, vv := range dyc[l*P : l*P+P] {
			eDy[l*P+p] = e * vv
		}
	}
	kernels.MatMulTN(1, w.dSn, eDy, cs, P, q, N, true)
	w.dS, w.dSn = w.dSn, w.dS

	// da_k = dEnd + Σ_{l≥k} dOff[l] + Σ_{l≥k} Σ_{s<k} dSg[l,s]: a_k lies in
	// every segment sum Sg[l,s] with s < k ≤ l.
	clear(w.run[:q])
	var offSuffix float64
	for kk := q - 1; kk >= 0; kk-- {
		row := w.dSg[kk*Q : kk*Q+kk]
		var rect float64
		for s, vv := range row {
			w.run[s] += vv
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
		dts := dt[t*H+h]
		i := (t*H + h) * P
		dXs := dX[s*P : s*P+P]
		xr := x[i : i+P]
		dxr := dx[i : i+P]
		var gdt float64
		for p, vv := range dXs {
			gdt += float64(float64(xr[p]) * float64(vv))
			dxr[p] += dts * vv
		}
		ddt[t*H+h] += float32(gdt + float64(ah*w.da[s]))
		gA += float64(float64(dts) * w.da[s])
	}
	return gA
}
