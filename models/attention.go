package models

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// attention is causal grouped-query attention with RoPE on q and k.
//
// Training and scoring never hold a T×T matrix for long sequences: each
// worker takes one (sequence, head) at a time and walks its query rows in
// strips of tile rows (attnTile), keeping only a strip's scores and
// probabilities (tile×T), and the backward pass recomputes each strip's
// probabilities from q and k. Where every head's probabilities of a
// micro-batch are few (keepProbs), the forward pass keeps them and the
// backward pass reads them instead: the same values. Every product is the GEMM's chain over its K dimension in
// ascending order, and a strip only restricts the rows (or, for the
// reductions over query rows such as dV += Pᵀ·dO, splits the chain into
// consecutive segments that start from the stored partial), so the result
// is bit for bit that of the whole T×T computation, for any tile size and
// thread count (TestTiledAttentionBits pins this against the materialised
// form).
type attention struct {
	dim, nh, nkv, hd int
	wq, wk, wv, wo   *bitLinear
	rope             *ropeTable
	tile             int // query rows per strip; 0 = attnTile
}

// attnTile is the default strip height: a multiple of every micro-kernel's
// row count (12, 6 and 4) and the GEMM's row block (96), so the strip
// products run whole tiles.
const attnTile = 96

// ropeTable holds cos and sin of pos·θ^(−2i/hd) for every position and pair.
type ropeTable struct {
	half     int
	cos, sin []float32 // context × half
}

func newRopeTable(context, hd int, theta float64) *ropeTable {
	half := hd / 2
	t := &ropeTable{half: half, cos: make([]float32, context*half), sin: make([]float32, context*half)}
	for i := 0; i < half; i++ {
		freq := kernels.Pow(theta, -float64(2*i)/float64(hd))
		for p := 0; p < context; p++ {
			ang := float64(float64(p) * freq)
			t.cos[p*half+i] = float32(kernels.Cos(ang))
			t.sin[p*half+i] = float32(kernels.Sin(ang))
		}
	}
	return t
}

// rotate applies RoPE at position pos to one head vector (adjacent pairs).
func (t *ropeTable) rotate(x []float32, pos int) {
	cs, sn := t.cos[pos*t.half:], t.sin[pos*t.half:]
	for i := 0; i < t.half; i++ {
		c, s := cs[i], sn[i]
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = float32(x0*c) - float32(x1*s)
		x[2*i+1] = float32(x0*s) + float32(x1*c)
	}
}

// rotateBack applies the transpose (inverse) rotation, the RoPE backward.
func (t *ropeTable) rotateBack(x []float32, pos int) {
	cs, sn := t.cos[pos*t.half:], t.sin[pos*t.half:]
	for i := 0; i < t.half; i++ {
		c, s := cs[i], sn[i]
		d0, d1 := x[2*i], x[2*i+1]
		x[2*i] = float32(d0*c) + float32(d1*s)
		x[2*i+1] = float32(d1*c) - float32(d0*s)
	}
}

type attnActs struct {
	lq, lk, lv, lo linearActs
	q, k, v        []float32 // post-RoPE q, k; v
	out            []float32 // rows × nh·hd, input of wo
	dq, dk, dv     []float32
	dout           []float32
	// probs holds every (sequence, head)'s causal probabilities (T×T,
	// zero past the diagonal) from the forward pass for the backward pass
	// when keepProbs; nil: the backward pass recomputes them.
	probs []float32
}

// probsBudget is the most floats of probabilities an attention layer keeps
// from its forward pass for its backward pass (keepProbs): 16 MiB, which
// the training shapes of the small presets stay within (tiny at 16×128: 4
// MiB) and long sequences do not (nano at 4×2048: 512 MiB), where the
// backward pass recomputes them. A variable for the tests of the
// recomputing path.
var probsBudget int64 = 1 << 22

// keepProbs reports whether an attention layer with nh heads keeps the
// probabilities of batch sequences of seqLen positions.
func keepProbs(batch, nh, seqLen int) bool {
	return int64(batch)*int64(nh)*int64(seqLen)*int64(seqLen) <= probsBudget
}

