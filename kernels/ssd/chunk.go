package ssd

import (
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// chunk is the per-worker scratch for one (batch, head) pair's chunks. The
// matrices of the current chunk (length q ≤ Q) are stored densely with row
// length q, P or N, so that they can be passed to the kernels GEMMs; the
// q×q ones are lower triangular with explicit zeros above the diagonal.
type chunk struct {
	d   Dims
	q   int       // length of the current chunk
	a   []float64 // (Q) log-decays dt_s·A
	row []float64 // (Q) one row of the decay matrix in float64
	dec []float32 // (q×q) L[l,s] = exp(Σ_{k=s+1..l} a_k), s ≤ l
	eA  []float32 // (q) exp(Σ_{k≤l} a_k)
	m   []float32 // (q×q) (C_l·B_s)·L[l,s]
	xs  []float32 // (q×P) dt_s·x_s
	bs  []float32 // (q×N) B_s: a view of Bm when Groups = 1, else of bBuf
	cs  []float32 // (q×N) C_l: a view of Cm when Groups = 1, else of cBuf
	// bBuf, cBuf hold the chunk's rows of B and C when they are not
	// contiguous in Bm, Cm (Groups > 1).
	bBuf, cBuf []float32
	wx         []float32 // (q×P) L[last,s]·dt_s·x_s
	yc         []float32 // (q×P) the chunk's output
	// Scratch of ForwardInference, allocated on first use: the scores of
	// the current chunk of every group (Groups·Chunk·Chunk), the states the
	// worker carries between chunks (Heads·HeadDim·State), and a zero state
	// (HeadDim·State).
	cbg, carry, zero []float32
}

func newChunk(d Dims) *chunk {
	q, p, n := d.Chunk, d.HeadDim, d.State
	f := func(k int) []float32 { return make([]float32, k) }
	return &chunk{
		d:   d,
		a:   make([]float64, q),
		row: make([]float64, q),
		dec: f(q * q), eA: f(q), m: f(q * q),
		xs: f(q * p), bBuf: f(q * n), cBuf: f(q * n), wx: f(q * p), yc: f(q * p),
	}
}

// load reads chunk c of pair (b, h): the scaled inputs, B, C, the decays and
// the masked score matrix m = (C·Bᵀ) ∘ L, with cb the chunk's q×q C·Bᵀ.
func (w *chunk) load(b, h, c int, x, dt, A, Bm, Cm []float32, cb []float32) {
	w.loadInputs(b, h, c, x, dt, A, Bm, Cm)
	w.decays(cb)
}

func (w *chunk) loadInputs(b, h, c int, x, dt, A, Bm, Cm []float32) {
	d := w.d
	Q, P, H := d.Chunk, d.HeadDim, d.Heads
	g := h / d.headsPerGroup()
	t0 := c * Q
	w.q = min(Q, d.Len-t0)
	ah := float64(A[h])
	for s := 0; s < w.q; s++ {
		t := b*d.Len + t0 + s
		dts := dt[t*H+h]
		w.a[s] = float64(float64(dts) * ah)
		xr := x[(t*H+h)*P : (t*H+h)*P+P]
		vec.Scale(w.xs[s*P:s*P+len(xr)], xr, dts)
	}
	w.bs, w.cs = groupRows(d, b, g, c, Bm, Cm, w.bBuf, w.cBuf)
}

// decays fills dec and eA from a, and m = cb∘dec over the whole q×q square
// (the entries above the diagonal are cb·0). With e_k = exp(a_k), row l of
// L is row l−1 times e_l (and L[l,l] = 1), computed in float64 and rounded
// once to float32; a product of factors in (0, 1] never cancels, so every
// entry keeps a relative error of a few float64 ulps.
func (w *chunk) decays(cb []float32) {
	q := w.q
	row := w.row[:q]
	prevA := 1.0 // exp(Σ_{k<l} a_k)
	for l := 0; l < q; l++ {
		e := kernels.Exp(w.a[l])
		prevA = float64(prevA * e)
		w.eA[l] = float32(prevA)
		out, mr, cr := w.dec[l*q:l*q+q], w.m[l*q:l*q+q], cb[l*q:l*q+q]
		// Row l of L: the earlier entries times e_l, then 1 on the diagonal.
		ro, oo, mo, co := row[:l], out[:l], mr[:l], cr[:l]
		for s, v := range ro {
			v = float64(v * e)
			ro[s] = v
			f := float32(v)
			oo[s] = f
			mo[s] = co[s] * f
		}
		row[l] = 1
		out[l] = 1
		mr[l] = cr[l] * 1
		ou, mu, cu := out[l+1:], mr[l+1:], cr[l+1:]
		for s := range ou {
			ou[s] = 0
			mu[s] = cu[s] * ou[s]
		}
	}
}

// groupRows returns chunk c's rows of B and C of (batch b, group g) as
// dense q×N matrices: views of Bm and Cm when Groups = 1 (the rows are then
// contiguous), else copies in bBuf, cBuf (Chunk×State scratch).
func groupRows(d Dims, b, g, c int, Bm, Cm []float32, bBuf, cBuf []float32) (bs, cs []float32) {
	Q, N, G := d.Chunk, d.State, d.Groups
	t0 := c * Q
	q := min(Q, d.Len-t0)
	if G == 1 {
		i := (b*d.Len + t0) * N
		return Bm[i : i+q*N : i+q*N], Cm[i : i+q*N : i+q*N]
	}
	for s := 0; s < q; s++ {
		i := ((b*d.Len+t0+s)*G + g) * N
		copy(bBuf[s*N:s*N+N], Bm[i:i+N])
		copy(cBuf[s*N:s*N+N], Cm[i:i+N])
	}
	return bBuf[:q*N], cBuf[:q*N]
}

// groupScores computes the q×q matrix C·Bᵀ of chunk c of (batch b, group g)
// into cb (the full square; only s ≤ l is used), with bBuf, cBuf scratch of
// Chunk×State.
func groupScores(d Dims, b, g, c int, Bm, Cm []float32, cb []float32, bBuf, cBuf []float32) {
	q := min(d.Chunk, d.Len-c*d.Chunk)
	bs, cs := groupRows(d, b, g, c, Bm, Cm, bBuf, cBuf)
	kernels.MatMulNT(1, cb, cs, bs, q, d.State, q, false)
}
