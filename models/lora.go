package models

import (
	"fmt"
	"math"
	"strings"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/rng"
)

// LoRA adapters (Hu et al. 2021; METHODS §9.5): a projection y = W_eff·x
// becomes y = W_eff·x + (alpha/rank)·B·A·dropout(x), A ∈ ℝ^{r×in}
// (Kaiming-uniform, a = √5), B ∈ ℝ^{out×r} (zero), so an attached adapter
// starts as the identity change. The adapter reads the projection's float
// input (after SubLN when it is on, before activation quantization); the
// base weight stays as the quant state makes it, so on a ternary base this
// is QLoRA's setting: a quantized frozen base with float adapters. The
// adapters work in training, scoring and decoding alike.

// LoRATargetKinds are the module kinds an adapter can target.
var LoRATargetKinds = []string{"in_proj", "out_proj", "wq", "wk", "wv", "wo", "w1", "w2", "w3"}

// LoRAOptions configure AttachLoRA.
type LoRAOptions struct {
	Rank    int
	Alpha   float64 // scale = Alpha/Rank
	Dropout float64 // on the adapter's input, in training only (SetLoRADropout)
	// Targets are module kinds (LoRATargetKinds): a projection is adapted
	// when the last part of its name is one of them.
	Targets []string
	Seed    int64 // initialises A and keys the dropout masks
}

// LoRAModule is one adapted projection.
type LoRAModule struct {
	// Module is the projection's weight name, e.g. "layers.0.mamba.in_proj".
	Module string
	A, B   *Param // A: [rank, in], B: [out, rank]
	In     int
	Out    int
}

type loraAdapter struct {
	mod     LoRAModule
	rank    int
	scale   float32
	dropout float64
	drop    *loraShared
}

// loraShared is what the adapters of a model share: the dropout switch
// and the key of its masks, and scratch buffers that hold one adapter's
// dropped-out input or input gradient at a time (the projections run one
// after another).
type loraShared struct {
	on         bool
	seed, step int64
	micro      int
	u, du      []float32
	hsT, bT    []float32 // r×rows and r×out: transposed operands (lora.go's GEMMs)
	bgT        []float32 // r×out: B's gradient, transposed while it accumulates
}

// transpose writes dst (cols×rows) = src (rows×cols)ᵀ.
func transpose(dst, src []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
}

