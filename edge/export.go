package edge

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/spec"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
)

// FloatWeights reports whether t stores float (not ternary) projection
// weights.
func FloatWeights(t gguf.Type) bool { return t == gguf.F16 || t == gguf.Q8_0 }

// RowMultiple is the multiple ternary rows are padded to (ggml's QK_K).
const RowMultiple = gguf.QK_K

// llama.cpp's general.file_type values (LLAMA_FTYPE_MOSTLY_*).
const (
	fileTypeF16   = 1
	fileTypeQ8_0  = 7
	fileTypeTQ1_0 = 36
	fileTypeTQ2_0 = 37
)

// Options select the storage types of an export.
type Options struct {
	// Weights is gguf.TQ2_0 (default) or gguf.TQ1_0 for ternary BitLinear
	// weights, or gguf.F16 / gguf.Q8_0 for a model whose weights are not
	// quantized (quant state Float, no activation quantization: e.g. an
	// imported llama2.c checkpoint), stored as they are (rows padded with
	// zeros to the block size) under quant.weights = "float".
	Weights gguf.Type
	// Embed is gguf.F32 (the zero value), gguf.F16, gguf.Q8_0, gguf.Q4_0 or
	// gguf.Q3_K (ggml's 3.4375-bit k-quant; d_model must be a multiple of
	// 256).
	Embed gguf.Type
	// Name is general.name (default "nanomamba").
	Name string
}

// Provenance says where the model came from.
type Provenance struct {
	RunHash    string // config hash of the training run
	ConfigJSON string // its canonical resolved config
	CodeCommit string // git commit the run was trained at
	CodeDirty  bool
}

func (o *Options) fill() error {
	if o.Weights == 0 {
		o.Weights = gguf.TQ2_0
	}
	switch o.Weights {
	case gguf.TQ2_0, gguf.TQ1_0, gguf.F16, gguf.Q8_0:
	default:
		return fmt.Errorf("edge: weights type %s: BitLinear weights are exported as TQ2_0 or TQ1_0 (ternary) or F16 or Q8_0 (float models)", o.Weights)
	}
	switch o.Embed {
	case gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.Q3_K:
	default:
		return fmt.Errorf("edge: embedding type %s: use F32, F16, Q8_0, Q4_0 or Q3_K", o.Embed)
	}
	if o.Name == "" {
		o.Name = spec.Arch
	}
	return nil
}

// embedFits lists the embedding types whose block size divides d.
func embedFits(d int) string {
	var fit []string
	for _, t := range []gguf.Type{gguf.F16, gguf.F32, gguf.Q8_0, gguf.Q4_0, gguf.Q3_K} {
		if d%t.BlockSize() == 0 {
			fit = append(fit, strings.ToLower(t.String()))
		}
	}
	return strings.Join(fit, ", ")
}

// bitLinearNames maps the model's BitLinear parameter suffixes to GGUF names.
var bitLinearNames = []struct{ param, gguf string }{
	{"attn.wq", "attn_q"}, {"attn.wk", "attn_k"}, {"attn.wv", "attn_v"}, {"attn.wo", "attn_output"},
	{"mamba.in_proj", "ssm_in"}, {"mamba.out_proj", "ssm_out"},
	{"ffn.w1", "ffn_gate"}, {"ffn.w3", "ffn_up"}, {"ffn.w2", "ffn_down"},
}

// TernaryWeight returns the codes t ∈ {−1, 0, 1} (as float32) and the scale
// γ of a BitLinear weight under the model's current quant state: the
// effective weight must be exactly γ·t. An all-zero weight has γ = 0.
func TernaryWeight(m *models.Model, name string) ([]float32, float32, error) {
	eff := m.EffectiveWeight(name)
	if eff == nil {
		return nil, 0, fmt.Errorf("edge: %s is not a BitLinear weight of the model", name)
	}
	var g float32
	for _, v := range eff {
		if v != 0 {
			g = float32(math.Abs(float64(v)))
			break
		}
	}
	t := make([]float32, len(eff))
	for i, v := range eff {
		switch {
		case v == 0:
		case v == g:
			t[i] = 1
		case v == -g:
			t[i] = -1
		default:
			q := m.Quant()
			return nil, 0, fmt.Errorf("edge: %s is not ternary under the model's quant state (from %s to %s, λ = %v): element %d is %v, the scale is %v; only runs that end in ternary QAT can be exported",
				name, q.From, q.To, q.Lambda, i, v, g)
		}
	}
	return t, g, nil
}

