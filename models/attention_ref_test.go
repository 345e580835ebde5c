package models

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// The materialised attention the tiled form replaced: every head's whole
// T×T probability matrix is stored by the forward pass (att, batch·nh·T²)
// and read by the backward pass. It is the reference the tiled form must
// match bit for bit.

func refSoftmaxRows(s []float32, seqLen int, scale float32) {
	for t := 0; t < seqLen; t++ {
		row := s[t*seqLen : t*seqLen+seqLen]
		vec.Scale(row[:t+1], row[:t+1], scale)
		sum := expShiftRow(row[:t+1], row[:t+1], vec.Max(row[:t+1]))
		vec.ScaleF64(row[:t+1], 1/sum)
		clear(row[t+1:])
	}
}

func refAttnForward(m *attention, threads int, a *attnActs, att, y, x []float32, batch, seqLen int) {
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
	f := func(n int) []float32 { return make([]float32, n) }
	kernels.Parallel(threads, batch*m.nh, func(lo, hi int) {
		q, k, v, o := f(T*hd), f(T*hd), f(T*hd), f(T*hd)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/m.nh, bh%m.nh
			kv := h / grp
			base := b * T
			gather(q, a.q[base*qd:], T, qd, h*hd, hd)
			gather(k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(v, a.v[base*kd:], T, kd, kv*hd, hd)
			p := att[bh*T*T : (bh+1)*T*T]
			kernels.MatMulNT(1, p, q, k, T, hd, T, false)
			refSoftmaxRows(p, T, scale)
			kernels.MatMul(1, o, p, v, T, T, hd, false)
			scatter(a.out[base*qd:], o, T, qd, h*hd, hd)
		}
	})
	m.wo.forward(threads, &a.lo, y, a.out, rows)
}