func (m *attention) newActs(batch, seqLen int) attnActs {
	rows := batch * seqLen
	qd, kd := m.nh*m.hd, m.nkv*m.hd
	a := attnActs{
		lq: m.wq.newActs(rows), lk: m.wk.newActs(rows), lv: m.wv.newActs(rows), lo: m.wo.newActs(rows),
		q: make([]float32, rows*qd), k: make([]float32, rows*kd), v: make([]float32, rows*kd),
		out: make([]float32, rows*qd),
		dq:  make([]float32, rows*qd), dk: make([]float32, rows*kd), dv: make([]float32, rows*kd),
		dout: make([]float32, rows*qd),
	}
	if keepProbs(batch, m.nh, seqLen) {
		a.probs = make([]float32, batch*m.nh*seqLen*seqLen)
	}
	return a
}

// headProbs returns the kept probabilities of (sequence b, head h) (T×T),
// or nil when the layer keeps none.
func (a *attnActs) headProbs(b, h, nh, T int) []float32 {
	if a.probs == nil {
		return nil
	}
	i := (b*nh + h) * T * T
	return a.probs[i : i+T*T]
}

func (m *attention) linears() []*bitLinear { return []*bitLinear{m.wq, m.wk, m.wv, m.wo} }

func dot32(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s = kernels.FMA32(v, b[i], s)
	}
	return s
}

// attendRow computes one query row: probs[0..t] and out = Σ_u probs[u]·v_u,
// with keys and values of position u at k[u*stride:], v[u*stride:].
func (m *attention) attendRow(q, k, v []float32, stride, t int, probs, out []float32) {
	scale := float32(1 / math.Sqrt(float64(m.hd)))
	hd := m.hd
	mx := float32(math.Inf(-1))
	for u := 0; u <= t; u++ {
		s := dot32(q[:hd], k[u*stride:u*stride+hd]) * scale
		probs[u] = s
		mx = max(mx, s)
	}
	var sum float64
	for u := 0; u <= t; u++ {
		e := fastExp(float64(probs[u] - mx))
		sum += e
		probs[u] = float32(e)
	}
	inv := 1 / sum
	for u := 0; u <= t; u++ {
		probs[u] = float32(float64(probs[u]) * inv)
	}
	clear(out[:hd])
	for u := 0; u <= t; u++ {
		p, vu := probs[u], v[u*stride:u*stride+hd]
		for i := range out[:hd] {
			out[i] = kernels.FMA32(p, vu[i], out[i])
		}
	}
}

// headScratch is one worker's contiguous copies of a head's tensors and
// two strips of tile×T scores.
type headScratch struct{ q, k, v, o, do, dq, dk, dv, p, dp []float32 }

func newHeadScratch(seqLen, hd, tile int, backward bool) *headScratch {
	f := func(n int) []float32 { return make([]float32, n) }
	n := seqLen * hd
	w := &headScratch{q: f(n), k: f(n), v: f(n), p: f(tile * seqLen)}
	if backward {
		w.do, w.dq, w.dk, w.dv, w.dp = f(n), f(n), f(n), f(n), f(tile*seqLen)
	} else {
		w.o = f(n)
	}
	return w
}

// tileRows is the strip height for seqLen rows.
func (m *attention) tileRows(seqLen int) int {
	t := m.tile
	if t <= 0 {
		t = attnTile
	}
	return min(t, seqLen)
}

// gather copies head column block [off, off+hd) of seqLen rows with the
// given stride into dst (seqLen×hd); scatter does the reverse.
func gather(dst, src []float32, seqLen, stride, off, hd int) {
	for t := 0; t < seqLen; t++ {
		copy(dst[t*hd:t*hd+hd], src[t*stride+off:t*stride+off+hd])
	}
}

func scatter(dst, src []float32, seqLen, stride, off, hd int) {
	for t := 0; t < seqLen; t++ {
		copy(dst[t*stride+off:t*stride+off+hd], src[t*hd:t*hd+hd])
	}
}

// widen moves the n rows of a strip from row stride w to row stride T in
// place (the last row first, so no row overwrites one still to move), and
// zeroes each row t0+i past column t0+i, the causal mask. T ≥ w.
func widen(s []float32, t0, n, w, T int) {
	for i := n - 1; i >= 0; i-- {
		t := t0 + i
		copy(s[i*T:i*T+t+1], s[i*w:i*w+t+1])
		clear(s[i*T+t+1 : i*T+T])
	}
}

