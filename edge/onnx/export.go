package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/edge"
	pb "github.com/nanomamba-edge/harness/edge/onnx/onnxpb"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
)

// Opset is the ONNX operator set version of the exported graph (default
// domain); IRVersion is the IR version that goes with it.
const (
	Opset     = 17
	IRVersion = 8
)

// The fixed graph inputs and outputs.
const (
	InputToken    = "token"    // int64 [1]
	InputPosition = "position" // int64 [1]
	OutputLogits  = "logits"   // float32 [1, vocab]
)

// State is one recurrent tensor of the decode step: the graph reads it as
// Input and returns its updated value as Output, which the caller feeds
// back as Input on the next step.
type State struct {
	Kind   string  `json:"kind"` // "conv", "ssm", "key" or "value"
	Layer  int     `json:"layer"`
	Input  string  `json:"input"`
	Output string  `json:"output"`
	Dims   []int64 `json:"dims"` // shape of the empty state before the first token (a KV cache has 0 positions)
}

// Model is an exported decode-step graph.
type Model struct {
	Proto   *pb.ModelProto
	States  []State // in graph input order, after token and position
	Vocab   int
	Context int
}

// Bytes returns the serialized ModelProto. The encoding is deterministic:
// the same model gives the same bytes.
func (m *Model) Bytes() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("onnx: encoding the model: %w", err)
	}
	return b, nil
}

