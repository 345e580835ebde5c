package models

import (
	"fmt"
	"math"
	"sort"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/rng"
)

// Model is a NanoMamba-Edge network with its parameters and activation
// workspaces. It is not safe for concurrent use.
type Model struct {
	arch      arch
	q         *quantizer
	threads   int
	recompute bool
	arith     Arithmetic // Step's arithmetic (SetArithmetic)

	params []*Param
	byName map[string]*Param

	embed  *Param
	layers []*block
	normF  *rmsNorm
	lins   []*bitLinear
	rope   *ropeTable

	ws     *workspace // training / scoring activations for the last shape
	stepWS *stepWorkspace

	// headPacked is the embedding packed as the head's GEMM operand, with
	// every BitLinear's packed weight (packWeights); dropped by
	// dropPacked.
	headPacked *kernels.PackedNT
}

// block is one pre-norm residual layer: x + mixer(norm1(x)), then
// optionally h + ffn(norm2(h)).
type block struct {
	norm1, norm2 *rmsNorm
	attn         *attention
	mamba        *mamba2
	ffn          *swiGLU
}

// New validates the configs and builds a model initialised from seed.
func New(mc configs.ModelConfig, qc configs.QuantConfig, seed int64) (*Model, error) {
	a, err := validate(mc)
	if err != nil {
		return nil, err
	}
	qs, err := newQuantSpec(qc)
	if err != nil {
		return nil, err
	}
	m := &Model{arch: a, q: &quantizer{spec: qs}, threads: 1, byName: map[string]*Param{}}
	for _, s := range a.specs(qs) {
		p := NewParam(s.name, s.noDecay, s.shape...)
		initParam(p, s, seed)
		m.params = append(m.params, p)
		m.byName[s.name] = p
	}
	m.embed = m.byName["tok_embed"]
	norm := func(name string, dim int) *rmsNorm {
		return &rmsNorm{dim: dim, eps: mc.NormEps, gain: m.byName[name]}
	}
	lin := func(name string) *bitLinear {
		p := m.byName[name]
		l := &bitLinear{out: p.Shape[0], in: p.Shape[1], w: p, q: m.q}
		if qs.subln {
			l.subln = norm(name+".subln", l.in)
		}
		m.lins = append(m.lins, l)
		return l
	}
	if a.hasAttention {
		m.rope = newRopeTable(mc.Context, a.hd, mc.RopeTheta)
	}
	for i := 0; i < mc.NLayers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		b := &block{norm1: norm(p+"norm1", mc.DModel)}
		if a.attn[i] {
			b.attn = &attention{dim: mc.DModel, nh: mc.NHeads, nkv: mc.NKVHeads, hd: a.hd, rope: m.rope,
				wq: lin(p + "attn.wq"), wk: lin(p + "attn.wk"), wv: lin(p + "attn.wv"), wo: lin(p + "attn.wo")}
		} else {
			mp := p + "mamba."
			b.mamba = &mamba2{dim: mc.DModel, dIn: a.dIn, heads: a.heads, headDim: mc.HeadDim, groups: mc.NGroups,
				state: mc.DState, conv: mc.DConv, chunk: mc.Chunk, cConv: a.cConv, dProj: a.dProj,
				inProj: lin(mp + "in_proj"), convW: m.byName[mp+"conv_w"], convB: m.byName[mp+"conv_b"],
				dtBias: m.byName[mp+"dt_bias"], aLog: m.byName[mp+"A_log"], d: m.byName[mp+"D"],
				norm: norm(mp+"norm", a.dIn), outProj: lin(mp + "out_proj")}
		}
		if mc.FFN {
			b.norm2 = norm(p+"norm2", mc.DModel)
			b.ffn = &swiGLU{dim: mc.DModel, hidden: mc.DFF, w1: lin(p + "ffn.w1"), w3: lin(p + "ffn.w3"), w2: lin(p + "ffn.w2")}
		}
		m.layers = append(m.layers, b)
	}
	m.normF = norm("norm_f", mc.DModel)
	return m, nil
}