// probStrip writes the causal probabilities of query rows [t0, t0+n) into
// p (n×T, zero past the diagonal) from the head's q and k (T×hd): the
// scores are computed for the key columns the strip can see, [0, t0+n),
// each one the GEMM's chain over hd, then every row's softmax in place:
// scaled, shifted by the row maximum, normalised by the float64 sum (the
// arithmetic of attendRow).
func probStrip(p, q, k []float32, t0, n, T, hd int, scale float32) {
	w := t0 + n
	kernels.MatMulNT(1, p[:n*w], q[t0*hd:w*hd], k, n, hd, w, false)
	var rows [4][]float32
	var mx [4]float32
	var sums [4]float64
	for i0 := 0; i0 < n; i0 += 4 {
		k := min(4, n-i0)
		for j := 0; j < k; j++ {
			i := i0 + j
			row := p[i*w : i*w+t0+i+1]
			vec.Scale(row, row, scale)
			rows[j], mx[j] = row, vec.Max(row)
		}
		// Four rows' sums side by side (each row's values are its own).
		vec.ExpShiftRows(sums[:k], rows[:k], rows[:k], mx[:k])
		for j := 0; j < k; j++ {
			vec.ScaleF64(rows[j], 1/sums[j])
		}
	}
	widen(p, t0, n, w, T)
}

// forward writes y (rows×dim) from the normalized input x. pre (may be
// nil) runs first in the row pass that prepares the inputs of wq, wk and
// wv: a caller that writes x row by row (the block's norm) does so there.
func (m *attention) forward(threads int, a *attnActs, y, x []float32, batch, seqLen int, pre func(r0, r1 int)) {
	rows := batch * seqLen
	lins := [3]*bitLinear{m.wq, m.wk, m.wv}
	acts := [3]*linearActs{&a.lq, &a.lk, &a.lv}
	var prep [3]bool
	any := pre != nil
	for j, l := range lins {
		prep[j] = l.hasPrep()
		any = any || prep[j]
		l.bindPrep(acts[j], x)
	}
	if any {
		rowBlocks(threads, rows, func(r0, r1 int) {
			if pre != nil {
				pre(r0, r1)
			}
			for j, l := range lins {
				if prep[j] {
					l.prepRows(acts[j], r0, r1)
				}
			}
		})
	}
	m.wq.product(threads, &a.lq, a.q, x, rows)
	m.wk.product(threads, &a.lk, a.k, x, rows)
	m.wv.product(threads, &a.lv, a.v, x, rows)
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	m.ropeRows(threads, a.q, a.k, rows, func(r int) int { return r % seqLen })
	grp := m.nh / m.nkv
	scale := float32(1 / math.Sqrt(float64(hd)))
	T := seqLen
	tile := m.tileRows(T)
	kernels.Parallel(threads, batch*m.nh, func(lo, hi int) {
		w := newHeadScratch(T, hd, tile, false)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/m.nh, bh%m.nh
			kv := h / grp
			base := b * T
			gather(w.q, a.q[base*qd:], T, qd, h*hd, hd)
			gather(w.k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(w.v, a.v[base*kd:], T, kd, kv*hd, hd)
			w.attend(T, hd, tile, scale, a.headProbs(b, h, m.nh, T))
			scatter(a.out[base*qd:], w.o, T, qd, h*hd, hd)
		}
	})
	m.wo.forward(threads, &a.lo, y, a.out, rows)
}

// ropeRows rotates the rows×(nh·hd) queries q and rows×(nkv·hd) keys k in
// place, row r at position pos(r).
func (m *attention) ropeRows(threads int, q, k []float32, rows int, pos func(r int) int) {
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	parRows(threads, rows, func(r int) {
		p := pos(r)
		for h := 0; h < m.nh; h++ {
			m.rope.rotate(q[r*qd+h*hd:r*qd+h*hd+hd], p)
		}
		for h := 0; h < m.nkv; h++ {
			m.rope.rotate(k[r*kd+h*hd:r*kd+h*hd+hd], p)
		}
	})
}

