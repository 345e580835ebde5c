package models

import (
	"fmt"

	"github.com/nanomamba-edge/harness/kernels"
)

// BatchDecoder steps several sequences together, one token each per call:
// the projections and the head run as one GEMM over the sequences' rows
// instead of one matrix-vector product per sequence, while the recurrent
// parts (conv window, SSM state, KV cache, RoPE position, attention row)
// run per sequence on its own State. Every row's operations are those of
// Step (the GEMM's chain per element runs over K only, norms and
// activation quantization per row), so the logits of each sequence are
// bit for bit those of Step on its State (TestBatchDecoderMatchesStep).
type BatchDecoder struct {
	m      *Model
	states []*State
	ws     *stepWorkspace // rows = len(states)
	kbuf   []float32      // rows × n_kv·head_dim: new keys before they enter the caches
	vbuf   []float32
}

// NewBatchDecoder returns a decoder of n empty sequences. Like NewState it
// recomputes the effective weights from the current parameters and quant
// state.
func (m *Model) NewBatchDecoder(n int) (*BatchDecoder, error) {
	if n < 1 {
		return nil, fmt.Errorf("models: NewBatchDecoder: %d sequences, want at least 1", n)
	}
	m.refresh()
	d := &BatchDecoder{m: m, states: make([]*State, n)}
	for i := range d.states {
		d.states[i] = m.newState()
	}
	mc := m.arch.mc
	D, L := mc.DModel, len(m.layers)
	w := &stepWorkspace{x: make([]float32, n*D), tmp: make([]float32, n*D),
		n1: newNormActs(n, D), n2: newNormActs(n, D), fin: newNormActs(n, D),
		attn: make([]attnActs, L), mamba: make([]mambaActs, L), ffn: make([]ffnActs, L),
		probs: make([]float32, mc.Context), logits: make([]float32, n*mc.Vocab)}
	kd := 0
	for l, b := range m.layers {
		if b.attn != nil {
			w.attn[l] = b.attn.newActs(n, 1)
			kd = b.attn.nkv * b.attn.hd
		} else {
			w.mamba[l] = b.mamba.newActs(n)
		}
		if b.ffn != nil {
			w.ffn[l] = b.ffn.newActs(n)
		}
	}
	d.ws, d.kbuf, d.vbuf = w, make([]float32, n*kd), make([]float32, n*kd)
	return d, nil
}

// Reset empties every sequence, as NewBatchDecoder returns them, keeping
// the decoder's storage (states and workspace), and like NewBatchDecoder
// recomputes the effective weights from the current parameters and quant
// state. A decoder reset after the model's weights changed steps exactly
// as a new one (TestBatchDecoderReset), without allocating.
func (d *BatchDecoder) Reset() {
	d.m.refresh()
	for _, s := range d.states {
		s.reset()
	}
}

// Len returns the number of sequences.
func (d *BatchDecoder) Len() int { return len(d.states) }

// Pos returns the number of tokens sequence i consumed.
func (d *BatchDecoder) Pos(i int) int { return d.states[i].pos }

// Step feeds tokens[i] to sequence i and returns the n×vocab logits for
// the next positions (row i: sequence i). The slice is the decoder's own
// and is overwritten by the next Step. It fails, feeding nothing, when a
// token is outside the vocabulary or a sequence is full (model.context).
func (d *BatchDecoder) Step(tokens []int32) ([]float32, error) {
	m, n := d.m, len(d.states)
	mc := m.arch.mc
	if len(tokens) != n {
		return nil, fmt.Errorf("models: BatchDecoder.Step: %d tokens for %d sequences", len(tokens), n)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= mc.Vocab {
			return nil, fmt.Errorf("models: token %d of sequence %d is outside the vocabulary [0, %d)", t, i, mc.Vocab)
		}
		if d.states[i].pos >= mc.Context {
			return nil, fmt.Errorf("models: sequence %d at position %d is past model.context %d", i, d.states[i].pos, mc.Context)
		}
	}
	th, D := m.threads, mc.DModel
	w := d.ws
	for i, t := range tokens {
		copy(w.x[i*D:i*D+D], m.embed.Data[int(t)*D:int(t)*D+D])
	}
	add := func() {
		for i := range w.x {
			w.x[i] += w.tmp[i]
		}
	}
	for l, b := range m.layers {
		b.norm1.forward(th, &w.n1, w.x, n)
		if b.attn != nil {
			d.attnStep(l, b.attn, &w.attn[l], w.tmp, w.n1.out)
		} else {
			d.mambaStep(l, b.mamba, &w.mamba[l], w.tmp, w.n1.out)
		}
		add()
		if b.ffn != nil {
			b.norm2.forward(th, &w.n2, w.x, n)
			b.ffn.forward(th, &w.ffn[l], w.tmp, w.n2.out, n, nil)
			add()
		}
	}
	m.normF.forward(th, &w.fin, w.x, n)
	kernels.MatMulNT(th, w.logits, w.fin.out, m.embed.Data, n, D, mc.Vocab, false)
	for _, s := range d.states {
		s.pos++
	}
	return w.logits, nil
}