// Export builds the decode-step graph of a model whose BitLinear weights
// are ternary under its current quant state (as edge.Export requires). qc
// is the run's quant config; p goes into the model's metadata_props.
func Export(m *models.Model, qc configs.QuantConfig, p edge.Provenance) (*Model, error) {
	if m == nil {
		return nil, fmt.Errorf("onnx: Export of a nil model")
	}
	mc := m.Config()
	if qc.ActBits != 0 && (qc.ActBits < 2 || qc.ActBits > 16) {
		return nil, fmt.Errorf("onnx: quant.act_bits %d: want 0 (none) or 2..16", qc.ActBits)
	}
	if lam := actLambda(m.Quant()); qc.ActBits > 0 && lam != 1 {
		q := m.Quant()
		return nil, fmt.Errorf("onnx: the activation quantizer is blended (λ = %v, from %s to %s); only runs that end in ternary QAT can be exported", lam, q.From, q.To)
	}
	e := &exporter{m: m, mc: mc, qc: qc, b: newBuilder("nanomamba_decode_step")}
	if err := e.build(); err != nil {
		return nil, err
	}
	meta := []*pb.StringStringEntryProto{}
	kv := func(k, v string) {
		if v != "" {
			meta = append(meta, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
		}
	}
	states, _ := json.Marshal(e.states)
	kv("nanomamba.states", string(states))
	kv("nanomamba.context_length", strconv.Itoa(mc.Context))
	kv("nanomamba.vocab_size", strconv.Itoa(mc.Vocab))
	kv("nanomamba.act_bits", strconv.Itoa(qc.ActBits))
	kv("nanomamba.weight_scale", qc.Scale)
	kv("nanomamba.subln", strconv.FormatBool(qc.SubLN))
	kv("nanomamba.provenance.run_hash", p.RunHash)
	kv("nanomamba.provenance.config", p.ConfigJSON)
	if p.CodeCommit != "" {
		kv("nanomamba.provenance.code_commit", p.CodeCommit)
		kv("nanomamba.provenance.code_dirty", strconv.FormatBool(p.CodeDirty))
	}
	e.b.g.DocString = proto.String(graphDoc)
	mp := &pb.ModelProto{
		IrVersion:     proto.Int64(IRVersion),
		OpsetImport:   []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:  proto.String("nanomamba-edge harness"),
		Domain:        proto.String("nanomamba"),
		ModelVersion:  proto.Int64(1),
		DocString:     proto.String("NanoMamba-Edge single-token decode step (Mamba-2 + GQA, BitNet b1.58 ternary projections)"),
		Graph:         e.b.g,
		MetadataProps: meta,
	}
	return &Model{Proto: mp, States: e.states, Vocab: mc.Vocab, Context: mc.Context}, nil
}

// graphDoc is the graph's doc_string: how to drive it.
const graphDoc = `One decode step for batch 1. Inputs: token (int64 [1]), position (int64 [1], the number of tokens fed before this one, < context_length), and per layer its state: Mamba layers conv.L [d_conv-1, conv_channels] and ssm.L [heads, head_dim, d_state]; attention layers past_key.L and past_value.L [kv_heads, past, head_dim] (post-RoPE keys). Outputs: logits [1, vocab] for the next token and the updated states conv_out.L, ssm_out.L, present_key.L, present_value.L ([kv_heads, past+1, head_dim]). Start from zero conv/ssm states and empty (past = 0) caches; prefill a prompt by stepping through its tokens, feeding each step's state outputs back as the next step's inputs with position+1. The metadata_props key nanomamba.states lists every state's input, output and initial shape.`

// actLambda mirrors models.QuantState's activation blend weight.
func actLambda(s models.QuantState) float32 {
	switch {
	case s.From == models.Float && s.To == models.Float:
		return 0
	case s.From == models.Float:
		return s.Lambda
	default:
		return 1
	}
}

type exporter struct {
	m      *models.Model
	mc     configs.ModelConfig
	qc     configs.QuantConfig
	b      *builder
	states []State
	inputs []*pb.ValueInfoProto
	output []*pb.ValueInfoProto
	ropeC  string // the position's cos and sin rows, [1, hd/2, 1]
	ropeS  string
}

func (e *exporter) param(name string, n int) ([]float32, error) {
	p := e.m.Param(name)
	if p == nil {
		return nil, fmt.Errorf("onnx: the model has no parameter %s", name)
	}
	if n >= 0 && len(p.Data) != n {
		return nil, fmt.Errorf("onnx: %s has %d values, want %d", name, len(p.Data), n)
	}
	return p.Data, nil
}

func (e *exporter) build() error {
	mc, b := e.mc, e.b
	D, V := mc.DModel, mc.Vocab
	b.g.Input = append(b.g.Input, valueInfo(InputToken, tInt64, []int64{1}, ""), valueInfo(InputPosition, tInt64, []int64{1}, ""))
	b.g.Output = append(b.g.Output, valueInfo(OutputLogits, tFloat, []int64{1, int64(V)}, ""))

	emb, err := e.param("tok_embed", V*D)
	if err != nil {
		return err
	}
	embName := b.f32("tok_embed", []int64{int64(V), int64(D)}, emb)
	b.scope = "embed"
	x := b.op("Gather", []string{embName, InputToken}, attrInt("axis", 0)) // [1, D]

	attn := 0
	for i := 0; i < mc.NLayers; i++ {
		pp := fmt.Sprintf("layers.%d.", i)
		b.scope = fmt.Sprintf("layers.%d", i)
		g1, err := e.param(pp+"norm1", D)
		if err != nil {
			return err
		}
		h := e.rmsNorm(x, b.f32(pp+"norm1", []int64{int64(D)}, g1), D)
		var y string
		if e.m.Param(pp+"attn.wq") != nil {
			if attn == 0 {
				e.ropeRows()
			}
			attn++
			y, err = e.attention(i, pp, h)
		} else {
			y, err = e.mamba(i, pp+"mamba.", h)
		}
		if err != nil {
			return err
		}
		x = b.add(x, y)
		if mc.FFN {
			g2, err := e.param(pp+"norm2", D)
			if err != nil {
				return err
			}
			h := e.rmsNorm(x, b.f32(pp+"norm2", []int64{int64(D)}, g2), D)
			y, err := e.ffn(pp+"ffn.", h)
			if err != nil {
				return err
			}
			x = b.add(x, y)
		}
	}
	b.scope = "head"
	gf, err := e.param("norm_f", D)
	if err != nil {
		return err
	}
	xf := e.rmsNorm(x, b.f32("norm_f", []int64{int64(D)}, gf), D)
	b.node("Gemm", []string{xf, embName}, []string{OutputLogits}, attrInt("transB", 1))
	b.g.Input = append(b.g.Input, e.inputs...)
	b.g.Output = append(b.g.Output, e.output...)
	return nil
}

// rmsNorm is the harness's RMSNorm: rs = float32(1/sqrt(Σx²/d + eps)) with
// the sum of squares in float64, then (x·rs)·gain in float32.
func (e *exporter) rmsNorm(x, gain string, d int) string {
	b := e.b
	xd := b.cast(x, tDouble)
	ss := b.op("ReduceSumSquare", []string{xd}, attrInts("axes", -1), attrInt("keepdims", 1))
	den := b.op("Sqrt", []string{b.add(b.div(ss, b.sf64(float64(d))), b.sf64(e.mc.NormEps))})
	rs := b.cast(b.div(b.sf64(1), den), tFloat)
	return b.mul(b.mul(x, rs), gain)
}

// silu is float32(x·σ(x)) with σ = 1/(1+exp(−x)) and the product in
// float64, as the harness's SiLU kernel. (Written with Exp rather than
// Sigmoid: ONNX Runtime 1.30 fuses x·Sigmoid(x) into its float-only
// QuickGelu kernel even for double tensors and then fails to load.)
func (e *exporter) silu(x string) string {
	b := e.b
	xd := b.cast(x, tDouble)
	sig := b.div(b.sf64(1), b.add(b.sf64(1), b.op("Exp", []string{b.op("Neg", []string{xd})})))
	return b.cast(b.mul(xd, sig), tFloat)
}

// roundHalfAway rounds to the nearest integer with ties away from zero
// (the harness's roundClip, Go's math.Round), exactly in float32: for
// a = |v|, f = Floor(a) and a − f are exact, and the result is
// Sign(v)·(f + [a − f ≥ ½]). ONNX Round would round ties to even.
func (e *exporter) roundHalfAway(v string) string {
	b := e.b
	a := b.op("Abs", []string{v})
	f := b.op("Floor", []string{a})
	up := b.cast(b.op("GreaterOrEqual", []string{b.sub(a, f), b.sf32(0.5)}), tFloat)
	return b.mul(b.op("Sign", []string{v}), b.add(f, up))
}

// bitLinear is y = act(SubLN(x))·(γ·T)ᵀ with the ternary codes T stored as
// int8 [out, in] and γ as a float32 scalar (DequantizeLinear gives exactly
// the harness's effective weight), and the per-token absmax activation
// quantizer act(x) = RoundClip(x·s, −2^(b−1), 2^(b−1)−1)/s, s = (2^(b−1)−1)/max(max|x|, 1e-5).
func (e *exporter) bitLinear(name, x string) (string, error) {
	b := e.b
	p := e.m.Param(name)
	if p == nil || len(p.Shape) != 2 {
		return "", fmt.Errorf("onnx: the model has no BitLinear %s", name)
	}
	out, in := p.Shape[0], p.Shape[1]
	t, g, err := edge.TernaryWeight(e.m, name)
	if err != nil {
		return "", err
	}
	codes := make([]int8, len(t))
	for i, v := range t {
		codes[i] = int8(v)
	}
	sub := e.m.Param(name + ".subln")
	if e.qc.SubLN != (sub != nil) {
		return "", fmt.Errorf("onnx: quant.subln is %v but the model %s a SubLN gain for %s", e.qc.SubLN, map[bool]string{true: "has", false: "has no"}[sub != nil], name)
	}
	if sub != nil {
		if len(sub.Data) != in {
			return "", fmt.Errorf("onnx: %s.subln has %d values, want %d", name, len(sub.Data), in)
		}
		x = e.rmsNorm(x, b.f32(name+".subln", []int64{int64(in)}, sub.Data), in)
	}
	if e.qc.ActBits > 0 {
		x = e.actQuant(x, e.qc.ActBits, e.roundHalfAway)
	}
	tn := b.init(name+".weight_ternary", tInt8, []int64{int64(out), int64(in)}, rawI8(codes))
	sc := b.f32(name+".weight_scale", nil, []float32{g})
	w := b.op("DequantizeLinear", []string{tn, sc})
	return b.op("Gemm", []string{x, w}, attrInt("transB", 1)), nil
}

// actQuant is the per-token absmax quantizer of x [1, n] with the given
// rounding: RoundClip(x·s, −2^(b−1), 2^(b−1)−1)/s, s = (2^(b−1)−1)/max(max|x|, 1e-5),
// every operation in float32 as in the harness (clamped before rounding).
func (e *exporter) actQuant(x string, bits int, round func(string) string) string {
	b := e.b
	qmax := float32(int(1)<<(bits-1) - 1)
	qmin := -float32(int(1) << (bits - 1))
	am := b.op("ReduceMax", []string{b.op("Abs", []string{x})}, attrInts("axes", -1), attrInt("keepdims", 1))
	s := b.div(b.sf32(qmax), b.op("Max", []string{am, b.sf32(1e-5)}))
	v := b.op("Clip", []string{b.mul(x, s), b.sf32(qmin), b.sf32(qmax)})
	return b.div(round(v), s)
}

// ropeRows gathers the position's cos and sin rows of the harness's RoPE
// table (the same float32 values, computed with the same functions).
func (e *exporter) ropeRows() {
	mc, b := e.mc, e.b
	hd := mc.DModel / mc.NHeads
	half := hd / 2
	cs, sn := make([]float32, mc.Context*half), make([]float32, mc.Context*half)
	for i := 0; i < half; i++ {
		freq := kernels.Pow(mc.RopeTheta, -float64(2*i)/float64(hd))
		for p := 0; p < mc.Context; p++ {
			ang := float64(float64(p) * freq)
			cs[p*half+i] = float32(kernels.Cos(ang))
			sn[p*half+i] = float32(kernels.Sin(ang))
		}
	}
	dims := []int64{int64(mc.Context), int64(half)}
	sc := b.scope
	b.scope = "rope"
	c := b.op("Gather", []string{b.f32("rope.cos", dims, cs), InputPosition}, attrInt("axis", 0))
	s := b.op("Gather", []string{b.f32("rope.sin", dims, sn), InputPosition}, attrInt("axis", 0))
	e.ropeC, e.ropeS = b.reshape(c, 1, int64(half), 1), b.reshape(s, 1, int64(half), 1)
	b.scope = sc
}

// rope rotates adjacent pairs of each head: (x0·c − x1·s, x0·s + x1·c),
// every product rounded to float32 as in the harness. x is [1, heads·hd];
// the result is [heads, 1, hd].
func (e *exporter) rope(x string, heads, hd int) string {
	b := e.b
	x3 := b.reshape(x, int64(heads), int64(hd/2), 2)
	x0, x1 := b.slice(x3, 2, 0, 1), b.slice(x3, 2, 1, 2)
	r0 := b.sub(b.mul(x0, e.ropeC), b.mul(x1, e.ropeS))
	r1 := b.add(b.mul(x0, e.ropeS), b.mul(x1, e.ropeC))
	return b.reshape(b.op("Concat", []string{r0, r1}, attrInt("axis", 2)), int64(heads), 1, int64(hd))
}

// state declares a state input and output pair.
func (e *exporter) state(kind string, layer int, in, out string, dims []int64, grows bool) {
	sym, outDims := "", dims
	if grows {
		d := append([]int64(nil), dims...)
		d[1] = -1
		outDims = d
		sym = "past"
	}
	e.inputs = append(e.inputs, valueInfo(in, tFloat, outDims, sym))
	if grows {
		sym = "past_plus_1"
	}
	e.output = append(e.output, valueInfo(out, tFloat, outDims, sym))
	e.states = append(e.states, State{Kind: kind, Layer: layer, Input: in, Output: out, Dims: dims})
}

// attention is one GQA step with a Concat-grown KV cache.
func (e *exporter) attention(layer int, pp, x string) (string, error) {
	mc, b := e.mc, e.b
	nh, nkv := mc.NHeads, mc.NKVHeads
	hd := mc.DModel / nh
	grp := nh / nkv
	q, err := e.bitLinear(pp+"attn.wq", x)
	if err != nil {
		return "", err
	}
	k, err := e.bitLinear(pp+"attn.wk", x)
	if err != nil {
		return "", err
	}
	v, err := e.bitLinear(pp+"attn.wv", x)
	if err != nil {
		return "", err
	}
	qr := b.reshape(e.rope(q, nh, hd), int64(nkv), int64(grp), int64(hd))
	kr := e.rope(k, nkv, hd)
	pk, pv := fmt.Sprintf("past_key.%d", layer), fmt.Sprintf("past_value.%d", layer)
	ok, ov := fmt.Sprintf("present_key.%d", layer), fmt.Sprintf("present_value.%d", layer)
	dims := []int64{int64(nkv), 0, int64(hd)}
	e.state("key", layer, pk, ok, dims, true)
	e.state("value", layer, pv, ov, dims, true)
	b.node("Concat", []string{pk, kr}, []string{ok}, attrInt("axis", 1))
	b.node("Concat", []string{pv, b.reshape(v, int64(nkv), 1, int64(hd))}, []string{ov}, attrInt("axis", 1))
	// Scores in float32 as float32(q·k)·scale, then the harness's softmax:
	// e = exp(float64(s − max)) summed in float64, p = float32(float64(float32(e))·(1/Σ)).
	scale := float32(1 / math.Sqrt(float64(hd)))
	kt := b.op("Transpose", []string{ok}, attrInts("perm", 0, 2, 1))
	s := b.mul(b.op("MatMul", []string{qr, kt}), b.sf32(scale)) // [nkv, grp, T]
	mx := b.op("ReduceMax", []string{s}, attrInts("axes", -1), attrInt("keepdims", 1))
	ex := b.op("Exp", []string{b.cast(b.sub(s, mx), tDouble)})
	sum := b.op("ReduceSum", []string{ex, b.ints(-1)}, attrInt("keepdims", 1))
	e32 := b.cast(b.cast(ex, tFloat), tDouble)
	pr := b.cast(b.mul(e32, b.div(b.sf64(1), sum)), tFloat)
	o := b.reshape(b.op("MatMul", []string{pr, ov}), 1, int64(nh*hd))
	return e.bitLinear(pp+"attn.wo", o)
}

// mamba is one Mamba-2 step.
func (e *exporter) mamba(layer int, pp, u string) (string, error) {
	mc, b := e.mc, e.b
	D := mc.DModel
	dIn := mc.Expand * D
	P, G, N, K := mc.HeadDim, mc.NGroups, mc.DState, mc.DConv
	if P <= 0 || dIn%P != 0 || G <= 0 {
		return "", fmt.Errorf("onnx: Mamba dims d_inner %d, head_dim %d, n_groups %d do not fit", dIn, P, G)
	}
	H := dIn / P
	if H%G != 0 {
		return "", fmt.Errorf("onnx: %d Mamba heads are not a multiple of n_groups %d", H, G)
	}
	if K < 2 {
		return "", fmt.Errorf("onnx: model.d_conv %d: the exported step keeps a conv window of d_conv−1 ≥ 1 inputs", K)
	}
	GN := G * N
	C := dIn + 2*GN
	zx, err := e.bitLinear(pp+"in_proj", u) // [1, 2dIn+2GN+H]
	if err != nil {
		return "", err
	}
	z := b.slice(zx, 1, 0, int64(dIn))
	xbc := b.slice(zx, 1, int64(dIn), int64(dIn+C))
	raw := b.slice(zx, 1, int64(dIn+C), int64(dIn+C+H))

	// Depthwise causal conv over the window [conv state; new input]: one
	// float64 sum bias + Σ_k w[c,k]·in_k[c] in ascending k, rounded once.
	ci, co := fmt.Sprintf("conv.%d", layer), fmt.Sprintf("conv_out.%d", layer)
	e.state("conv", layer, ci, co, []int64{int64(K - 1), int64(C)}, false)
	win := b.op("Concat", []string{ci, xbc}, attrInt("axis", 0)) // [K, C]
	b.node("Slice", []string{win, b.ints(1), b.ints(int64(K)), b.ints(0)}, []string{co})
	cw, err := e.param(pp+"conv_w", C*K)
	if err != nil {
		return "", err
	}
	cb, err := e.param(pp+"conv_b", C)
	if err != nil {
		return "", err
	}
	wd := make([]float64, K*C)
	for c := 0; c < C; c++ {
		for k := 0; k < K; k++ {
			wd[k*C+c] = float64(cw[c*K+k])
		}
	}
	bd := make([]float64, C)
	for c, v := range cb {
		bd[c] = float64(v)
	}
	winD := b.cast(win, tDouble)
	wT := b.f64(pp+"conv_w.tap_major", []int64{int64(K), int64(C)}, wd)
	prod := b.mul(winD, wT) // exact products
	acc := b.f64(pp+"conv_b", []int64{1, int64(C)}, bd)
	for k := 0; k < K; k++ {
		acc = b.add(acc, b.slice(prod, 0, int64(k), int64(k+1)))
	}
	act := e.silu(b.cast(acc, tFloat))
	x := b.slice(act, 1, 0, int64(dIn))
	bm := b.slice(act, 1, int64(dIn), int64(dIn+GN))
	cm := b.slice(act, 1, int64(dIn+GN), int64(C))

	// dt = softplus(raw + dt_bias) in float64, rounded to float32:
	// max(v, 0) + log1p(exp(−|v|)), log1p(e) = log(w)·e/(w − 1) with w = 1+e
	// (e when w rounds to 1).
	dtb, err := e.param(pp+"dt_bias", H)
	if err != nil {
		return "", err
	}
	vd := b.cast(b.add(raw, b.f32(pp+"dt_bias", []int64{1, int64(H)}, dtb)), tDouble)
	ex := b.op("Exp", []string{b.op("Neg", []string{b.op("Abs", []string{vd})})})
	w := b.add(b.sf64(1), ex)
	lp := b.op("Where", []string{b.op("Equal", []string{w, b.sf64(1)}), ex,
		b.mul(b.op("Log", []string{w}), b.div(ex, b.sub(w, b.sf64(1))))})
	dt := b.cast(b.add(b.op("Max", []string{vd, b.sf64(0)}), lp), tFloat)

	// The SSM step in float64, the state rounded to float32 after each
	// update: h = exp(dt·A)·h + (dt·x)·B; y = Σ_n h·C.
	al, err := e.param(pp+"A_log", H)
	if err != nil {
		return "", err
	}
	A := make([]float64, H)
	for h, v := range al {
		A[h] = float64(-kernels.Exp32(v))
	}
	dtd := b.reshape(b.cast(dt, tDouble), int64(H), 1, 1)
	decay := b.op("Exp", []string{b.mul(dtd, b.f64(pp+"A", []int64{int64(H), 1, 1}, A))})
	xd := b.cast(b.reshape(x, int64(H), int64(P)), tDouble)
	uu := b.mul(dtd, b.reshape(xd, int64(H), int64(P), 1))
	group := make([]int64, H)
	for h := range group {
		group[h] = int64(h / (H / G))
	}
	gi := b.ints(group...)
	bh := b.reshape(b.op("Gather", []string{b.reshape(b.cast(bm, tDouble), int64(G), int64(N)), gi}, attrInt("axis", 0)), int64(H), 1, int64(N))
	ch := b.reshape(b.op("Gather", []string{b.reshape(b.cast(cm, tDouble), int64(G), int64(N)), gi}, attrInt("axis", 0)), int64(H), 1, int64(N))
	si, so := fmt.Sprintf("ssm.%d", layer), fmt.Sprintf("ssm_out.%d", layer)
	e.state("ssm", layer, si, so, []int64{int64(H), int64(P), int64(N)}, false)
	sn := b.add(b.mul(decay, b.cast(si, tDouble)), b.mul(uu, bh))
	b.node("Cast", []string{sn}, []string{so}, attrInt("to", int64(tFloat)))
	y := b.op("ReduceSum", []string{b.mul(b.cast(so, tDouble), ch), b.ints(2)}, attrInt("keepdims", 0)) // [H, P]
	// y + D·x in float64, rounded once.
	dd, err := e.param(pp+"D", H)
	if err != nil {
		return "", err
	}
	dv := make([]float64, H)
	for h, v := range dd {
		dv[h] = float64(v)
	}
	y32 := b.cast(b.cast(y, tFloat), tDouble) // the scan output is float32
	ys := b.cast(b.add(y32, b.mul(xd, b.f64(pp+"D", []int64{int64(H), 1}, dv))), tFloat)
	g := b.mul(b.reshape(ys, 1, int64(dIn)), e.silu(z))
	ng, err := e.param(pp+"norm", dIn)
	if err != nil {
		return "", err
	}
	n := e.rmsNorm(g, b.f32(pp+"norm", []int64{int64(dIn)}, ng), dIn)
	return e.bitLinear(pp+"out_proj", n)
}

// ffn is the SwiGLU w2(SiLU(w1·x) ⊙ w3·x).
func (e *exporter) ffn(pp, x string) (string, error) {
	g, err := e.bitLinear(pp+"w1", x)
	if err != nil {
		return "", err
	}
	u, err := e.bitLinear(pp+"w3", x)
	if err != nil {
		return "", err
	}
	return e.bitLinear(pp+"w2", e.b.mul(e.silu(g), u))
}
