package models

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/rng"
)

// State is the decoding state of one sequence: the conv window and SSM
// state of every Mamba layer and the KV cache of every attention layer.
type State struct {
	pos  int
	conv [][]float32 // per layer: (d_conv−1) × C_conv previous conv inputs, oldest first
	ssm  [][]float32 // per layer: H × P × N
	k, v [][]float32 // per layer: context × n_kv_heads·head_dim
}

// Pos returns the number of tokens consumed so far.
func (s *State) Pos() int { return s.pos }

// stepWorkspace holds the activations of one decoding step.
type stepWorkspace struct {
	x, tmp, mid []float32 // D
	n1, n2, fin normActs
	attn        []attnActs
	mamba       []mambaActs
	ffn         []ffnActs
	probs       []float32 // context
	logits      []float32
}

func (m *Model) stepWorkspace() *stepWorkspace {
	if m.stepWS != nil {
		return m.stepWS
	}
	D, L := m.arch.mc.DModel, len(m.layers)
	w := &stepWorkspace{x: make([]float32, D), tmp: make([]float32, D), mid: make([]float32, D),
		n1: newNormActs(1, D), n2: newNormActs(1, D), fin: newNormActs(1, D),
		attn: make([]attnActs, L), mamba: make([]mambaActs, L), ffn: make([]ffnActs, L),
		probs: make([]float32, m.arch.mc.Context), logits: make([]float32, m.arch.mc.Vocab)}
	for l, b := range m.layers {
		if b.attn != nil {
			w.attn[l] = b.attn.newActs(1, 1)
		} else {
			w.mamba[l] = b.mamba.newActs(1)
		}
		if b.ffn != nil {
			w.ffn[l] = b.ffn.newActs(1)
		}
	}
	m.stepWS = w
	return w
}

// NewState returns an empty decoding state. It also recomputes the
// effective (quantized) weights from the current parameters and quant
// state; Step uses the weights of the latest NewState, ForwardBackward,
// Loss or Logits call.
func (m *Model) NewState() *State {
	m.refresh()
	return m.newState()
}

// newState returns an empty decoding state without refreshing the
// effective weights.
func (m *Model) newState() *State {
	L := len(m.layers)
	s := &State{conv: make([][]float32, L), ssm: make([][]float32, L), k: make([][]float32, L), v: make([][]float32, L)}
	mc := m.arch.mc
	for l, b := range m.layers {
		if b.attn != nil {
			kd := b.attn.nkv * b.attn.hd
			s.k[l] = make([]float32, mc.Context*kd)
			s.v[l] = make([]float32, mc.Context*kd)
		} else {
			mb := b.mamba
			s.conv[l] = make([]float32, (mb.conv-1)*mb.cConv)
			s.ssm[l] = make([]float32, mb.heads*mb.headDim*mb.state)
		}
	}
	return s
}

// reset empties s (position 0, zero conv windows, SSM states and KV
// caches), as newState returns it, keeping its storage.
func (s *State) reset() {
	s.pos = 0
	for _, b := range [][][]float32{s.conv, s.ssm, s.k, s.v} {
		for _, x := range b {
			clear(x)
		}
	}
}

// Step feeds one token (batch 1) and returns a fresh slice with the logits
// for the next position. It fails once model.context tokens were consumed.
func (m *Model) Step(st *State, token int32) ([]float32, error) {
	mc := m.arch.mc
	if st == nil || len(st.conv) != len(m.layers) {
		return nil, fmt.Errorf("models: Step needs a State from this model's NewState")
	}
	if st.pos >= mc.Context {
		return nil, fmt.Errorf("models: Step at position %d is past model.context %d", st.pos, mc.Context)
	}
	if token < 0 || int(token) >= mc.Vocab {
		return nil, fmt.Errorf("models: token %d is outside the vocabulary [0, %d)", token, mc.Vocab)
	}
	if m.arith == ArithExact {
		if err := m.exactSupported(); err != nil {
			return nil, err
		}
	}
	th, D := m.threads, mc.DModel
	w := m.stepWorkspace()
	m.q.exact = m.arith == ArithExact
	defer func() { m.q.exact = false }()
	copy(w.x, m.embed.Data[int(token)*D:int(token)*D+D])
	for l, b := range m.layers {
		b.norm1.forward(th, &w.n1, w.x, 1)
		if b.attn != nil {
			b.attn.step(th, &w.attn[l], w.tmp, w.n1.out, st.k[l], st.v[l], st.pos, w.probs)
		} else {
			b.mamba.step(th, &w.mamba[l], w.tmp, w.n1.out, st.conv[l], st.ssm[l])
		}
		for i := range w.x {
			w.x[i] += w.tmp[i]
		}
		if b.ffn != nil {
			b.norm2.forward(th, &w.n2, w.x, 1)
			b.ffn.forward(th, &w.ffn[l], w.tmp, w.n2.out, 1, nil)
			for i := range w.x {
				w.x[i] += w.tmp[i]
			}
		}
	}
	m.normF.forward(th, &w.fin, w.x, 1)
	if m.arith == ArithExact {
		exactHead(th, w.logits, w.fin.out, m.embed.Data)
	} else {
		kernels.MatMulNT(th, w.logits, w.fin.out, m.embed.Data, 1, D, mc.Vocab, false)
	}
	st.pos++
	return append([]float32(nil), w.logits...), nil
}