// scratch returns the first n elements of *buf, grown when it is shorter.
func scratch(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// loraActs are one adapter's activations for a row count.
type loraActs struct {
	rows int
	x    []float32 // the adapter's input (the projection's float input)
	// keep is the dropout mask of the last forward pass (element kept and
	// scaled by 1/(1−p), or dropped); dropped says whether it applies.
	// The dropped-out input is rebuilt from x and keep when backward needs
	// it, bit for bit what forward multiplied.
	keep    []uint8 // 1: kept, 0: dropped
	dropped bool
	hs, dh  []float32 // rows×r: scale·x·Aᵀ; r×rows: its gradient, transposed
}

// AttachLoRA adds adapters to every BitLinear projection of the target
// kinds. It refuses a model that already has adapters.
func (m *Model) AttachLoRA(o LoRAOptions) error {
	if len(m.loraMods()) > 0 {
		return fmt.Errorf("models: AttachLoRA: the model already has LoRA adapters")
	}
	if o.Rank < 1 {
		return fmt.Errorf("models: lora rank %d must be at least 1", o.Rank)
	}
	if !(o.Alpha > 0) || math.IsInf(o.Alpha, 0) {
		return fmt.Errorf("models: lora alpha %v must be a positive number", o.Alpha)
	}
	if !(o.Dropout >= 0 && o.Dropout < 1) {
		return fmt.Errorf("models: lora dropout %v must be in [0, 1)", o.Dropout)
	}
	want := map[string]bool{}
	for _, t := range o.Targets {
		ok := false
		for _, k := range LoRATargetKinds {
			ok = ok || k == t
		}
		if !ok {
			return fmt.Errorf("models: unknown LoRA target %q (valid: %s)", t, strings.Join(LoRATargetKinds, ", "))
		}
		want[t] = true
	}
	drop := &loraShared{seed: o.Seed}
	n := 0
	for _, l := range m.lins {
		name := l.w.Name
		if !want[name[strings.LastIndex(name, ".")+1:]] {
			continue
		}
		if o.Rank > min(l.in, l.out) {
			return fmt.Errorf("models: lora rank %d exceeds the smaller side of %s [%d, %d]", o.Rank, name, l.out, l.in)
		}
		a := NewParam(name+".lora_A", false, o.Rank, l.in)
		b := NewParam(name+".lora_B", false, l.out, o.Rank)
		// Kaiming-uniform with a = √5: bound = √(6/((1+a²)·fan_in)) = 1/√in.
		r := rng.New(o.Seed, "lora/init/"+name)
		bound := 1 / math.Sqrt(float64(l.in))
		for i := range a.Data {
			a.Data[i] = float32(float64(2*r.Float64()-1) * bound)
		}
		l.lora = &loraAdapter{mod: LoRAModule{Module: name, A: a, B: b, In: l.in, Out: l.out}, rank: o.Rank,
			scale: float32(o.Alpha / float64(o.Rank)), dropout: o.Dropout, drop: drop}
		n++
	}
	if n == 0 {
		return fmt.Errorf("models: no projection matches the LoRA targets %v", o.Targets)
	}
	return nil
}

func (m *Model) loraMods() []*loraAdapter {
	var out []*loraAdapter
	for _, l := range m.lins {
		if l.lora != nil {
			out = append(out, l.lora)
		}
	}
	return out
}

// LoRA returns the adapted projections in model order.
func (m *Model) LoRA() []LoRAModule {
	var out []LoRAModule
	for _, a := range m.loraMods() {
		out = append(out, a.mod)
	}
	return out
}

// LoRAParams returns every adapter tensor (A then B per module, in model
// order): the only trainable tensors of a fine-tune.
func (m *Model) LoRAParams() []*Param {
	var out []*Param
	for _, a := range m.loraMods() {
		out = append(out, a.mod.A, a.mod.B)
	}
	return out
}

// LoRAScale returns alpha/rank of the attached adapters (0 without any).
func (m *Model) LoRAScale() float32 {
	if ms := m.loraMods(); len(ms) > 0 {
		return ms[0].scale
	}
	return 0
}

// SetLoRADropout switches the adapters' input dropout on for the given
// training step and micro-batch (the masks are drawn from the stream
// (seed, "lora/dropout/<module>/<step>/<micro>"), so resumed runs and any
// thread count draw the same ones) or off (on = false: scoring, decoding).
func (m *Model) SetLoRADropout(on bool, step int64, micro int) {
	if mods := m.loraMods(); len(mods) > 0 {
		d := mods[0].drop // one switch shared by all adapters
		d.on, d.step, d.micro = on, step, micro
	}
}

// MergeLoRA folds every adapter into its base weight, W ← W + (alpha/rank)·B·A,
// and removes the adapters. W is the latent (unquantized) weight, so the
// merged model is re-quantized by the model's quant state as the base was.
func (m *Model) MergeLoRA() error {
	mods := m.loraMods()
	if len(mods) == 0 {
		return fmt.Errorf("models: MergeLoRA: the model has no LoRA adapters")
	}
	m.dropPacked()
	for _, l := range m.lins {
		ad := l.lora
		if ad == nil {
			continue
		}
		bs := make([]float32, len(ad.mod.B.Data))
		vec.Scale(bs, ad.mod.B.Data, ad.scale)
		kernels.MatMul(m.threads, l.w.Data, bs, ad.mod.A.Data, l.out, ad.rank, l.in, true)
		l.lora = nil
	}
	return nil
}

// DetachLoRA removes the adapters without merging them.
func (m *Model) DetachLoRA() {
	for _, l := range m.lins {
		l.lora = nil
	}
}

// FreezeBase freezes (on) or thaws every BitLinear weight, the base of a
// LoRA fine-tune. A frozen weight gets no gradient: backward passes skip
// its weight-gradient GEMM and its gradient buffer is released (Param.Grad
// is nil while frozen, so an optimizer must not be given it). Input
// gradients keep their bits, and so do the adapters' gradients and those
// of every other parameter (embedding, norms, Mamba's scalars), which are
// still computed. Thawing gives each weight a zeroed gradient buffer.
func (m *Model) FreezeBase(on bool) {
	for _, l := range m.lins {
		if l.frozen == on {
			continue
		}
		l.frozen = on
		if on {
			l.w.Grad = nil
		} else {
			l.w.Grad = make([]float32, len(l.w.Data))
		}
	}
}

// BaseFrozen reports whether the BitLinear weights are frozen (FreezeBase).
func (m *Model) BaseFrozen() bool { return len(m.lins) > 0 && m.lins[0].frozen }

// loraInput is the input the adapter of l reads: the SubLN output when
// SubLN is on, else x.
func (l *bitLinear) loraInput(a *linearActs, x []float32, rows int) []float32 {
	if l.subln != nil {
		return a.sub.out[:rows*l.in]
	}
	return x[:rows*l.in]
}

func (ad *loraAdapter) acts(a *linearActs, rows int) *loraActs {
	if a.ad != nil && a.ad.rows == rows {
		return a.ad
	}
	r := ad.rank
	a.ad = &loraActs{rows: rows, hs: make([]float32, rows*r), dh: make([]float32, rows*r)}
	return a.ad
}

// applyMask writes dst = x·m elementwise, m being 1/(1−p) where keep is 1
// and 0 where it is 0: the products of a float mask, so the bits are those
// of vec.Mul with it. The factor is looked up, not branched on (the mask
// is random).
func (ad *loraAdapter) applyMask(threads int, dst, x []float32, keep []uint8, rows int) {
	in := ad.mod.In
	tbl := [2]float32{0, float32(1 / (1 - ad.dropout))}
	kernels.Parallel(threads, rows, func(lo, hi int) {
		d, xs, ks := dst[lo*in:hi*in], x[lo*in:hi*in], keep[lo*in:hi*in]
		for i := range d {
			d[i] = xs[i] * tbl[ks[i]&1]
		}
	})
}

// dropMask sets keep[i] = 1 where the stream's i-th uniform u_i (its
// Float64) satisfies u_i ≥ p, else 0, threads splitting the rows (the
// stream is counter-based: a row block starts at its counter). u_i ≥ p is
// decided on the 53-bit integer k_i = u_i·2⁵³ as k_i ≥ ⌈p·2⁵³⌉, exactly
// the float comparison (u_i and p·2⁵³ are exact in float64), without a
// branch.
func dropMask(threads int, keep []uint8, st rng.Stream, p float64, rows, in int) {
	t := uint64(math.Ceil(p * (1 << 53)))
	c0 := st.Counter
	kernels.Parallel(threads, rows, func(lo, hi int) {
		s := st
		s.Counter = c0 + uint64(lo*in)
		ks := keep[lo*in : hi*in]
		for i := range ks {
			k := s.Uint64() >> 11
			ks[i] = 1 ^ uint8((k-t)>>63) // k < t: k−t wraps to a top bit of 1
		}
	})
}

// forward adds scale·dropout(x)·Aᵀ·Bᵀ to y (rows×out).
func (ad *loraAdapter) forward(threads int, a *linearActs, y, x []float32, rows int) {
	s := ad.acts(a, rows)
	in, out, r := ad.mod.In, ad.mod.Out, ad.rank
	n := rows * in
	s.x, s.dropped = x[:n], false
	xin := s.x
	if ad.drop.on && ad.dropout > 0 {
		if len(s.keep) != n {
			s.keep = make([]uint8, n)
		}
		st := rng.New(ad.drop.seed, fmt.Sprintf("lora/dropout/%s/%d/%d", ad.mod.Module, ad.drop.step, ad.drop.micro))
		dropMask(threads, s.keep, *st, ad.dropout, rows, in)
		s.dropped = true
		xin = scratch(&ad.drop.u, n)
		ad.applyMask(threads, xin, s.x, s.keep, rows)
	}
	// hs = x·Aᵀ as hsᵀ = A·xᵀ: the same chain per element (the GEMM's
	// order runs over K only), with the rank on the GEMM's row side,
	// where a thin operand fills the micro-kernel's tile better.
	hsT := scratch(&ad.drop.hsT, r*rows)
	kernels.MatMulNT(threads, hsT, ad.mod.A.Data, xin, r, in, rows, false)
	transpose(s.hs, hsT, r, rows)
	vec.Scale(s.hs, s.hs, ad.scale)
	kernels.MatMulNT(threads, y[:rows*out], s.hs, ad.mod.B.Data, rows, r, out, true)
}

// backward accumulates the adapter's gradients and adds its part of the
// input gradient to dx (rows×in).
func (ad *loraAdapter) backward(threads int, a *linearActs, dy, dx []float32, rows int) {
	s := a.ad
	in, out, r := ad.mod.In, ad.mod.Out, ad.rank
	n := rows * in
	dy = dy[:rows*out]
	xin := s.x
	if s.dropped {
		xin = scratch(&ad.drop.u, n)
		ad.applyMask(threads, xin, s.x, s.keep, rows)
	}
	// The products with the rank as the output's thin side run transposed
	// (rank on the row side): the same chain per element, so the same bits.
	// dBᵀ += hsᵀ·dy, from and back to B's gradient layout.
	bgT := scratch(&ad.drop.bgT, r*out)
	transpose(bgT, ad.mod.B.Grad, out, r)
	kernels.MatMulTN(threads, bgT, s.hs, dy, r, rows, out, true)
	transpose(ad.mod.B.Grad, bgT, r, out)
	// dhᵀ = Bᵀ·dyᵀ (r×rows), scaled.
	bT := scratch(&ad.drop.bT, r*out)
	transpose(bT, ad.mod.B.Data, out, r)
	dhT := s.dh
	kernels.MatMulNT(threads, dhT, bT, dy, r, out, rows, false)
	vec.Scale(dhT, dhT, ad.scale)
	// dA += dh^T·x = dhᵀ·x; du = dh·A = (dhᵀ)ᵀ·A.
	kernels.MatMul(threads, ad.mod.A.Grad, dhT, xin, r, rows, in, true)
	du := scratch(&ad.drop.du, n)
	kernels.MatMulTN(threads, du, dhT, ad.mod.A.Data, rows, r, in, false)
	if s.dropped {
		ad.applyMask(threads, du, du, s.keep, rows)
	}
	kernels.Parallel(threads, rows, func(lo, hi int) {
		vec.Add(dx[lo*in:hi*in], dx[lo*in:hi*in], du[lo*in:hi*in])
	})
}