func refAttnBackward(m *attention, threads int, a *attnActs, att, dy, dx []float32, batch, seqLen int) {
	rows := batch * seqLen
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	clear(a.dout[:rows*qd])
	m.wo.backward(threads, &a.lo, dy, a.dout, rows, false)
	scale := float32(1 / math.Sqrt(float64(hd)))
	grp := m.nh / m.nkv
	T := seqLen
	f := func(n int) []float32 { return make([]float32, n) }
	kernels.Parallel(threads, batch*m.nkv, func(lo, hi int) {
		q, k, v, do, dq, dk, dv, dp := f(T*hd), f(T*hd), f(T*hd), f(T*hd), f(T*hd), f(T*hd), f(T*hd), f(T*T)
		for bk := lo; bk < hi; bk++ {
			b, kv := bk/m.nkv, bk%m.nkv
			base := b * T
			gather(k, a.k[base*kd:], T, kd, kv*hd, hd)
			gather(v, a.v[base*kd:], T, kd, kv*hd, hd)
			clear(dk)
			clear(dv)
			for h := kv * grp; h < (kv+1)*grp; h++ {
				bh := b*m.nh + h
				p := att[bh*T*T : (bh+1)*T*T]
				gather(q, a.q[base*qd:], T, qd, h*hd, hd)
				gather(do, a.dout[base*qd:], T, qd, h*hd, hd)
				kernels.MatMulNT(1, dp, do, v, T, hd, T, false)
				kernels.MatMulTN(1, dv, p, do, T, T, hd, true)
				for t := 0; t < T; t++ {
					pr, dr := p[t*T:t*T+T], dp[t*T:t*T+T]
					var s float64
					for u := 0; u <= t; u++ {
						s += float64(float64(pr[u]) * float64(dr[u]))
					}
					vec.SoftmaxBack(dr[:t+1], pr[:t+1], float32(s), scale)
					clear(dr[t+1:])
				}
				kernels.MatMul(1, dq, dp, k, T, T, hd, false)
				kernels.MatMulTN(1, dk, dp, q, T, T, hd, true)
				scatter(a.dq[base*qd:], dq, T, qd, h*hd, hd)
			}
			scatter(a.dk[base*kd:], dk, T, kd, kv*hd, hd)
			scatter(a.dv[base*kd:], dv, T, kd, kv*hd, hd)
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
	m.wq.backward(threads, &a.lq, a.dq, dx, rows, false)
	m.wk.backward(threads, &a.lk, a.dk, dx, rows, false)
	m.wv.backward(threads, &a.lv, a.dv, dx, rows, false)
}

// attnResult is the output, the input gradient and the weight gradients
// of one attention forward and backward pass.
type attnResult struct{ y, dx, grads []float32 }

// runAttention runs one attention layer of m forward and backward on x and
// dy, tiled (ref false) or materialised, with fresh gradients.
func runAttention(m *Model, at *attention, ref bool, threads, batch, seqLen int, x, dy []float32) attnResult {
	m.SetThreads(threads)
	m.ZeroGrad()
	m.refresh()
	rows := batch * seqLen
	a := at.newActs(batch, seqLen)
	y := make([]float32, rows*at.dim)
	dx := make([]float32, rows*at.dim)
	if ref {
		att := make([]float32, batch*at.nh*seqLen*seqLen)
		refAttnForward(at, threads, &a, att, y, x, batch, seqLen)
		refAttnBackward(at, threads, &a, att, dy, dx, batch, seqLen)
	} else {
		at.forward(threads, &a, y, x, batch, seqLen, nil)
		at.backward(threads, &a, dy, dx, batch, seqLen, false)
	}
	r := attnResult{y: y, dx: dx}
	for _, l := range at.linears() {
		r.grads = append(r.grads, l.w.Grad...)
	}
	return r
}

// TestTiledAttentionBits: the tiled attention (query strips of any height,
// probabilities recomputed in the backward pass) gives the materialised
// attention's output, input gradient and weight gradients bit for bit, at
// 1, 2 and 3 threads, with strips that divide the length and strips that
// leave a ragged last one, on head sizes that are and are not multiples of
// the vector widths.
func TestTiledAttentionBits(t *testing.T) {
	type shape struct {
		name          string
		mc            configs.ModelConfig
		batch, seqLen int
	}
	wide := wideConfig()
	wide.Context = 80
	hyb := hybridConfig()
	hyb.Context = 40
	big := wideConfig()
	big.DModel, big.NHeads, big.NKVHeads, big.Context = 128, 2, 1, 256
	for _, s := range []shape{
		{"wide hd10", wide, 2, 77},
		{"hybrid hd4", hyb, 3, 40},
		{"hd64 T=200", big, 1, 200},
	} {
		m, err := New(s.mc, quantConfig(true, 8), 3)
		if err != nil {
			t.Fatal(err)
		}
		m.SetQuant(QuantState{Int4, Ternary, 0.5})
		var at *attention
		for _, b := range m.layers {
			if b.attn != nil {
				at = b.attn
			}
		}
		rows := s.batch * s.seqLen
		x := randVec(5, "test/attn/x", rows*at.dim, 1)
		dy := randVec(6, "test/attn/dy", rows*at.dim, 1)
		want := runAttention(m, at, true, 1, s.batch, s.seqLen, x, dy)
		for _, tile := range []int{0, 1, 5, 12, 16, s.seqLen - 1, s.seqLen, 1000} {
			for _, th := range []int{1, 2, 3} {
				at.tile = tile
				got := runAttention(m, at, false, th, s.batch, s.seqLen, x, dy)
				name := fmt.Sprintf("%s tile %d threads %d", s.name, tile, th)
				for _, c := range []struct {
					what      string
					got, want []float32
				}{{"output", got.y, want.y}, {"input gradient", got.dx, want.dx}, {"weight gradients", got.grads, want.grads}} {
					if i := bitsEqual(c.got, c.want); i >= 0 {
						t.Errorf("%s: %s [%d] = %v, materialised %v", name, c.what, i, c.got[i], c.want[i])
					}
				}
			}
		}
		at.tile = 0
	}
}

// BenchmarkAttention times one nano attention layer's forward and backward
// pass (batch 1, T = 1024, 2 threads), tiled and materialised, for their
// ratio in one run: go test ./models -run '^$' -bench Attention -benchtime 3x.
func BenchmarkAttention(b *testing.B) {
	mc := wideConfig()
	mc.DModel, mc.NHeads, mc.NKVHeads, mc.Context = 512, 8, 2, 1024
	m, err := New(mc, quantConfig(true, 8), 3)
	if err != nil {
		b.Fatal(err)
	}
	var at *attention
	for _, l := range m.layers {
		if l.attn != nil {
			at = l.attn
		}
	}
	const batch, T = 1, 1024
	x := randVec(5, "bench/attn/x", batch*T*at.dim, 1)
	dy := randVec(6, "bench/attn/dy", batch*T*at.dim, 1)
	for _, ref := range []bool{false, true} {
		name := "tiled"
		if ref {
			name = "materialised"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runAttention(m, at, ref, 2, batch, T, x, dy)
			}
		})
	}
}
