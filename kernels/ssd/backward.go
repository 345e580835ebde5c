package ssd

import (
	"fmt"
	"sync"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
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
	run  []float64 // (Q) column suffix sums of dSg
	dOff []float64 // (Q) gradient of the log-decay of the state → output path
	da   []float64 // (Q) gradient of the log-decays a_s
}

func newGradChunk(d Dims) *gradChunk {
	q, p := d.Chunk, d.HeadDim
	f := func(k int) []float32 { return make([]float32, k) }
	return &gradChunk{
		chunk: newChunk(d),
		dy:    f(q * p), dX: f(q * p), u: f(q * p), eDy: f(q * p),
		dM: f(q * q), dCB: f(q * q), dSg: make([]float64, q*q),
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

// gradState is Backward's memory shared by its workers: for every (batch
// row, head) pair, the state gradient at the current chunk boundary
// (updated in place from the chunk's end to its start), and the pair's B
// and C gradients of the current chunk.
type gradState struct {
	dS    []float32 // (Batch·Heads, HeadDim·State)
	dB    []float32 // (Batch·Heads) rows of Chunk·State, padded
	dC    []float32 // (Batch·Heads) rows of Chunk·State, padded
	gA    []float64 // (Batch·Heads) per-pair gradient of A
	sizes [2]int
}

var gradStates sync.Pool

func getGradState(pairs, pn, qn int) *gradState {
	s, ok := gradStates.Get().(*gradState)
	if !ok || s.sizes != [2]int{pairs * pn, pairs * qn} || len(s.gA) != pairs {
		s = &gradState{
			dS:    make([]float32, pairs*pn),
			dB:    make([]float32, pairs*qn),
			dC:    make([]float32, pairs*qn),
			gA:    make([]float64, pairs),
			sizes: [2]int{pairs * pn, pairs * qn},
		}
	}
	return s
}

// Backward accumulates (+=) into dx, ddt, dA, dBm, dCm, and dInit if it is
// non-nil, the gradients of a loss with gradient dy for y and dFinal for the
// final state (dFinal may be nil: no gradient). c is the cache of the
// Forward call on the same inputs. dA is summed over batch and time per
// head; dBm and dCm over the heads of each group. The gradients are those of
// the chunked computation, evaluated with the same float32 GEMM rule from
// the cached chunk-boundary states; they do not depend on threads. Backward
// panics on bad shapes, a cache made for other Dims, or a cache made by
// ForwardInference.
func Backward(threads int, d Dims, c *Cache, dy, dFinal, x, dt, A, Bm, Cm, dx, ddt, dA, dBm, dCm, dInit []float32) {
	const fn = "Backward"
	d.checkInputs(fn, x, dt, A, Bm, Cm)
	if c == nil || c.d != d {
		panic(fmt.Sprintf("ssd.%s: cache is nil or was made for other Dims (want %+v)", fn, d))
	}
	if c.inference {
		panic(fmt.Sprintf("ssd.%s: cache was made by ForwardInference, which keeps no chunk-boundary states: use Forward or ForwardReuse before Backward", fn))
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

	H, N, G, Q, pn := d.Heads, d.State, d.Groups, d.Chunk, d.HeadDim*d.State
	nc, hpg := d.Chunks(), d.headsPerGroup()
	// A pair's chunk gradients of B and C are qn apart: Q·N rounded up to
	// whole cache lines plus one, so that the group's heads, read together
	// by the head sums, do not fall in the same cache set.
	pairs, qn := d.Batch*H, (Q*N+15)/16*16+16
	st := getGradState(pairs, pn, qn)
	defer gradStates.Put(st)
	// Each pair's state gradient starts from dFinal or +0, set by the worker
	// that runs the pair's last chunk (in parallel rather than before).
	startState := func(k, bh int) {
		if k != nc-1 {
			return
		}
		if dFinal != nil {
			copy(st.dS[bh*pn:bh*pn+pn], dFinal[bh*pn:bh*pn+pn])
		} else {
			clear(st.dS[bh*pn : bh*pn+pn])
		}
	}
	clear(st.gA)
	// The chunks run from the last to the first. At each chunk the (batch
	// row, head) pairs run in parallel, each carrying its own state
	// gradient and writing its own B and C gradients of the chunk; then, in
	// parallel over the chunk's time steps, every element of a group's B
	// and C gradient is summed in float64 over the group's heads in
	// ascending order and added to dBm, dCm. The per-pair gradients of A
	// are summed over the chunks in the same descending order and reduced
	// over batch rows at the end.
	// With whole batch rows per thread, each worker sums the heads of its
	// own rows right after their chunk, in the same parallel region.
	byBatch := threads > 1 && d.Batch%threads == 0
	for k := nc - 1; k >= 0; k-- {
		q := min(Q, d.Len-k*Q)
		heads := func(r int) {
			b, s := r/q, r%q
			for g := 0; g < G; g++ {
				j := ((b*d.Len+k*Q+s)*G + g) * N
				off := (b*H+g*hpg)*qn + s*N
				sumHeads(dBm[j:j+N], st.dB, off, hpg, qn)
				sumHeads(dCm[j:j+N], st.dC, off, hpg, qn)
			}
		}
		if byBatch {
			kernels.Parallel(threads, d.Batch, func(lo, hi int) {
				w := getGradChunk(d)
				defer gradChunks.Put(w)
				for bh := lo * H; bh < hi*H; bh++ {
					b, h := bh/H, bh%H
					if h == 0 {
						// The chunk's rows of the next batch row, read by
						// its heads after this row's.
						prefetchChunk(d, min(b+1, hi-1), k, dy, x, dx)
						if b == lo {
							prefetchChunk(d, b, k, dy, x, dx)
						}
					}
					startState(k, bh)
					st.gA[bh] += w.backwardChunk(c, b, h, k, st.dS[bh*pn:bh*pn+pn],
						dy, x, dt, A, Bm, Cm, dx, ddt, st.dB[bh*qn:bh*qn+Q*N], st.dC[bh*qn:bh*qn+Q*N])
				}
				for r := lo * q; r < hi*q; r++ {
					heads(r)
				}
			})
			continue
		}
		kernels.Parallel(threads, pairs, func(lo, hi int) {
			w := getGradChunk(d)
			defer gradChunks.Put(w)
			for bh := lo; bh < hi; bh++ {
				b, h := bh/H, bh%H
				startState(k, bh)
				st.gA[bh] += w.backwardChunk(c, b, h, k, st.dS[bh*pn:bh*pn+pn],
					dy, x, dt, A, Bm, Cm, dx, ddt, st.dB[bh*qn:bh*qn+Q*N], st.dC[bh*qn:bh*qn+Q*N])
			}
		})
		kernels.Parallel(threads, d.Batch*q, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				heads(r)
			}
		})
	}
	if dInit != nil {
		for i, v := range st.dS {
			dInit[i] += v
		}
	}
	for h := 0; h < H; h++ {
		var s float64
		for b := 0; b < d.Batch; b++ {
			s += st.gA[b*H+h]
		}
		dA[h] += float32(s)
	}
}

// prefetchChunk prefetches chunk k's rows (all heads) of batch row b of
// the arrays given (each Batch·Len rows of Heads·HeadDim).
func prefetchChunk(d Dims, b, k int, arrays ...[]float32) {
	w := d.Heads * d.HeadDim
	t0 := b*d.Len + k*d.Chunk
	t1 := b*d.Len + min((k+1)*d.Chunk, d.Len)
	for _, a := range arrays {
		vec.Prefetch(a[t0*w : t1*w])
	}
}

// sumHeads adds to out[n] the float64 sum, rounded once to float32, of
// src[off+h·stride+n] over h < heads, summed from +0 in ascending h. The
// columns are processed eight at a time with the sums in registers.
func sumHeads(out, src []float32, off, heads, stride int) {
	n := len(out)
	if heads == 0 || n == 0 {
		return
	}
	src = src[off : off+(heads-1)*stride+n]
	j := 0
	for ; j+8 <= n; j += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float64
		for o := j; o < len(src); o += stride {
			r := src[o : o+8 : o+8]
			s0 += float64(r[0])
			s1 += float64(r[1])
			s2 += float64(r[2])
			s3 += float64(r[3])
			s4 += float64(r[4])
			s5 += float64(r[5])
			s6 += float64(r[6])
			s7 += float64(r[7])
		}
		c := out[j : j+8 : j+8]
		c[0] += float32(s0)
		c[1] += float32(s1)
		c[2] += float32(s2)
		c[3] += float32(s3)
		c[4] += float32(s4)
		c[5] += float32(s5)
		c[6] += float32(s6)
		c[7] += float32(s7)
	}
	for ; j < n; j++ {
		var s0 float64
		for o := j; o < len(src); o += stride {
			s0 += float64(src[o])
		}
		out[j] += float32(s0)
	}
}

