package engine

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// State is the decoding state of one sequence.
type State struct {
	pos  int
	ctx  int         // context length
	conv [][]float32 // per Mamba layer: (d_conv−1) × C_conv, oldest first
	ssm  [][]float32 // per Mamba layer: H × N × P (transposed: lanes over P)
	k    [][]float32 // per attention layer: chunks of cw positions, each kv heads × head size × cw (transposed keys)
	v    [][]float32 // per attention layer: context × kv heads·head size
	cpad int         // context rounded up to a multiple of 8
	cw   int         // positions per key chunk (a multiple of 8)
}

// keyChunk is the number of positions of a key-cache chunk. The keys are
// stored transposed (one row per channel, positions along it) for the score
// kernel, in chunks of this many positions: a sequence's first positions
// then touch the pages of one chunk (kv heads × head size × 512 bytes),
// not one page per channel row of the whole context.
const keyChunk = 128

// keyAt is the index of channel c of position p in a layer's key cache.
func (s *State) keyAt(kd, c, p int) int { return (p/s.cw)*kd*s.cw + c*s.cw + p%s.cw }

// Pos is the number of tokens consumed.
func (s *State) Pos() int { return s.pos }

// work is the scratch of one decoding step.
type work struct {
	x, tmp, n      []float32 // D
	sub            []float32 // largest in-features
	q              []int8    // largest padded in-features
	hk             []int32   // the int8 head's per-token offsets (dot.QHead.Acts)
	acc            []int32   // largest out-features
	q8, att, probs []float32
	knew           []float32 // the new token's keys
	x64            []float64 // the float head's input, widened
	u64, bv64      []float64 // SSM step: dt·x per head, B and C widened
	cv64           []float64
	zx, pre, act   []float32 // act = SiLU(pre): xs, bm, cm
	xs, bm, cm, dt []float32
	y, g, sig, nrm []float32
	h1, h3         []float32
	logits         []float32

	// The bodies of the parallel regions, bound once (newWork) so that a
	// step allocates nothing: a region sets its job's operands, runs its
	// function and clears them.
	rows   rowsJob
	rowsFn func(lo, hi int)
	ssm    ssmJob
	ssmFn  func(lo, hi int)
	head   headJob
	headFn func(lo, hi int)
	f16    f16Job
	f16Fn  func(lo, hi int)
}

// f16Job is the float head's interleaved F16 row groups
// (Model.f16HeadGroups).
type f16Job struct {
	m   *Model
	out []float32
	x64 []float64
}

func (j *f16Job) run(lo, hi int) { j.m.f16HeadGroups(j.out, j.x64, lo, hi) }

// rowsJob is a BitLinear's packed row products (ternaryRows).
type rowsJob struct {
	l   *linear
	acc []int32
	q   []int8
}

func (j *rowsJob) run(lo, hi int) { ternaryRows(j.l, j.acc, j.q, lo, hi) }

// ssmJob is a Mamba-2 layer's state update (Model.ssmHeads).
type ssmJob struct {
	m     *Model
	l     *layer
	state []float32
}

func (j *ssmJob) run(lo, hi int) { j.m.ssmHeads(j.l, j.state, lo, hi) }

// headJob is the int8 output head's rows (Model.int8HeadRows).
type headJob struct {
	m   *Model
	out []float32
	q   []int8
	s   float32
}

func (j *headJob) run(lo, hi int) { j.m.int8HeadRows(j.out, j.q, j.s, lo, hi) }