// attnStep is attention.step for every sequence: the projections over all
// rows, then per sequence RoPE at its position, its cache and its row.
func (d *BatchDecoder) attnStep(l int, m *attention, a *attnActs, y, x []float32) {
	th, n := d.m.threads, len(d.states)
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	m.wq.forward(th, &a.lq, a.q, x, n)
	m.wk.forward(th, &a.lk, d.kbuf, x, n)
	m.wv.forward(th, &a.lv, d.vbuf, x, n)
	grp := m.nh / m.nkv
	probs := d.ws.probs
	for i, st := range d.states {
		pos, kc, vc := st.pos, st.k[l], st.v[l]
		copy(kc[pos*kd:pos*kd+kd], d.kbuf[i*kd:i*kd+kd])
		copy(vc[pos*kd:pos*kd+kd], d.vbuf[i*kd:i*kd+kd])
		q := a.q[i*qd : i*qd+qd]
		for h := 0; h < m.nh; h++ {
			m.rope.rotate(q[h*hd:h*hd+hd], pos)
		}
		for h := 0; h < m.nkv; h++ {
			m.rope.rotate(kc[pos*kd+h*hd:pos*kd+h*hd+hd], pos)
		}
		out := a.out[i*qd : i*qd+qd]
		for h := 0; h < m.nh; h++ {
			kv := h / grp
			m.attendRow(q[h*hd:], kc[kv*hd:], vc[kv*hd:], kd, pos, probs, out[h*hd:])
		}
	}
	m.wo.forward(th, &a.lo, y, a.out, n)
}

// mambaStep is mamba2.step for every sequence: in_proj, the gate's norm
// and out_proj over all rows, the conv window and the scan per sequence.
func (d *BatchDecoder) mambaStep(l int, m *mamba2, a *mambaActs, out, u []float32) {
	th, n := d.m.threads, len(d.states)
	m.inProj.forward(th, &a.lin, a.zx, u, n)
	K, C := m.conv, m.cConv
	a.convWT = m.convWeightsT(a.convWT)
	m.setA(a)
	gn := m.groups * m.state
	H := m.heads
	for i, st := range d.states {
		conv, ssm := st.conv[l], st.ssm[l]
		in := a.zx[i*m.dProj+m.dIn : i*m.dProj+m.dIn+C]
		m.convRow(a.pre[i*C:i*C+C], a.convWT, func(k int) []float32 {
			if k == K-1 {
				return in
			}
			return conv[k*C : (k+1)*C]
		})
		if K > 1 {
			copy(conv, conv[C:])
			copy(conv[(K-2)*C:], in)
		}
		m.splitRow(a, i)
		scanStep(m.dims(1, 1), ssm, a.x[i*m.dIn:(i+1)*m.dIn], a.dt[i*H:(i+1)*H], a.a,
			a.bm[i*gn:(i+1)*gn], a.cm[i*gn:(i+1)*gn], a.y[i*m.dIn:(i+1)*m.dIn])
		m.finishRow(a, i)
	}
	m.norm.forward(th, &a.nrm, a.g, n)
	m.outProj.forward(th, &a.lout, out, a.nrm.out, n)
}