// Dt initialisation range of Mamba-2 (dt_min, dt_max, dt_init_floor).
const (
	dtMin   = 1e-3
	dtMax   = 0.1
	dtFloor = 1e-4
)

func initParam(p *Param, s tensorSpec, seed int64) {
	r := rng.New(seed, "init/"+p.Name)
	switch s.init {
	case initOne:
		for i := range p.Data {
			p.Data[i] = 1
		}
	case initNormal:
		for i := range p.Data {
			p.Data[i] = float32(float64(r.Norm() * s.std))
		}
	case initUniform:
		for i := range p.Data {
			u := float64(2*r.Float64()-1) * s.bound
			p.Data[i] = float32(float64(u * s.scale))
		}
	case initDtBias:
		lo, hi := kernels.Log(dtMin), kernels.Log(dtMax)
		for i := range p.Data {
			dt := kernels.Exp(float64(r.Float64()*(hi-lo)) + lo)
			dt = math.Max(dt, dtFloor)
			p.Data[i] = float32(kernels.Log(kernels.Exp(dt) - 1)) // inverse softplus
		}
	case initALog:
		for i := range p.Data {
			p.Data[i] = float32(kernels.Log(1 + float64(15*r.Float64())))
		}
	}
}

// Config returns the model configuration.
func (m *Model) Config() configs.ModelConfig { return m.arch.mc }

// Params returns the parameters in a stable order with unique names.
func (m *Model) Params() []*Param { return m.params }

// Param returns the named parameter, or nil if there is none.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// SetThreads sets the number of worker goroutines (at least 1). Results do
// not depend on it.
func (m *Model) SetThreads(n int) { m.threads = max(n, 1) }

// SetRecompute chooses how training keeps activations: off (the default)
// stores every block's activations from the forward pass for the backward
// pass; on keeps only the residual stream at block boundaries and reruns
// each block's forward from its input just before its backward, so that
// one block's activations are live at a time (about one extra forward pass
// of work). Results are bit for bit the same either way, like the thread
// count, so it is a runtime choice outside the config hash.
func (m *Model) SetRecompute(on bool) { m.recompute = on }

// Recompute reports whether training recomputes block activations (see
// SetRecompute).
func (m *Model) Recompute() bool { return m.recompute }

// SetQuant sets the QAT state of every BitLinear. Lambda is clamped to
// [0, 1] (NaN counts as 0); unknown quantizers count as Float.
func (m *Model) SetQuant(s QuantState) {
	if !(s.Lambda > 0) {
		s.Lambda = 0
	}
	s.Lambda = min(s.Lambda, 1)
	if s.From < Float || s.From > Ternary {
		s.From = Float
	}
	if s.To < Float || s.To > Ternary {
		s.To = Float
	}
	m.q.state = s
	m.dropPacked()
}

// Quant returns the current QAT state.
func (m *Model) Quant() QuantState { return m.q.state }

// ZeroGrad zeroes every parameter gradient.
func (m *Model) ZeroGrad() {
	// One parallel pass over all gradients, in blocks of 4096 values.
	const block = 4096
	var starts []int // the first block of each parameter, then the total
	n := 0
	for _, p := range m.params {
		starts = append(starts, n)
		n += (len(p.Grad) + block - 1) / block
	}
	starts = append(starts, n)
	kernels.Parallel(m.threads, n, func(lo, hi int) {
		for i, p := range m.params {
			b0, b1 := max(lo, starts[i]), min(hi, starts[i+1])
			if b0 < b1 {
				clear(p.Grad[(b0-starts[i])*block : min((b1-starts[i])*block, len(p.Grad))])
			}
		}
	})
}

// EffectiveWeight returns a copy of the weight the named BitLinear uses
// under the current quant state, or nil if name is not a BitLinear weight.
func (m *Model) EffectiveWeight(name string) []float32 {
	for _, l := range m.lins {
		if l.w.Name == name {
			m.dropPacked()
			l.refresh()
			return append([]float32(nil), l.eff...)
		}
	}
	return nil
}