func (m *Model) newWork() *work {
	maxIn, maxPad, maxOut := m.D, m.D, 1
	for i := range m.layers {
		l := &m.layers[i]
		for _, x := range []*linear{l.wq, l.wk, l.wv, l.wo, l.inProj, l.outProj, l.w1, l.w3, l.w2} {
			if x != nil {
				maxIn, maxPad, maxOut = max(maxIn, x.in), max(maxPad, x.w.width), max(maxOut, x.out)
			}
		}
	}
	f := func(n int) []float32 { return make([]float32, n) }
	gn := m.groups * m.state
	dff := 0
	if m.layers[0].w1 != nil {
		dff = m.layers[0].w1.out
	}
	act := f(m.cConv)
	w := &work{
		x: f(m.D), tmp: f(m.D), n: f(m.D), sub: f(maxIn), q: make([]int8, maxPad), hk: make([]int32, m.D/4+8), acc: make([]int32, maxOut),
		q8: f(m.nh * m.hd), att: f(m.nh * m.hd), probs: f(padContext(m.Context)), knew: f(m.nkv * m.hd), x64: make([]float64, m.D),
		u64: make([]float64, m.heads*m.headDim), bv64: make([]float64, gn), cv64: make([]float64, gn),
		zx: f(m.dProj), pre: f(m.cConv), act: act, xs: act[:m.dIn], bm: act[m.dIn : m.dIn+gn], cm: act[m.dIn+gn:], dt: f(m.heads),
		y: f(m.dIn), g: f(m.dIn), sig: f(max(m.dIn, m.cConv, dff)), nrm: f(m.dIn),
		h1: f(dff), h3: f(dff), logits: f(m.V),
	}
	w.ssm.m, w.head.m, w.f16.m = m, m, m
	w.rowsFn, w.ssmFn, w.headFn, w.f16Fn = w.rows.run, w.ssm.run, w.head.run, w.f16.run
	return w
}

// padContext rounds the context up to a multiple of 8, the width of the
// score kernel (dot.FMACols).
func padContext(n int) int { return (n + 7) &^ 7 }

// NewState returns an empty state. The recurrent states of all Mamba layers
// lie in one buffer (dot.LargeFloats: huge pages on linux) in the order a
// token reads them: per layer its conv window (padded to 64 bytes), then
// its SSM state. One ascending stream, which the hardware prefetchers and
// the SSM kernel's own prefetches follow from layer to layer.
func (m *Model) NewState() *State {
	s := &State{ctx: m.Context, conv: make([][]float32, m.NLayers), ssm: make([][]float32, m.NLayers),
		k: make([][]float32, m.NLayers), v: make([][]float32, m.NLayers), cpad: padContext(m.Context)}
	s.cw = min(keyChunk, s.cpad)
	per, n := m.heads*m.headDim*m.state, 0
	cper := (m.dconv - 1) * m.cConv
	cpad := (cper + 15) &^ 15
	for i := range m.layers {
		if !m.layers[i].isAttn() {
			n += cpad + per
		}
	}
	ssm := dot.LargeFloats(s, n)
	for i := range m.layers {
		if m.layers[i].isAttn() {
			kd := m.nkv * m.hd
			s.k[i] = make([]float32, (s.cpad+s.cw-1)/s.cw*s.cw*kd)
			s.v[i] = make([]float32, m.Context*kd)
		} else {
			s.conv[i], ssm = ssm[:cper:cper], ssm[cpad:]
			s.ssm[i], ssm = ssm[:per:per], ssm[per:]
		}
	}
	return s
}

// Reset empties the state for a new sequence without allocating: the
// recurrent states are zeroed and the key/value cache is cleared up to the
// positions used (the score kernel reads keys up to the next multiple of 8,
// whose scores past the position are not used).
func (s *State) Reset() {
	for i := range s.conv {
		clear(s.conv[i])
		clear(s.ssm[i])
		if s.k[i] != nil {
			// Only the positions used (the keys' rows to the score
			// kernel's multiple of 8), so that a reset touches no page
			// the sequence did not.
			used := padContext(min(s.pos, s.ctx))
			kd := len(s.v[i]) / s.ctx
			for p0 := 0; p0 < used; p0 += s.cw {
				n := min(s.cw, used-p0)
				for c := 0; c < kd; c++ {
					at := s.keyAt(kd, c, p0)
					clear(s.k[i][at : at+n])
				}
			}
			used = min(len(s.v[i]), s.pos*(len(s.v[i])/s.ctx))
			clear(s.v[i][:used])
		}
	}
	s.pos = 0
}

// Step feeds one token and returns a fresh slice of next-token logits.
func (m *Model) Step(st *State, token int32) ([]float32, error) {
	l, err := m.Next(st, token)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), l...), nil
}

