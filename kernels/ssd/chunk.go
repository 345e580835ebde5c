package ssd

import "github.com/nanomamba-edge/harness/kernels"

// chunk is the per-worker scratch for one (batch, head) pair's chunks. All
// matrices have the full chunk stride Q even when the chunk is shorter.
type chunk struct {
	d    Dims
	q    int       // length of the current chunk
	a    []float64 // (Q) log-decays dt_s·A
	dec  []float64 // (Q×Q) L[l,s] = exp(Σ_{k=s+1..l} a_k), s ≤ l
	eA   []float64 // (Q) exp(Σ_{k≤l} a_k)
	m    []float64 // (Q×Q) (C_l·B_s)·L[l,s]
	xs   []float64 // (Q×P) dt_s·x_s
	bs   []float64 // (Q×N) B_s
	cs   []float64 // (Q×N) C_l
	sIn  []float64 // (P×N) state entering the chunk
	sOut []float64 // (P×N) state leaving the chunk
	sT   []float64 // (N×P) sIn transposed
	wxT  []float64 // (P×Q) L[last,s]·dt_s·x_s, transposed
	off  []float64 // (Q×P) S_in·C_l
	acc  []float64 // (P)
}

func newChunk(d Dims) *chunk {
	q, p, n := d.Chunk, d.HeadDim, d.State
	return &chunk{
		d:    d,
		a:    make([]float64, q),
		dec:  make([]float64, q*q),
		eA:   make([]float64, q),
		m:    make([]float64, q*q),
		xs:   make([]float64, q*p),
		bs:   make([]float64, q*n),
		cs:   make([]float64, q*n),
		sIn:  make([]float64, p*n),
		sOut: make([]float64, p*n),
		sT:   make([]float64, n*p),
		wxT:  make([]float64, p*q),
		off:  make([]float64, q*p),
		acc:  make([]float64, p),
	}
}

// load reads chunk c of pair (b, h): the scaled inputs, B, C, the decays and
// the masked score matrix m = (C·Bᵀ) ∘ L, with cb the chunk's C·Bᵀ.
func (w *chunk) load(b, h, c int, x, dt, A, Bm, Cm []float32, cb []float64) {
	w.loadInputs(b, h, c, x, dt, A, Bm, Cm)
	w.decays()
	Q := w.d.Chunk
	for l := 0; l < w.q; l++ {
		for s := 0; s <= l; s++ {
			w.m[l*Q+s] = float64(cb[l*Q+s] * w.dec[l*Q+s])
		}
	}
}

func (w *chunk) loadInputs(b, h, c int, x, dt, A, Bm, Cm []float32) {
	d := w.d
	Q, P, N, H, G := d.Chunk, d.HeadDim, d.State, d.Heads, d.Groups
	g := h / d.headsPerGroup()
	t0 := c * Q
	w.q = min(Q, d.Len-t0)
	ah := float64(A[h])
	for s := 0; s < w.q; s++ {
		t := b*d.Len + t0 + s
		dts := float64(dt[t*H+h])
		w.a[s] = float64(dts * ah)
		xr := x[(t*H+h)*P : (t*H+h)*P+P]
		xd := w.xs[s*P : s*P+P]
		for p, v := range xr {
			xd[p] = float64(dts * float64(v))
		}
		br := Bm[(t*G+g)*N : (t*G+g)*N+N]
		cr := Cm[(t*G+g)*N : (t*G+g)*N+N]
		bd := w.bs[s*N : s*N+N]
		cd := w.cs[s*N : s*N+N]
		for n := range br {
			bd[n] = float64(br[n])
			cd[n] = float64(cr[n])
		}
	}
}

// decays fills dec and eA from a. Each segment sum Σ_{k=s+1..l} a_k is
// accumulated from k = l downwards, so no two long cumulative sums are
// subtracted.
func (w *chunk) decays() {
	Q := w.d.Chunk
	for l := 0; l < w.q; l++ {
		row := w.dec[l*Q : l*Q+l+1]
		row[l] = 1
		var sum float64
		for s := l - 1; s >= 0; s-- {
			sum += w.a[s+1]
			row[s] = kernels.Exp(sum)
		}
		sum += w.a[0]
		w.eA[l] = kernels.Exp(sum)
	}
}

// dot returns Σ a_i·b_i over len(a) in a fixed order: four interleaved
// partial sums, combined as (s0+s1)+(s2+s3).
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i] * b[i])
		s1 += float64(a[i+1] * b[i+1])
		s2 += float64(a[i+2] * b[i+2])
		s3 += float64(a[i+3] * b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i] * b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// groupScores computes C_l·B_s for s ≤ l of chunk c of (batch b, group g)
// into cb (Q×Q).
func groupScores(d Dims, b, g, c int, Bm, Cm []float32, cb []float64, bs, cs []float64) {
	Q, N, G := d.Chunk, d.State, d.Groups
	t0 := c * Q
	q := min(Q, d.Len-t0)
	for s := 0; s < q; s++ {
		i := ((b*d.Len+t0+s)*G + g) * N
		for n := 0; n < N; n++ {
			bs[s*N+n] = float64(Bm[i+n])
			cs[s*N+n] = float64(Cm[i+n])
		}
	}
	for l := 0; l < q; l++ {
		cl := cs[l*N : l*N+N]
		for s := 0; s <= l; s++ {
			cb[l*Q+s] = dot(cl, bs[s*N:s*N+N])
		}
	}
}