// backwardChunk runs the reverse of forwardChunk for chunk k of pair (b, h).
// On entry dS is the gradient of the state leaving the chunk; on return it
// is the gradient of the state entering it (every use of the first comes
// before the second is written). It adds into dx and ddt, writes this
// head's B and C gradients of the chunk's q time steps into dBc and dCc
// (q×State) and returns the chunk's contribution to the gradient of A.
func (w *gradChunk) backwardChunk(c *Cache, b, h, k int, dS, dy, x, dt, A, Bm, Cm, dx, ddt, dBc, dCc []float32) float64 {
	d := w.d
	Q, P, N, H := d.Chunk, d.HeadDim, d.State, d.Heads
	g := h / d.headsPerGroup()
	w.load(b, h, k, x, dt, A, Bm, Cm, c.scores(b, g, k))
	sIn := c.stateAt(b, k, h)
	q := w.q
	t0 := b*d.Len + k*Q
	// The chunk's output gradient, and its rows scaled by exp(Acs_l).
	eDy := w.eDy[:q*P]
	for l := 0; l < q; l++ {
		i := ((t0+l)*H + h) * P
		src := dy[i : i+P]
		copy(w.dy[l*P:l*P+P], src)
		vec.Scale(eDy[l*P:l*P+P], src, w.eA[l])
	}
	last := w.dec[(q-1)*q : q*q]
	eEnd := w.eA[q-1]
	xs, bs, cs, dyc := w.xs[:q*P], w.bs, w.cs, w.dy[:q*P]
	m, dec := w.m[:q*q], w.dec[:q*q]

	// u = B·dS_outᵀ; dX = diag(L[last,:])·u + Mᵀ·dy.
	u, dX := w.u[:q*P], w.dX[:q*P]
	kernels.MatMulNT(1, u, bs, dS, q, N, P, false)
	for s := 0; s < q; s++ {
		vec.Scale(dX[s*P:s*P+P], u[s*P:s*P+P], last[s])
	}
	mulTN(dX, m, dyc, q, q, P, true)
	// dM = dy·Xᵀ; M = CB∘L gives dCB = dM∘L and, with L = exp(Sg),
	// dSg = dM∘M. The chunk state adds X_s·u_s·L[last,s] to row last.
	dM, dCB := w.dM[:q*q], w.dCB[:q*q]
	kernels.MatMulNT(1, dM, dyc, xs, q, P, q, false)
	for l := 0; l < q; l++ {
		dMr, decr, mr := dM[l*q:l*q+l+1], dec[l*q:l*q+l+1], m[l*q:l*q+l+1]
		dCBr, sgr := dCB[l*q:l*q+l+1], w.dSg[l*Q:l*Q+l+1]
		vec.Mul(dCBr, dMr, decr)
		for s, v := range dMr {
			sgr[s] = float64(float64(v) * float64(mr[s]))
		}
		clear(dCB[l*q+l+1 : l*q+q])
	}
	lastSg := w.dSg[(q-1)*Q : (q-1)*Q+q]
	for s := 0; s < q; s += 2 {
		if s+1 == q {
			lastSg[s] += float64(float64(last[s]) * dot(xs[s*P:s*P+P], u[s*P:s*P+P]))
			break
		}
		d0, d1 := dot2(xs[s*P:s*P+P], u[s*P:s*P+P], xs[(s+1)*P:(s+2)*P], u[(s+1)*P:(s+2)*P])
		lastSg[s] += float64(float64(last[s]) * d0)
		lastSg[s+1] += float64(float64(last[s+1]) * d1)
	}
	// dC = diag(eA)·(dy·S_in) + dCB·B, and the gradient of the log-decay
	// exp(Acs_l) of the state → output path.
	dBc, dCc = dBc[:q*N], dCc[:q*N]
	mulNN(dCc, dyc, sIn, q, P, N, false)
	for l := 0; l < q; l += 2 {
		if l+1 == q {
			w.dOff[l] = float64(float64(w.eA[l]) * dot(cs[l*N:l*N+N], dCc[l*N:l*N+N]))
		} else {
			d0, d1 := dot2(cs[l*N:l*N+N], dCc[l*N:l*N+N], cs[(l+1)*N:(l+2)*N], dCc[(l+1)*N:(l+2)*N])
			w.dOff[l] = float64(float64(w.eA[l]) * d0)
			w.dOff[l+1] = float64(float64(w.eA[l+1]) * d1)
		}
	}
	for l := 0; l < q; l++ {
		vl := dCc[l*N : l*N+N]
		vec.Scale(vl, vl, w.eA[l])
	}
	mulNN(dCc, dCB, bs, q, q, N, true)
	// dB = diag(L[last,:])·(X·dS_out) + dCBᵀ·C.
	mulNN(dBc, xs, dS, q, P, N, false)
	for s := 0; s < q; s++ {
		row := dBc[s*N : s*N+N]
		vec.Scale(row, row, last[s])
	}
	mulTN(dBc, dCB, cs, q, q, N, true)
	// Gradient of the whole-chunk decay, then of the entering state:
	// dS_in = exp(Acs_last)·dS_out + (diag(eA)·dy)ᵀ·C.
	dEnd := float64(float64(eEnd) * dot(dS, sIn))
	vec.Scale(dS, dS, eEnd)
	mulTN(dS, eDy, cs, P, q, N, true)

	// da_k = dEnd + Σ_{l≥k} dOff[l] + Σ_{l≥k} Σ_{s<k} dSg[l,s]: a_k lies in
	// every segment sum Sg[l,s] with s < k ≤ l.
	// Rows kk and kk−1 are taken together: two independent chains.
	run := w.run[:q]
	clear(run)
	var offSuffix float64
	kk := q - 1
	for ; kk >= 1; kk -= 2 {
		r1, r0 := w.dSg[kk*Q:kk*Q+kk], w.dSg[(kk-1)*Q:(kk-1)*Q+kk-1]
		var rect1, rect0 float64
		for s, v0 := range r0 {
			a := float64(run[s] + r1[s])
			rect1 += a
			a = float64(a + v0)
			rect0 += a
			run[s] = a
		}
		run[kk-1] += r1[kk-1]
		rect1 += run[kk-1]
		offSuffix += w.dOff[kk]
		w.da[kk] = dEnd + offSuffix + rect1
		offSuffix += w.dOff[kk-1]
		w.da[kk-1] = dEnd + offSuffix + rect0
	}
	if kk == 0 {
		var rect float64 // row 0 has no terms: the sum stays +0
		offSuffix += w.dOff[0]
		w.da[0] = dEnd + offSuffix + rect
	}

	// Chain to the inputs: X_s = dt_s·x_s and a_s = dt_s·A.
	ah := float64(A[h])
	var gA float64
	s := 0
	// Eight steps at a time, then two, then one: the same values in every
	// form (each step's sum is its own chain; gA adds the steps in order).
	var dts8 [8]float32
	var g8 [8]float64
	for ; s+8 <= q; s += 8 {
		t := t0 + s
		for j := range dts8 {
			dts8[j] = dt[(t+j)*H+h]
		}
		i := (t*H + h) * P
		inputGrads8(&dts8, x[i:], H*P, dX[s*P:], P, dx[i:], P, &g8)
		for j, gdt := range g8 {
			ddt[(t+j)*H+h] += float32(gdt + float64(ah*w.da[s+j]))
			gA += float64(float64(dts8[j]) * w.da[s+j])
		}
	}
	for ; s+2 <= q; s += 2 {
		t := t0 + s
		i0, i1 := (t*H+h)*P, ((t+1)*H+h)*P
		dts0, dts1 := dt[t*H+h], dt[(t+1)*H+h]
		gdt0, gdt1 := inputGrads2(dts0, dts1, x[i0:i0+P], x[i1:i1+P], dX[s*P:s*P+P], dX[(s+1)*P:(s+1)*P+P], dx[i0:i0+P], dx[i1:i1+P])
		ddt[t*H+h] += float32(gdt0 + float64(ah*w.da[s]))
		gA += float64(float64(dts0) * w.da[s])
		ddt[(t+1)*H+h] += float32(gdt1 + float64(ah*w.da[s+1]))
		gA += float64(float64(dts1) * w.da[s+1])
	}
	if s < q {
		t := t0 + s
		i := (t*H + h) * P
		dts := dt[t*H+h]
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

// inputGrads2Go runs the chain to the inputs of two time steps at once: for
// each step it adds float32(dt·dX) to dx and returns Σ_p x_p·dX_p summed in
// float64 in ascending p from +0. The two sums are independent chains,
// interleaved to overlap their latencies.
func inputGrads2Go(dts0, dts1 float32, x0, x1, dX0, dX1, dx0, dx1 []float32) (float64, float64) {
	n := len(dX0)
	x0, x1, dX1, dx0, dx1 = x0[:n], x1[:n], dX1[:n], dx0[:n], dx1[:n]
	var g0, g1 float64
	for p, v0 := range dX0 {
		v1 := dX1[p]
		g0 += float64(float64(x0[p]) * float64(v0))
		g1 += float64(float64(x1[p]) * float64(v1))
		dx0[p] += float32(dts0 * v0)
		dx1[p] += float32(dts1 * v1)
	}
	return g0, g1
}
