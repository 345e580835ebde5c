package models

import (
	"math"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

func TestThreadDeterminism(t *testing.T) {
	const B, T = 2, 9
	tokens := randTokens(20, B*T, 32)
	targets := randTokens(21, B*T, 32)
	run := func(threads int) ([]float32, [][]float32, float64) {
		m, err := New(hybridConfig(), quantConfig(true, 8), 4)
		if err != nil {
			t.Fatal(err)
		}
		m.SetThreads(threads)
		m.SetQuant(QuantState{Float, Ternary, 0.5})
		logits, err := m.Logits(tokens, B, T)
		if err != nil {
			t.Fatal(err)
		}
		m.ZeroGrad()
		loss, err := m.ForwardBackward(tokens, targets, B, T, 1)
		if err != nil {
			t.Fatal(err)
		}
		var g [][]float32
		for _, p := range m.Params() {
			g = append(g, append([]float32(nil), p.Grad...))
		}
		return logits, g, loss
	}
	l1, g1, loss1 := run(1)
	for _, th := range []int{2, 7} {
		l, g, loss := run(th)
		if loss != loss1 {
			t.Errorf("threads %d: loss %v, threads 1: %v", th, loss, loss1)
		}
		if i := bitsEqual(l, l1); i >= 0 {
			t.Errorf("threads %d: logits[%d] %v, threads 1: %v", th, i, l[i], l1[i])
		}
		for k := range g {
			if i := bitsEqual(g[k], g1[k]); i >= 0 {
				t.Errorf("threads %d: grad %d [%d] differs", th, k, i)
			}
		}
	}
}

func TestStepMatchesForward(t *testing.T) {
	mc := hybridConfig()
	mc.Chunk = 4 // does not divide the length 11
	for _, qs := range []QuantState{{Float, Float, 0}, {Int4, Ternary, 0.5}} {
		m, err := New(mc, quantConfig(true, 8), 6)
		if err != nil {
			t.Fatal(err)
		}
		m.SetThreads(2)
		m.SetQuant(qs)
		const T = 11
		tokens := randTokens(30, T, mc.Vocab)
		want, err := m.Logits(tokens, 1, T)
		if err != nil {
			t.Fatal(err)
		}
		st := m.NewState()
		var worst float64
		for pos, tok := range tokens {
			got, err := m.Step(st, tok)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range got {
				worst = math.Max(worst, math.Abs(float64(v)-float64(want[pos*mc.Vocab+j])))
			}
		}
		if worst > 1e-4 {
			t.Errorf("%v: Step logits differ from the parallel forward by %g", qs, worst)
		}
		// Decoding stops with a clear error at model.context.
		st2 := m.NewState()
		for i := 0; i < mc.Context; i++ {
			if _, err := m.Step(st2, 1); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		if _, err := m.Step(st2, 1); err == nil || !strings.Contains(err.Error(), "model.context") {
			t.Errorf("Step past the context: err = %v", err)
		}
	}
}

func TestDescribeMatchesParams(t *testing.T) {
	attnOnly := hybridConfig()
	attnOnly.AttnLayers = []int{0, 1, 2}
	mambaOnly := hybridConfig()
	mambaOnly.AttnLayers = nil
	mambaOnly.FFN = false
	fractions := hybridConfig()
	fractions.NLayers = 4
	fractions.AttnLayers = nil
	fractions.AttnFractions = []float64{0.5}
	for i, mc := range []configs.ModelConfig{hybridConfig(), attnOnly, mambaOnly, fractions} {
		for _, subln := range []bool{false, true} {
			qc := quantConfig(subln, 8)
			info, err := Describe(mc, qc)
			if err != nil {
				t.Fatal(err)
			}
			m, err := New(mc, qc, 1)
			if err != nil {
				t.Fatal(err)
			}
			ps := m.Params()
			if len(info.Tensors) != len(ps) {
				t.Fatalf("config %d: Describe lists %d tensors, model has %d", i, len(info.Tensors), len(ps))
			}
			var total, comp int64
			seen := map[string]bool{}
			for k, p := range ps {
				ti := info.Tensors[k]
				if ti.Name != p.Name || ti.Params != int64(p.Size()) || len(ti.Shape) != len(p.Shape) {
					t.Errorf("config %d: tensor %d is %s %v, model has %s %v", i, k, ti.Name, ti.Shape, p.Name, p.Shape)
				}
				if seen[p.Name] {
					t.Errorf("duplicate parameter name %s", p.Name)
				}
				seen[p.Name] = true
				if m.Param(p.Name) != p {
					t.Errorf("Param(%q) does not return the listed tensor", p.Name)
				}
				total += int64(p.Size())
			}
			for _, c := range info.Components {
				comp += c.Params
			}
			if info.Total != total || comp != total {
				t.Errorf("config %d: Describe total %d, components %d, allocated %d", i, info.Total, comp, total)
			}
		}
	}
	m, _ := New(hybridConfig(), quantConfig(true, 8), 1)
	for _, name := range []string{"tok_embed", "layers.0.norm1", "layers.0.mamba.in_proj", "layers.0.mamba.conv_w",
		"layers.0.mamba.conv_b", "layers.0.mamba.dt_bias", "layers.0.mamba.A_log", "layers.0.mamba.D", "layers.0.mamba.norm",
		"layers.0.mamba.out_proj", "layers.1.attn.wq", "layers.1.attn.wk", "layers.1.attn.wv", "layers.1.attn.wo",
		"layers.1.attn.wq.subln", "layers.2.norm2", "layers.2.ffn.w1", "layers.2.ffn.w2", "layers.2.ffn.w3", "norm_f"} {
		if m.Param(name) == nil {
			t.Errorf("parameter %s missing", name)
		}
	}
	want := map[string][]int{"layers.1.attn.wk": {8, 16}, "layers.1.attn.wo": {16, 16}, "layers.0.mamba.in_proj": {2*32 + 2*16 + 4, 16},
		"layers.0.mamba.conv_w": {32 + 32, 4}, "layers.2.ffn.w2": {16, 24}, "layers.2.ffn.w2.subln": {24}}
	for name, shape := range want {
		if p := m.Param(name); p == nil || len(p.Shape) != len(shape) || p.Shape[0] != shape[0] || (len(shape) > 1 && p.Shape[1] != shape[1]) {
			t.Errorf("%s shape %v, want %v", name, p.Shape, shape)
		}
	}
	for _, p := range m.Params() {
		noDecay := !strings.HasSuffix(p.Name, "_proj") && !strings.Contains(p.Name, ".w") && p.Name != "tok_embed" && !strings.HasSuffix(p.Name, "conv_w")
		if strings.HasSuffix(p.Name, ".subln") {
			noDecay = true
		}
		if p.NoDecay != noDecay {
			t.Errorf("%s NoDecay = %v, want %v", p.Name, p.NoDecay, noDecay)
		}
	}
}

func TestSizeBytes(t *testing.T) {
	info := Info{Tensors: []TensorInfo{
		{Name: "tok_embed", Params: 100, Bits: 16},
		{Name: "w", Params: 1000, Bits: TernaryBits},
		{Name: "n", Params: 10, Bits: 16},
	}}
	// 200 + ceil(1000·1.58/8)=198 + 4 + 20 ; at 2 bits: 250 + 4
	if got := info.SizeBytes(1.58); got != 200+198+4+20 {
		t.Errorf("SizeBytes(1.58) = %d", got)
	}
	if got := info.SizeBytes(2); got != 200+250+4+20 {
		t.Errorf("SizeBytes(2) = %d", got)
	}
}

// nanoConfig is the shape of the report's nano model as used here.
func nanoConfig() configs.ModelConfig {
	return configs.ModelConfig{
		DModel: 512, NLayers: 24, AttnFractions: []float64{0.25, 0.5, 0.75}, NHeads: 8, NKVHeads: 2, RopeTheta: 10000,
		DState: 64, Expand: 2, HeadDim: 64, NGroups: 1, DConv: 4, Chunk: 64,
		FFN: false, Vocab: 32768, Context: 2048, NormEps: 1e-5, InitStd: 0.02,
	}
}

// TestNano builds the report's model from the nano preset itself and
// checks its shape and parameter count against the preset's numbers.
func TestNano(t *testing.T) {
	c, err := configs.Load(configs.Options{Preset: "nano", Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	mc, qc := c.Model, c.Quant
	info, err := Describe(mc, qc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nano parameters:\n%s", info)
	t.Logf("nano export: %d bytes at 1.58 bits, %d at 2 bits", info.SizeBytes(1.58), info.SizeBytes(2))

	// The count from the preset's numbers: d_model 512, 24 layers with
	// attention at 4, 12 and 19 (8 query heads, 2 key-value heads of 64),
	// Mamba-2 with expand 1, head_dim 64, one group, d_state 96, d_conv 4,
	// no FFN, SubLN before every BitLinear, vocab 32768.
	const (
		D, V, hd, N, K = 512, 32768, 64, 96, 4
		qd, kd         = 8 * hd, 2 * hd
		dIn            = 1 * D
		heads          = dIn / 64
		cConv          = dIn + 2*N
		dProj          = 2*dIn + 2*N + heads
	)
	attn := D + (qd*D + D) + 2*(kd*D+D) + (D*qd + qd)                            // norm1, wq, wk, wv, wo (+ SubLN gains)
	mamba := D + (dProj*D + D) + cConv*K + cConv + 3*heads + dIn + (D*dIn + dIn) // norm1, in_proj, conv, dt_bias/A_log/D, norm, out_proj
	want := int64(V*D + 3*attn + 21*mamba + D)                                   // embedding, layers, norm_f
	if info.Total != want {
		t.Errorf("nano has %d parameters, the preset's shapes give %d", info.Total, want)
	}
	names := map[string][]int{}
	for _, ti := range info.Tensors {
		names[ti.Name] = ti.Shape
	}
	same := func(a, b []int) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	for name, shape := range map[string][]int{
		"tok_embed": {V, D}, "layers.4.attn.wk": {kd, D}, "layers.12.attn.wq": {qd, D}, "layers.19.attn.wo": {D, qd},
		"layers.0.mamba.in_proj": {dProj, D}, "layers.23.mamba.conv_w": {cConv, K}, "layers.18.mamba.A_log": {heads},
	} {
		if got, ok := names[name]; !ok || !same(got, shape) {
			t.Errorf("%s: shape %v, want %v", name, got, shape)
		}
	}
	for _, absent := range []string{"layers.6.attn.wq", "layers.4.mamba.in_proj", "layers.0.ffn.w1"} {
		if _, ok := names[absent]; ok {
			t.Errorf("nano has %s", absent)
		}
	}
	if testing.Short() {
		t.Skip("allocation of the nano model skipped in -short mode")
	}
	m, err := New(mc, qc, 1)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range m.Params() {
		n += int64(p.Size())
	}
	if n != info.Total {
		t.Errorf("nano allocated %d parameters, Describe says %d", n, info.Total)
	}
}

func TestInitialisation(t *testing.T) {
	mc := hybridConfig()
	mc.InitStd = 0.02
	m, err := New(mc, quantConfig(false, 0), 9)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := New(mc, quantConfig(false, 0), 9)
	for i, p := range m.Params() {
		if bitsEqual(p.Data, m2.Params()[i].Data) >= 0 {
			t.Fatalf("%s differs between two builds with the same seed", p.Name)
		}
	}
	stat := func(name string) (lo, hi, std float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		var ss float64
		for _, v := range m.Param(name).Data {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
			ss += float64(v) * float64(v)
		}
		return lo, hi, math.Sqrt(ss / float64(m.Param(name).Size()))
	}
	if _, _, std := stat("tok_embed"); math.Abs(std-0.02) > 0.002 {
		t.Errorf("tok_embed std %v, want 0.02", std)
	}
	bound := 1 / math.Sqrt(16)
	if lo, hi, _ := stat("layers.0.mamba.in_proj"); lo < -bound || hi > bound || hi < 0.9*bound {
		t.Errorf("in_proj range [%v, %v], want U(±%v)", lo, hi, bound)
	}
	rb := 1 / math.Sqrt(32) / math.Sqrt(2*3)
	if lo, hi, _ := stat("layers.0.mamba.out_proj"); lo < -rb || hi > rb || hi < 0.8*rb {
		t.Errorf("out_proj range [%v, %v], want U(±%v)", lo, hi, rb)
	}
	for h, v := range m.Param("layers.0.mamba.dt_bias").Data {
		dt := math.Log1p(math.Exp(float64(v)))
		if dt < 1e-3*0.999 || dt > 0.1*1.001 {
			t.Errorf("softplus(dt_bias[%d]) = %v outside [1e-3, 0.1]", h, dt)
		}
	}
	for h, v := range m.Param("layers.0.mamba.A_log").Data {
		if a := math.Exp(float64(v)); a < 1 || a > 16 {
			t.Errorf("exp(A_log[%d]) = %v outside [1, 16]", h, a)
		}
	}
	for _, name := range []string{"layers.0.mamba.D", "layers.0.mamba.norm", "norm_f"} {
		for _, v := range m.Param(name).Data {
			if v != 1 {
				t.Fatalf("%s has %v, want 1", name, v)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		edit func(*configs.ModelConfig, *configs.QuantConfig)
		want string
	}{
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.NHeads = 6 }, "model.n_heads: 6 does not divide d_model 16"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.NKVHeads = 3 }, "model.n_kv_heads"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.AttnLayers = []int{3} }, "model.attn_layers"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.HeadDim = 5 }, "model.head_dim"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.NGroups = 3 }, "model.n_groups"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.DFF = 0 }, "model.d_ff"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.Vocab = 0 }, "model.vocab"},
		{func(m *configs.ModelConfig, _ *configs.QuantConfig) { m.NormEps = 0 }, "model.norm_eps"},
		{func(_ *configs.ModelConfig, q *configs.QuantConfig) { q.Scale = "absmax" }, "quant.scale"},
		{func(_ *configs.ModelConfig, q *configs.QuantConfig) { q.ActBits = 1 }, "quant.act_bits"},
		{func(_ *configs.ModelConfig, q *configs.QuantConfig) { q.Alpha4 = 0 }, "quant.alpha4"},
	}
	for _, c := range cases {
		mc, qc := hybridConfig(), quantConfig(false, 8)
		c.edit(&mc, &qc)
		if _, err := New(mc, qc, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: err = %v, want it to mention %q", err, c.want)
		}
		if _, err := Describe(mc, qc); err == nil {
			t.Errorf("Describe accepted a config New rejects (%s)", c.want)
		}
	}
	m, _ := New(hybridConfig(), quantConfig(false, 8), 1)
	bad := []struct {
		tokens, targets []int32
		b, t            int
	}{
		{[]int32{1, 2}, []int32{1, 2}, 1, 3},
		{[]int32{1, 32}, []int32{1, 2}, 1, 2},
		{[]int32{1, 2}, []int32{-2, 2}, 1, 2},
		{make([]int32, 17), make([]int32, 17), 1, 17},
	}
	for _, c := range bad {
		if _, err := m.ForwardBackward(c.tokens, c.targets, c.b, c.t, 1); err == nil {
			t.Errorf("ForwardBackward(%v, %v, %d, %d) accepted", c.tokens, c.targets, c.b, c.t)
		}
	}
	if _, err := m.Step(m.NewState(), 99); err == nil {
		t.Error("Step accepted token 99")
	}
}