// Export builds the GGUF file of a model whose BitLinear weights are
// ternary under its current quant state. qc is the run's quant config (the
// activation bits and SubLN flag the decoder must reproduce); tok may be
// nil for a file without a tokenizer.
func Export(m *models.Model, qc configs.QuantConfig, tok *data.Tokenizer, o Options, p Provenance) (*gguf.File, error) {
	if m == nil {
		return nil, fmt.Errorf("edge: Export of a nil model")
	}
	if err := o.fill(); err != nil {
		return nil, err
	}
	mc := m.Config()
	D, V := mc.DModel, mc.Vocab
	if qc.ActBits != 0 && (qc.ActBits < 2 || qc.ActBits > 8) {
		return nil, fmt.Errorf("edge: quant.act_bits %d: the int8 decoder supports 0 (none) or 2..8 bits", qc.ActBits)
	}
	if bs := o.Embed.BlockSize(); bs > 1 && D%bs != 0 {
		return nil, fmt.Errorf("edge: embedding type %s needs d_model to be a multiple of %d (d_model is %d); use %s instead",
			o.Embed, bs, D, embedFits(D))
	}
	f := &gguf.File{}
	kv := f.Set
	kv("general.architecture", gguf.String(spec.Arch))
	kv("general.name", gguf.String(o.Name))
	kv("general.alignment", gguf.Uint32(gguf.DefaultAlignment))
	kv("general.quantization_version", gguf.Uint32(gguf.QuantizationVersion))
	float := FloatWeights(o.Weights)
	if float {
		if q := m.Quant(); q.From != models.Float || q.To != models.Float {
			return nil, fmt.Errorf("edge: weights type %s stores float weights, but the model's weights are quantized (from %s to %s); use tq2_0 or tq1_0", o.Weights, q.From, q.To)
		}
		if qc.ActBits != 0 {
			return nil, fmt.Errorf("edge: weights type %s: float weights run without activation quantization, but quant.act_bits is %d", o.Weights, qc.ActBits)
		}
	}
	ft := map[gguf.Type]uint32{gguf.TQ2_0: fileTypeTQ2_0, gguf.TQ1_0: fileTypeTQ1_0, gguf.F16: fileTypeF16, gguf.Q8_0: fileTypeQ8_0}[o.Weights]
	kv("general.file_type", gguf.Uint32(ft))

	// Layer kinds from the parameters themselves.
	var attnLayers []uint32
	for i := 0; i < mc.NLayers; i++ {
		if m.Param(fmt.Sprintf("layers.%d.attn.wq", i)) != nil {
			attnLayers = append(attnLayers, uint32(i))
		}
	}
	hasMamba := len(attnLayers) < mc.NLayers
	a := func(k string, v gguf.Value) { kv(spec.Arch+"."+k, v) }
	u := func(k string, v int) { a(k, gguf.Uint32(uint32(v))) }
	u("context_length", mc.Context)
	u("embedding_length", D)
	u("block_count", mc.NLayers)
	u("vocab_size", V)
	a("ffn", gguf.Bool(mc.FFN))
	dff := 0
	if mc.FFN {
		dff = mc.DFF
	}
	u("feed_forward_length", dff)
	a("norm_eps", gguf.Float64(mc.NormEps))
	a("attention.layers", gguf.Uint32s(append([]uint32{}, attnLayers...)))
	if len(attnLayers) > 0 {
		u("attention.head_count", mc.NHeads)
		u("attention.head_count_kv", mc.NKVHeads)
		u("attention.key_length", D/mc.NHeads)
		a("attention.layer_norm_rms_epsilon", gguf.Float32(float32(mc.NormEps)))
		a("rope.freq_base", gguf.Float32(float32(mc.RopeTheta)))
		a("rope.theta", gguf.Float64(mc.RopeTheta))
	}
	var dIn, heads, cConv int
	if hasMamba {
		dIn = mc.Expand * D
		heads = dIn / mc.HeadDim
		cConv = dIn + 2*mc.NGroups*mc.DState
		u("ssm.conv_kernel", mc.DConv)
		u("ssm.inner_size", dIn)
		u("ssm.state_size", mc.DState)
		u("ssm.time_step_rank", heads)
		u("ssm.group_count", mc.NGroups)
		u("ssm.head_dim", mc.HeadDim)
		u("ssm.chunk_size", mc.Chunk)
	}
	a("quant.weights", gguf.String(map[bool]string{false: "ternary", true: "float"}[float]))
	a("quant.weight_scale", gguf.String(qc.Scale))
	a("quant.subln", gguf.Bool(qc.SubLN))
	u("quant.act_bits", qc.ActBits)
	u("quant.row_multiple", RowMultiple)
	if p.RunHash != "" {
		a("provenance.run_hash", gguf.String(p.RunHash))
	}
	if p.ConfigJSON != "" {
		a("provenance.config", gguf.String(p.ConfigJSON))
	}
	if p.CodeCommit != "" {
		a("provenance.code_commit", gguf.String(p.CodeCommit))
		a("provenance.code_dirty", gguf.Bool(p.CodeDirty))
	}
	if tok != nil {
		if err := spec.TokenizerKVs(f, tok, V); err != nil {
			return nil, err
		}
	}

	// Tensors.
	add := func(name string, t gguf.Type, dims []int, x []float32) error {
		b, err := gguf.Quantize(t, x)
		if err != nil {
			return fmt.Errorf("edge: %s: %w", name, err)
		}
		ud := make([]uint64, len(dims))
		for i, d := range dims {
			ud[i] = uint64(d)
		}
		return f.AddTensor(name, t, ud, b)
	}
	param := func(name string) ([]float32, error) {
		p := m.Param(name)
		if p == nil {
			return nil, fmt.Errorf("edge: the model has no parameter %s", name)
		}
		return p.Data, nil
	}
	f32 := func(gname, pname string, n int) error {
		x, err := param(pname)
		if err != nil {
			return err
		}
		if len(x) != n {
			return fmt.Errorf("edge: %s has %d values, want %d", pname, len(x), n)
		}
		return add(gname, gguf.F32, []int{n}, x)
	}
	emb, err := param("tok_embed")
	if err != nil {
		return nil, err
	}
	if err := add("token_embd.weight", o.Embed, []int{D, V}, emb); err != nil {
		return nil, err
	}
	for i := 0; i < mc.NLayers; i++ {
		pp := fmt.Sprintf("layers.%d.", i)
		bp := fmt.Sprintf("blk.%d.", i)
		if err := f32(bp+"attn_norm.weight", pp+"norm1", D); err != nil {
			return nil, err
		}
		lin := func(param, name string) error {
			return addBitLinear(f, m, qc, pp+param, bp+name, o.Weights)
		}
		if slices.Contains(attnLayers, uint32(i)) {
			for _, bl := range bitLinearNames[:4] {
				if err := lin(bl.param, bl.gguf); err != nil {
					return nil, err
				}
			}
		} else {
			if err := lin("mamba.in_proj", "ssm_in"); err != nil {
				return nil, err
			}
			if err := addMambaParams(f, m, pp+"mamba.", bp, mc, dIn, heads, cConv, add, f32); err != nil {
				return nil, err
			}
			if err := lin("mamba.out_proj", "ssm_out"); err != nil {
				return nil, err
			}
		}
		if mc.FFN {
			if err := f32(bp+"ffn_norm.weight", pp+"norm2", D); err != nil {
				return nil, err
			}
			for _, bl := range bitLinearNames[6:] {
				if err := lin(bl.param, bl.gguf); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := f32("output_norm.weight", "norm_f", D); err != nil {
		return nil, err
	}
	return f, nil
}

// addBitLinear writes X.weight (ternary, rows padded to RowMultiple, or
// float, rows padded to the type's block size), X.scale (1 for float) and, with SubLN, X.sub_norm.weight.
func addBitLinear(f *gguf.File, m *models.Model, qc configs.QuantConfig, pname, gname string, wt gguf.Type) error {
	p := m.Param(pname)
	if p == nil || len(p.Shape) != 2 {
		return fmt.Errorf("edge: the model has no BitLinear %s", pname)
	}
	out, in := p.Shape[0], p.Shape[1]
	var t []float32
	var g float32
	var err error
	if FloatWeights(wt) {
		// Float weights, γ = 1: the effective weight as it is.
		if t, g = m.EffectiveWeight(pname), 1; t == nil {
			return fmt.Errorf("edge: %s is not a BitLinear weight of the model", pname)
		}
	} else if t, g, err = TernaryWeight(m, pname); err != nil {
		return err
	}
	pad := gguf.PaddedWidth(wt, in)
	tp, err := gguf.PadRows(t, out, in, pad)
	if err != nil {
		return err
	}
	b, err := gguf.Quantize(wt, tp)
	if err != nil {
		return fmt.Errorf("edge: %s: %w", pname, err)
	}
	if err := f.AddTensor(gname+".weight", wt, []uint64{uint64(pad), uint64(out)}, b); err != nil {
		return err
	}
	sb, _ := gguf.Quantize(gguf.F32, []float32{g})
	if err := f.AddTensor(gname+".scale", gguf.F32, []uint64{1}, sb); err != nil {
		return err
	}
	sub := m.Param(pname + ".subln")
	if qc.SubLN != (sub != nil) {
		return fmt.Errorf("edge: quant.subln is %v but the model %s SubLN gain for %s", qc.SubLN, map[bool]string{true: "has a", false: "has no"}[sub != nil], pname)
	}
	if sub != nil {
		xb, _ := gguf.Quantize(gguf.F32, sub.Data)
		return f.AddTensor(gname+".sub_norm.weight", gguf.F32, []uint64{uint64(in)}, xb)
	}
	return nil
}

// addMambaParams writes the conv, dt, A, D and gated-norm tensors of one
// Mamba-2 layer (after ssm_in, before ssm_out).
func addMambaParams(f *gguf.File, m *models.Model, pp, bp string, mc configs.ModelConfig, dIn, heads, cConv int,
	add func(string, gguf.Type, []int, []float32) error, f32 func(string, string, int) error) error {
	cw := m.Param(pp + "conv_w")
	if cw == nil || len(cw.Data) != cConv*mc.DConv {
		return fmt.Errorf("edge: %sconv_w is missing or not %d×%d", pp, cConv, mc.DConv)
	}
	if err := add(bp+"ssm_conv1d.weight", gguf.F32, []int{mc.DConv, cConv}, cw.Data); err != nil {
		return err
	}
	if err := f32(bp+"ssm_conv1d.bias", pp+"conv_b", cConv); err != nil {
		return err
	}
	if err := f32(bp+"ssm_dt.bias", pp+"dt_bias", heads); err != nil {
		return err
	}
	al := m.Param(pp + "A_log")
	if al == nil || len(al.Data) != heads {
		return fmt.Errorf("edge: %sA_log is missing or not %d values", pp, heads)
	}
	A := make([]float32, heads)
	for h, v := range al.Data {
		A[h] = -kernels.Exp32(v) // the model's setA
	}
	if err := add(bp+"ssm_a", gguf.F32, []int{heads}, A); err != nil {
		return err
	}
	if err := f32(bp+"ssm_d", pp+"D", heads); err != nil {
		return err
	}
	return f32(bp+"ssm_norm.weight", pp+"norm", dIn)
}