// Next is Step without the copy: the logits it returns are the model's
// buffer, valid until the next call on this Model.
func (m *Model) Next(st *State, token int32) ([]float32, error) {
	if st == nil || len(st.conv) != m.NLayers {
		return nil, fmt.Errorf("engine: Step needs a State from this model's NewState")
	}
	if st.pos >= m.Context {
		return nil, fmt.Errorf("engine: position %d is past the context length %d", st.pos, m.Context)
	}
	if token < 0 || int(token) >= m.V {
		return nil, fmt.Errorf("engine: token %d is outside the vocabulary [0, %d)", token, m.V)
	}
	w := m.ws
	m.embedRow(w.x, int(token))
	for i := range m.layers {
		l := &m.layers[i]
		rmsNorm(w.n, w.x, l.norm1, m.eps)
		if l.isAttn() {
			m.attnStep(l, st, i)
		} else {
			m.mambaStep(l, st.conv[i], st.ssm[i])
		}
		for j := range w.x {
			w.x[j] += w.tmp[j]
		}
		if l.w1 != nil {
			rmsNorm(w.n, w.x, l.norm2, m.eps)
			rs := m.sharedRS(l.w1, w.n)
			m.forwardRS(l.w1, w.h1, w.n, rs)
			m.forwardRS(l.w3, w.h3, w.n, rs)
			vec.SiLU(w.h1, w.sig[:len(w.h1)], w.h1)
			vec.Mul(w.h1, w.h1, w.h3)
			m.forward(l.w2, w.tmp, w.h1)
			for j := range w.x {
				w.x[j] += w.tmp[j]
			}
		}
	}
	rmsNorm(w.n, w.x, m.normF, m.eps)
	m.logits(w.logits, w.n)
	st.pos++
	return w.logits, nil
}

// sharedRS is SubLN's reciprocal RMS of x for projections that read the
// same input (the same value each would compute), or 0 without SubLN.
func (m *Model) sharedRS(l *linear, x []float32) float32 {
	if l.subln == nil {
		return 0
	}
	return m.subRS(x[:l.in])
}