// packWeights packs every effective weight and the head's embedding for
// the GEMMs (kernels.PackNT), for passes that run while the weights do not
// change; refresh must have run. The packed copies hold about as much
// memory as the float32 weights (padded to whole panels). The next refresh,
// SetQuant, MergeLoRA or EffectiveWeight drops the packing (dropPacked),
// and the products then pack their operands again per call, as before;
// weightsPacked reports whether the packing is in place.
func (m *Model) packWeights() {
	for _, l := range m.lins {
		l.packed = kernels.PackNT(l.eff, l.out, l.in)
	}
	D, V := m.arch.mc.DModel, m.arch.mc.Vocab
	m.headPacked = kernels.PackNT(m.embed.Data, V, D)
}

// weightsPacked reports whether packWeights ran since the last refresh.
func (m *Model) weightsPacked() bool { return m.headPacked != nil }

// dropPacked forgets every packed weight: anything that changes a weight
// or the quantization state calls it, so that no product reads a stale
// packing and weightsPacked is false until packWeights runs again.
func (m *Model) dropPacked() {
	m.headPacked = nil
	for _, l := range m.lins {
		l.packed, l.tern = nil, nil
	}
}

// refreshBlock is the number of weights one task of refresh quantizes.
const refreshBlock = 1 << 14

// refresh recomputes every effective weight: first the per-tensor
// statistics (each a sequential sum, tensors split over threads), then the
// element-wise quantization split over threads in blocks of all tensors.
func (m *Model) refresh() {
	m.dropPacked()
	type task struct {
		l      *bitLinear
		lo, hi int
	}
	var lins []*bitLinear
	for _, l := range m.lins {
		if l.prepare() {
			lins = append(lins, l)
		}
	}
	if len(lins) == 0 {
		return
	}
	stats := m.weightStats(lins)
	var tasks []task
	var st []float32
	for i, l := range lins {
		n := len(l.w.Data)
		for lo := 0; lo < n; lo += refreshBlock {
			tasks = append(tasks, task{l, lo, min(lo+refreshBlock, n)})
			st = append(st, stats[i])
		}
	}
	kernels.Parallel(m.threads, len(tasks), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			tasks[i].l.refreshRange(tasks[i].lo, tasks[i].hi, st[i])
		}
	})
}

// weightStats returns the statistic of every weight. Mean |W| sums tensors
// of one size together, eight at a time (vec.AbsSums: each sum still runs
// over its tensor in index order); the groups are spread over the threads
// by size.
func (m *Model) weightStats(lins []*bitLinear) []float32 {
	stats := make([]float32, len(lins))
	spec := m.q.spec
	if spec.scale != absMean {
		kernels.Parallel(m.threads, len(lins), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				stats[i] = spec.statistic(lins[i].w.Data)
			}
		})
		return stats
	}
	// Groups of at most eight tensors of one length, in order of first use.
	var groups [][]int
	open := map[int]int{} // length → index of its group being filled
	for i, l := range lins {
		n := len(l.w.Data)
		if g, ok := open[n]; ok && len(groups[g]) < 8 {
			groups[g] = append(groups[g], i)
			continue
		}
		open[n] = len(groups)
		groups = append(groups, []int{i})
	}
	// Largest first, each to the least loaded thread.
	th := min(m.threads, len(groups))
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	size := func(g int) int { return len(lins[groups[g][0]].w.Data) }
	sort.SliceStable(order, func(a, b int) bool { return size(order[a]) > size(order[b]) })
	bins := make([][]int, th)
	load := make([]int, th)
	for _, g := range order {
		k := 0
		for j := range load {
			if load[j] < load[k] {
				k = j
			}
		}
		bins[k] = append(bins[k], g)
		load[k] += size(g)
	}
	kernels.Parallel(th, th, func(lo, hi int) {
		var xs [][]float32
		var sums [8]float64
		for _, bin := range bins[lo:hi] {
			for _, g := range bin {
				xs = xs[:0]
				for _, i := range groups[g] {
					xs = append(xs, lins[i].w.Data)
				}
				vec.AbsSums(sums[:len(xs)], xs)
				for k, i := range groups[g] {
					stats[i] = absMeanOf(sums[k], len(lins[i].w.Data))
				}
			}
		}
	})
	return stats
}
