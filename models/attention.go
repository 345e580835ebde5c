package models

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// attention is causal grouped-query attention with RoPE on q and k.
type attention struct {
	dim, nh, nkv, hd int
	wq, wk, wv, wo   *bitLinear
	rope             *ropeTable
}

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
	att            []float32 // batch × nh × T × T probabilities
	out            []float32 // rows × nh·hd, input of wo
	dq, dk, dv     []float32
	dout           []float32
}

func (m *attention) newActs(batch, seqLen int) attnActs {
	rows := batch * seqLen
	qd, kd := m.nh*m.hd, m.nkv*m.hd
	return attnActs{
		lq: m.wq.newActs(rows), lk: m.wk.newActs(rows), lv: m.wv.newActs(rows), lo: m.wo.newActs(rows),
		q: make([]float32, rows*qd), k: make([]float32, rows*kd), v: make([]float32, rows*kd),
		att: make([]float32, batch*m.nh*seqLen*seqLen), out: make([]float32, rows*qd),
		dq: make([]float32, rows*qd), dk: make([]float32, rows*kd), dv: make([]float32, rows*kd),
		dout: make([]float32, rows*qd),
	}
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

// headScratch is one worker's contiguous copies of a head's tensors.
type headScratch struct{ q, k, v, o, do, dq, dk, dv, dp []float32 }

func newHeadScratch(seqLen, hd int) *headScratch {
	f := func(n int) []float32 { return make([]float32, n) }
	n := seqLen * hd
	return &headScratch{q: f(n), k: f(n), v: f(n), o: f(n), do: f(n), dq: f(n), dk: f(n), dv: f(n), dp: f(seqLen * seqLen)}
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

// softmaxRows turns the scores s (T×T) into causal probabilities in place:
// row t keeps columns ≤ t (scaled), the rest become 0. The arithmetic per
// row matches attendRow.
func softmaxRows(s []float32, seqLen int, scale float32) {
	for t := 0; t < seqLen; t++ {
		row := s[t*seqLen : t*seqLen+seqLen]
		vec.Scale(row[:t+1], row[:t+1], scale)
		sum := expShiftRow(row[:t+1], row[:t+1], vec.Max(row[:t+1]))
		vec.ScaleF64(row[:t+1], 1/sum)
		clear(row[t+1:])
	}
}

// forward writes y (rows×dim) from the normalized input x.
func (m *attention) forward(threads int, a *attnActs, y, x []float32, batch, seqLen int) {
	rows := batch * seqLen
	m.wq.forward(threads, &a.lq, a.q, x, rows)
	m.wk.forward(threads, &a.lk, a.k, x, rows)
	m.wv.forward(threads, &a.lv, a.v, x, rows)
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	parRows(threads, rows, func(r int) {
		pos := r % seqLen
		for h := 0; h < m.nh; h++ {
			m.rope.rotate(a.q[r*qd+h*hd:r*qd+h*hd+hd], pos)
		}
		for h := 0; h < m.nkv; h++ {
			m.rope.rotate(a.k[r*kd+h*hd:r*kd+h*hd+hd], pos)
		}
	})
	grp := m.nh / m.nkv
	scale := float32(1 / math.Sqrt(float64(hd)))
	T := seqLen
	kernels.Parallel(threads, batch*m.nh, func(lo, hi int) {
		w := newHeadScratch(T, hd)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/m.nh, bh%m.nh
			kv := h / grp
			base := b * T
			gather(w.q, a.q[base*qd:], T, qd, h*hd, hd)
			gather(w.k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(w.v, a.v[base*kd:], T, kd, kv*hd, hd)
			p := a.att[bh*T*T : (bh+1)*T*T]
			kernels.MatMulNT(1, p, w.q, w.k, T, hd, T, false)
			softmaxRows(p, T, scale)
			kernels.MatMul(1, w.o, p, w.v, T, T, hd, false)
			scatter(a.out[base*qd:], w.o, T, qd, h*hd, hd)
		}
	})
	m.wo.forward(threads, &a.lo, y, a.out, rows)
}

// backward accumulates dx from dy.
func (m *attention) backward(threads int, a *attnActs, dy, dx []float32, batch, seqLen int) {
	rows := batch * seqLen
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	clear(a.dout[:rows*qd])
	m.wo.backward(threads, &a.lo, dy, a.dout, rows)
	scale := float32(1 / math.Sqrt(float64(hd)))
	grp := m.nh / m.nkv
	T := seqLen
	kernels.Parallel(threads, batch*m.nkv, func(lo, hi int) {
		w := newHeadScratch(T, hd)
		for bk := lo; bk < hi; bk++ {
			b, kv := bk/m.nkv, bk%m.nkv
			base := b * T
			gather(w.k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(w.v, a.v[base*kd:], T, kd, kv*hd, hd)
			clear(w.dk)
			clear(w.dv)
			for h := kv * grp; h < (kv+1)*grp; h++ {
				bh := b*m.nh + h
				p := a.att[bh*T*T : (bh+1)*T*T]
				gather(w.q, a.q[base*qd:], T, qd, h*hd, hd)
				gather(w.do, a.dout[base*qd:], T, qd, h*hd, hd)
				kernels.MatMulNT(1, w.dp, w.do, w.v, T, hd, T, false) // dP = dO·Vᵀ
				kernels.MatMulTN(1, w.dv, p, w.do, T, T, hd, true)    // dV += Pᵀ·dO
				for t := 0; t < T; t++ {
					pr, dr := p[t*T:t*T+T], w.dp[t*T:t*T+T]
					var s float64
					for u := 0; u <= t; u++ {
						s += float64(float64(pr[u]) * float64(dr[u]))
					}
					vec.SoftmaxBack(dr[:t+1], pr[:t+1], float32(s), scale)
					clear(dr[t+1:])
				}
				kernels.MatMul(1, w.dq, w.dp, w.k, T, T, hd, false)  // dQ = dS·K
				kernels.MatMulTN(1, w.dk, w.dp, w.q, T, T, hd, true) // dK += dSᵀ·Q
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
	m.wq.backward(threads, &a.lq, a.dq, dx, rows)
	m.wk.backward(threads, &a.lk, a.dk, dx, rows)
	m.wv.backward(threads, &a.lv, a.dv, dx, rows)
}