// Prefill feeds the tokens in order and returns the logits after the last:
// like Next's, the model's buffer, valid until the next call on this Model.
func (m *Model) Prefill(st *State, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("engine: Prefill of no tokens")
	}
	var out []float32
	var err error
	for _, t := range tokens {
		if out, err = m.Next(st, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mambaStep runs one token through a Mamba-2 mixer: input w.n, output w.tmp.
func (m *Model) mambaStep(l *layer, conv, ssmState []float32) {
	w := m.ws
	m.forward(l.inProj, w.zx, w.n)
	K, C, dIn := m.dconv, m.cConv, m.dIn
	in := w.zx[dIn : dIn+C]
	var wb, xb [8][]float32
	ws, xs := wb[:0], xb[:0]
	for k := 0; k < K; k++ {
		ws = append(ws, l.convWT[k*C:(k+1)*C])
		if k == K-1 {
			xs = append(xs, in)
		} else {
			xs = append(xs, conv[k*C:(k+1)*C])
		}
	}
	vec.DotTaps(w.pre, l.convB, ws, xs)
	if K > 1 {
		copy(conv, conv[C:])
		copy(conv[(K-2)*C:], in)
	}
	// x, B and C lie side by side in pre and in act: one SiLU call.
	vec.SiLU(w.act, w.sig[:C], w.pre)
	raw := w.zx[dIn+C:]
	for h := 0; h < m.heads; h++ {
		w.dt[h] = kernels.Softplus32(raw[h] + l.dtBias[h])
	}
	// ssd.Step's arithmetic on the transposed state (dot.SSMStep).
	P, N := m.headDim, m.state
	for i := range w.bv64 {
		w.bv64[i], w.cv64[i] = float64(w.bm[i]), float64(w.cm[i])
	}
	// Heads are independent (each its own state and output): split over
	// the threads when the states are large enough to pay for it.
	if th := min(m.threads, max(1, m.heads*N*P/(1<<15))); th > 1 {
		w.ssm.l, w.ssm.state = l, ssmState
		kernels.Parallel(th, m.heads, w.ssmFn)
		w.ssm.l, w.ssm.state = nil, nil
	} else {
		m.ssmHeads(l, ssmState, 0, m.heads)
	}
	vec.SiLU(w.g, w.sig[:dIn], w.zx[:dIn])
	for h := 0; h < m.heads; h++ {
		vec.AxpyExact(w.y[h*P:h*P+P], w.xs[h*P:h*P+P], float64(l.Dsk[h]))
	}
	vec.Mul(w.g, w.y, w.g)
	rmsNorm(w.nrm, w.g, l.ssmNorm, m.eps)
	m.forward(l.outProj, w.tmp, w.nrm)
}

// ssmHeads runs the state update of heads [lo, hi) (dot.SSMStep).
func (m *Model) ssmHeads(l *layer, ssmState []float32, lo, hi int) {
	w := m.ws
	P, N := m.headDim, m.state
	hpg := m.heads / m.groups
	for h := lo; h < hi; h++ {
		g := h / hpg
		dts := float64(w.dt[h])
		decay := kernels.Exp(float64(dts * float64(l.A[h])))
		u := w.u64[h*P : h*P+P]
		for p, x := range w.xs[h*P : h*P+P] {
			u[p] = float64(dts * float64(x))
		}
		dot.SSMStep(ssmState[h*N*P:(h+1)*N*P], u, w.bv64[g*N:g*N+N], w.cv64[g*N:g*N+N], w.y[h*P:h*P+P], decay)
	}
}

// attnStep runs one token through grouped-query attention with RoPE,
// appending its key and value to the cache: input w.n, output w.tmp. The
// keys are stored transposed so that dot.FMACols computes the scores of
// eight positions per vector, each one the ascending chain of FMAs over the
// head dimension; dot.FMARows sums the value rows in ascending position.
func (m *Model) attnStep(l *layer, st *State, i int) {
	w := m.ws
	pos, hd, kd, cw := st.pos, m.hd, m.nkv*m.hd, st.cw
	kt, vc := st.k[i], st.v[i]
	rs := m.sharedRS(l.wq, w.n)
	m.forwardRS(l.wq, w.q8, w.n, rs)
	m.forwardRS(l.wk, w.knew, w.n, rs)
	m.forwardRS(l.wv, vc[pos*kd:(pos+1)*kd], w.n, rs)
	for h := 0; h < m.nh; h++ {
		m.rotate(w.q8[h*hd:h*hd+hd], pos)
	}
	for h := 0; h < m.nkv; h++ {
		m.rotate(w.knew[h*hd:h*hd+hd], pos)
	}
	for c, k := range w.knew {
		kt[st.keyAt(kd, c, pos)] = k
	}
	grp := m.nh / m.nkv
	scale := float32(1 / math.Sqrt(float64(hd)))
	n := pos + 1
	probs := w.probs[:n]
	for h := 0; h < m.nh; h++ {
		q := w.q8[h*hd : h*hd+hd]
		kv := h / grp
		// One score call per key chunk; each position's chain is the same.
		for p0 := 0; p0 < n; p0 += cw {
			dot.FMACols(w.probs[p0:], q, kt[st.keyAt(kd, kv*hd, p0):], cw, min(cw, padContext(n)-p0))
		}
		// The scalar loops' operations, vectorised: float32 products,
		// the max built-in's maximum, float32(float64(p)·inv).
		vec.Scale(probs, probs, scale)
		mx := vec.Max(probs)
		inv := 1 / vec.ExpShift(probs, probs, mx)
		vec.ScaleF64(probs, inv)
		dot.FMARows(w.att[h*hd:h*hd+hd], probs, vc[kv*hd:], kd)
	}
	m.forward(l.wo, w.tmp, w.att)
}

// rotate applies RoPE at pos to one head vector (adjacent pairs), with the
// model's rounding.
func (m *Model) rotate(x []float32, pos int) {
	half := m.hd / 2
	if pos >= m.ropeRows {
		m.fillRope(pos)
	}
	cs, sn := m.ropeCos[pos*half:], m.ropeSin[pos*half:]
	for i := 0; i < half; i++ {
		c, s := cs[i], sn[i]
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = float32(x0*c) - float32(x1*s)
		x[2*i+1] = float32(x0*s) + float32(x1*c)
	}
}
