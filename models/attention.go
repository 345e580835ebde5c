package models

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
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
		e := kernels.Exp(float64(probs[u] - mx))
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
	parRows(threads, batch*m.nh, func(bh int) {
		b, h := bh/m.nh, bh%m.nh
		kv := h / grp
		base := b * seqLen
		for t := 0; t < seqLen; t++ {
			r := base + t
			probs := a.att[(bh*seqLen+t)*seqLen:]
			m.attendRow(a.q[r*qd+h*hd:], a.k[base*kd+kv*hd:], a.v[base*kd+kv*hd:], kd, t, probs, a.out[r*qd+h*hd:])
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
	clear(a.dq[:rows*qd])
	clear(a.dk[:rows*kd])
	clear(a.dv[:rows*kd])
	scale := float32(1 / math.Sqrt(float64(hd)))
	grp := m.nh / m.nkv
	parRows(threads, batch*m.nkv, func(bk int) {
		b, kv := bk/m.nkv, bk%m.nkv
		base := b * seqLen
		dp := make([]float32, seqLen)
		for h := kv * grp; h < (kv+1)*grp; h++ {
			bh := b*m.nh + h
			for t := 0; t < seqLen; t++ {
				r := base + t
				probs := a.att[(bh*seqLen+t)*seqLen:]
				do := a.dout[r*qd+h*hd : r*qd+h*hd+hd]
				var s float64
				for u := 0; u <= t; u++ {
					ru := (base + u) * kd
					dp[u] = dot32(do, a.v[ru+kv*hd:ru+kv*hd+hd])
					s += float64(float64(probs[u]) * float64(dp[u]))
					dv := a.dv[ru+kv*hd : ru+kv*hd+hd]
					for i, g := range do {
						dv[i] = kernels.FMA32(probs[u], g, dv[i])
					}
				}
				sum := float32(s)
				dq := a.dq[r*qd+h*hd : r*qd+h*hd+hd]
				q := a.q[r*qd+h*hd : r*qd+h*hd+hd]
				for u := 0; u <= t; u++ {
					ds := (probs[u] * (dp[u] - sum)) * scale
					ru := (base + u) * kd
					ku := a.k[ru+kv*hd : ru+kv*hd+hd]
					dk := a.dk[ru+kv*hd : ru+kv*hd+hd]
					for i := range dq {
						dq[i] = kernels.FMA32(ds, ku[i], dq[i])
						dk[i] = kernels.FMA32(ds, q[i], dk[i])
					}
				}
			}
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