// attend computes one head's causal attention output w.o (T×hd) from its
// gathered w.q, w.k, w.v, in query strips of tile rows: each strip's
// probabilities in w.p (the T×T matrix is never held) or, when keep is not
// nil, in its rows of keep (T×T).
func (w *headScratch) attend(T, hd, tile int, scale float32, keep []float32) {
	for t0 := 0; t0 < T; t0 += tile {
		n := min(tile, T-t0)
		p := w.p
		if keep != nil {
			p = keep[t0*T : (t0+n)*T]
		}
		probStrip(p, w.q, w.k, t0, n, T, hd, scale)
		kernels.MatMul(1, w.o[t0*hd:], p, w.v, n, T, hd, false) // O = P·V
	}
}

// backward accumulates dx from dy. Per (sequence, key-value head) one
// worker runs the heads of the group in order and, within each, the query
// strips in ascending order: dK and dV accumulate over heads and strips in
// the order of the materialised form's chains.
func (m *attention) backward(threads int, a *attnActs, dy, dx []float32, batch, seqLen int, zero bool) {
	rows := batch * seqLen
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	m.wo.backward(threads, &a.lo, dy, a.dout, rows, true)
	scale := float32(1 / math.Sqrt(float64(hd)))
	grp := m.nh / m.nkv
	T := seqLen
	tile := m.tileRows(T)
	kernels.Parallel(threads, batch*m.nkv, func(lo, hi int) {
		w := newHeadScratch(T, hd, tile, true)
		for bk := lo; bk < hi; bk++ {
			b, kv := bk/m.nkv, bk%m.nkv
			base := b * T
			gather(w.k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(w.v, a.v[base*kd:], T, kd, kv*hd, hd)
			clear(w.dk)
			clear(w.dv)
			for h := kv * grp; h < (kv+1)*grp; h++ {
				gather(w.q, a.q[base*qd:], T, qd, h*hd, hd)
				gather(w.do, a.dout[base*qd:], T, qd, h*hd, hd)
				kept := a.headProbs(b, h, m.nh, T)
				for t0 := 0; t0 < T; t0 += tile {
					n := min(tile, T-t0)
					p, dp := w.p, w.dp
					if kept != nil {
						p = kept[t0*T : (t0+n)*T] // the forward pass's values
					} else {
						probStrip(p, w.q, w.k, t0, n, T, hd, scale)
					}
					dos := w.do[t0*hd : (t0+n)*hd]
					kernels.MatMulTN(1, w.dv, p, dos, T, n, hd, true) // dV += Pᵀ·dO
					// dP = dO·Vᵀ over the visible keys, then dS in place.
					vis := t0 + n
					kernels.MatMulNT(1, dp[:n*vis], dos, w.v, n, hd, vis, false)
					for i := 0; i < n; i++ {
						t := t0 + i
						pr, dr := p[i*T:i*T+t+1], dp[i*vis:i*vis+t+1]
						var s float64
						for u := range pr {
							s += float64(float64(pr[u]) * float64(dr[u]))
						}
						vec.SoftmaxBack(dr, pr, float32(s), scale)
					}
					widen(dp, t0, n, vis, T)
					kernels.MatMul(1, w.dq[t0*hd:], dp, w.k, n, T, hd, false)           // dQ = dS·K
					kernels.MatMulTN(1, w.dk, dp, w.q[t0*hd:(t0+n)*hd], T, n, hd, true) // dK += dSᵀ·Q
				}
				scatter(a.dq[base*qd:], w.dq, T, qd, h*hd, hd)
			}
			scatter(a.dk[base*kd:], w.dk, T, kd, kv*hd, hd)
			scatter(a.dv[base*kd:], w.dv, T, kd, kv*hd, hd)
		}
	})
	parRows(threads, rows, func(r int) {
		pos := r % seqLen
		for h := 0; h < m.nh; h++ {
			m.rope.rotateBack(a.dq[r*qd+h*hd:r*qd+h*hd+hd], pos)
		}
		for h := 0; h < m.nkv; h++ {
			m.rope.rotateBack(a.dk[r*kd+h*hd:r*kd+h*hd+hd], pos)
		}
	})
	m.wq.backward(threads, &a.lq, a.dq, dx, rows, zero)
	m.wk.backward(threads, &a.lk, a.dk, dx, rows, false)
	m.wv.backward(threads, &a.lv, a.dv, dx, rows, false)
}