// Greedy continues a sequence by greedy decoding. st holds the tokens fed
// so far and logits are those Step returned for the last of them (nil:
// nothing was fed, and nothing is generated). Each next token is
// vec.Argmax(logits), the first maximum on ties. Decoding stops before a
// token equal to eos (a negative eos never matches), and after appending a
// token when stop (if not nil) returns true for the tokens generated so
// far, when n tokens were generated, or when the sequence (the fed tokens
// and the new one) fills model.context; otherwise the token is fed with
// Step for the next logits. It returns the generated tokens, without eos.
func (m *Model) Greedy(st *State, logits []float32, n int, eos int32, stop func(gen []int32) bool) ([]int32, error) {
	return m.Continue(st, logits, n, eos, func(l []float32) int32 { return int32(vec.Argmax(l)) }, stop)
}

// Sampler returns a next-token rule: greedy (vec.Argmax) at temperature
// 0, otherwise a draw from softmax(logits/temperature) with one uniform
// number per token from draws (a counter-based stream, so a seed gives the
// same text on any machine).
func Sampler(temperature float64, draws *rng.Stream) (func([]float32) int32, error) {
	if !(temperature >= 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("temperature %v: want a finite value >= 0 (0 = greedy)", temperature)
	}
	if temperature == 0 {
		return func(l []float32) int32 { return int32(vec.Argmax(l)) }, nil
	}
	return func(l []float32) int32 { return Sample(l, temperature, draws.Float64()) }, nil
}

// Sample draws a token from softmax(logits/temperature) with the uniform
// coin u ∈ [0, 1): the first index whose cumulative weight exceeds u·Σ.
func Sample(logits []float32, temperature, u float64) int32 {
	maxv := float64(logits[0])
	for _, v := range logits {
		maxv = max(maxv, float64(v))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		p[i] = kernels.Exp((float64(v) - maxv) / temperature)
		sum += p[i]
	}
	target := u * sum
	var cdf float64
	for i, pi := range p {
		cdf += pi
		if target < cdf {
			return int32(i)
		}
	}
	return int32(len(p) - 1)
}

// Continue is Greedy with another next-token rule (see Sampler).
func (m *Model) Continue(st *State, logits []float32, n int, eos int32, pick func([]float32) int32, stop func(gen []int32) bool) ([]int32, error) {
	var gen []int32
	for len(gen) < n && logits != nil {
		next := pick(logits)
		if next == eos {
			break
		}
		gen = append(gen, next)
		if stop != nil && stop(gen) {
			break
		}
		if len(gen) == n || st.pos+1 >= m.arch.mc.Context {
			break
		}
		var err error
		if logits, err = m.Step(st, next); err != nil {
			return gen, err
		}
	}
	return gen, nil
}

// step runs one attention token at position pos, appending k and v to the cache.
func (m *attention) step(threads int, a *attnActs, y, x, kc, vc []float32, pos int, probs []float32) {
	qd, kd, hd := m.nh*m.hd, m.nkv*m.hd, m.hd
	m.wq.forward(threads, &a.lq, a.q, x, 1)
	m.wk.forward(threads, &a.lk, kc[pos*kd:], x, 1)
	m.wv.forward(threads, &a.lv, vc[pos*kd:], x, 1)
	for h := 0; h < m.nh; h++ {
		m.rope.rotate(a.q[h*hd:h*hd+hd], pos)
	}
	for h := 0; h < m.nkv; h++ {
		m.rope.rotate(kc[pos*kd+h*hd:pos*kd+h*hd+hd], pos)
	}
	grp := m.nh / m.nkv
	for h := 0; h < m.nh; h++ {
		kv := h / grp
		m.attendRow(a.q[h*hd:], kc[kv*hd:], vc[kv*hd:], kd, pos, probs, a.out[h*hd:])
	}
	_ = qd
	m.wo.forward(threads, &a.lo, y, a.out, 1)
}

// step runs one Mamba token, updating the conv window and the SSM state.
func (m *mamba2) step(threads int, a *mambaActs, out, u, conv, ssm []float32) {
	m.inProj.forward(threads, &a.lin, a.zx, u, 1)
	K, C := m.conv, m.cConv
	in := a.zx[m.dIn : m.dIn+C]
	a.convWT = m.convWeightsT(a.convWT)
	m.convRow(a.pre[:C], a.convWT, func(k int) []float32 {
		if k == K-1 {
			return in
		}
		return conv[k*C : (k+1)*C]
	})
	if K > 1 {
		copy(conv, conv[C:])
		copy(conv[(K-2)*C:], in)
	}
	m.splitRow(a, 0)
	m.setA(a)
	scanStep(m.dims(1, 1), ssm, a.x, a.dt, a.a, a.bm, a.cm, a.y)
	m.finishRow(a, 0)
	m.norm.forward(threads, &a.nrm, a.g, 1)
	m.outProj.forward(threads, &a.lout, out, a.nrm.out, 1)
}
