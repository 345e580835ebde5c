package edge

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/spec"
	"github.com/nanomamba-edge/harness/models"
)

// microModel is the micro preset with random weights, quantized to ternary.
func microModel(t testing.TB, sets ...string) (*models.Model, *configs.Config) {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, 7)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	return m, c
}

func testTokenizer(t testing.TB) *data.Tokenizer {
	t.Helper()
	texts := []string{"Once upon a time there was a little cat.", "The cat sat on the mat and the dog ran.",
		"Lily and Tom went to the park to play with the ball."}
	tok, err := data.TrainBPE(texts, 300)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// exportTwice exports m twice with o, fails unless the bytes are equal,
// writes them to a temporary file and returns its path and our reader's
// parse, checked against gguf-parser-go (checkIndependentReader).
func exportTwice(t *testing.T, m *models.Model, c *configs.Config, tok *data.Tokenizer, o Options, prov Provenance) (string, *gguf.File) {
	t.Helper()
	var bs [2][]byte
	for i := range bs {
		f, err := Export(m, c.Quant, tok, o, prov)
		if err != nil {
			t.Fatal(err)
		}
		if bs[i], err = f.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(bs[0], bs[1]) {
		t.Fatal("two exports of the same model differ")
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, bs[0], 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkIndependentReader(t, path, g)
	return path, g
}

func TestExportRoundTrip(t *testing.T) {
	m, c := microModel(t)
	tok := testTokenizer(t)
	prov := Provenance{RunHash: c.Hash(), ConfigJSON: c.Canonical(), CodeCommit: "0123abcd", CodeDirty: true}
	for _, wt := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
		for _, et := range []gguf.Type{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0} {
			t.Run(wt.String()+"_"+et.String(), func(t *testing.T) {
				_, g := exportTwice(t, m, c, tok, Options{Weights: wt, Embed: et}, prov)
				checkWeights(t, m, c, g, wt, et)
				if et == gguf.F32 && wt == gguf.TQ2_0 {
					checkMetadata(t, g, c, prov, tok)
				}
			})
		}
	}
}

// checkIndependentReader lists the tensors with gguf-parser-go and compares
// each with what this package wrote.
func checkIndependentReader(t *testing.T, path string, g *gguf.File) {
	t.Helper()
	pf, err := parser.ParseGGUFFile(path)
	if err != nil {
		t.Fatalf("gguf-parser-go: %v", err)
	}
	if pf.Header.Version != 3 || pf.Header.TensorCount != uint64(len(g.Tensors)) || pf.Header.MetadataKVCount != uint64(len(g.KVs)) {
		t.Fatalf("gguf-parser-go header %+v", pf.Header)
	}
	if uint64(pf.TensorDataStartOffset) != g.DataOffset {
		t.Errorf("gguf-parser-go data offset %d, ours %d", pf.TensorDataStartOffset, g.DataOffset)
	}
	if len(pf.TensorInfos) != len(g.Tensors) {
		t.Fatalf("gguf-parser-go lists %d tensors, we wrote %d", len(pf.TensorInfos), len(g.Tensors))
	}
	for i, ti := range pf.TensorInfos {
		ours := g.Tensors[i]
		if ti.Name != ours.Name || uint32(ti.Type) != uint32(ours.Type) || ti.Offset != ours.Offset ||
			fmt.Sprint(ti.Dimensions) != fmt.Sprint(ours.Dims) || ti.NDimensions != uint32(len(ours.Dims)) {
			t.Errorf("tensor %d: gguf-parser-go %s %s %v @%d, ours %s %s %v @%d", i,
				ti.Name, ti.Type, ti.Dimensions, ti.Offset, ours.Name, ours.Type, ours.Dims, ours.Offset)
		}
		if ti.Type.String() != ours.Type.String() {
			t.Errorf("tensor %s: type name %s vs %s", ti.Name, ti.Type, ours.Type)
		}
		if uint64(ti.Bytes()) != uint64(len(ours.Data)) {
			t.Errorf("tensor %s: gguf-parser-go size %d, ours %d", ti.Name, ti.Bytes(), len(ours.Data))
		}
	}
	arch, ok := pf.Header.MetadataKV.Get("general.architecture")
	if !ok || arch.ValueString() != spec.Arch {
		t.Errorf("gguf-parser-go general.architecture = %v", arch)
	}
}

// checkWeights dequantizes every BitLinear and compares it with the
// model's effective ternary weight, and the other tensors with the params.
func checkWeights(t *testing.T, m *models.Model, c *configs.Config, g *gguf.File, wt, et gguf.Type) {
	t.Helper()
	D := c.Model.DModel
	n := 0
	for i := 0; i < c.Model.NLayers; i++ {
		for _, bl := range bitLinearNames {
			pname := fmt.Sprintf("layers.%d.%s", i, bl.param)
			p := m.Param(pname)
			w := g.Tensor(fmt.Sprintf("blk.%d.%s.weight", i, bl.gguf))
			if (p == nil) != (w == nil) {
				t.Fatalf("%s: param present %v, tensor present %v", pname, p != nil, w != nil)
			}
			if p == nil {
				continue
			}
			n++
			out, in := p.Shape[0], p.Shape[1]
			if w.Type != wt || w.Dims[0] != 256 || w.Dims[1] != uint64(out) {
				t.Fatalf("%s: %s %v, want %s [256 %d]", w.Name, w.Type, w.Dims, wt, out)
			}
			deq, err := gguf.Dequantize(w.Type, w.Data, int(w.Elements()))
			if err != nil {
				t.Fatal(err)
			}
			codes, err := gguf.UnpadRows(deq, out, in, int(w.Dims[0]))
			if err != nil {
				t.Fatal(err)
			}
			for j := in; j < 256; j++ {
				if deq[j] != 0 {
					t.Fatalf("%s: padding value %d is %v", w.Name, j, deq[j])
				}
			}
			sc := g.Tensor(fmt.Sprintf("blk.%d.%s.scale", i, bl.gguf))
			s, _ := gguf.Dequantize(sc.Type, sc.Data, 1)
			eff := m.EffectiveWeight(pname)
			nz := 0
			for j, v := range eff {
				if got := codes[j] * s[0]; got != v {
					t.Fatalf("%s element %d: %v·%v = %v, model %v", w.Name, j, codes[j], s[0], got, v)
				}
				if v != 0 {
					nz++
				}
			}
			if nz == 0 || nz == len(eff) {
				t.Fatalf("%s: %d of %d non-zero: not a ternary test", pname, nz, len(eff))
			}
			if sub := g.Tensor(fmt.Sprintf("blk.%d.%s.sub_norm.weight", i, bl.gguf)); sub == nil || sub.Dims[0] != uint64(in) {
				t.Fatalf("%s: SubLN gain missing", pname)
			}
		}
	}
	if n != 2*2+1*4+3*3 {
		t.Errorf("%d BitLinears checked, want 17 for micro (2 Mamba layers × 2, 1 attention × 4, 3 FFNs × 3)", n)
	}
	e := g.Tensor("token_embd.weight")
	if e.Type != et || e.Dims[0] != uint64(D) || e.Dims[1] != uint64(c.Model.Vocab) {
		t.Fatalf("token_embd %s %v", e.Type, e.Dims)
	}
	ed, _ := gguf.Dequantize(e.Type, e.Data, int(e.Elements()))
	want := m.Param("tok_embed").Data
	ref, _ := gguf.Quantize(et, want)
	rd, _ := gguf.Dequantize(et, ref, len(want))
	for j := range want {
		if ed[j] != rd[j] || et == gguf.F32 && ed[j] != want[j] {
			t.Fatalf("embedding value %d: %v, want %v", j, ed[j], rd[j])
		}
	}
	a := g.Tensor("blk.0.ssm_a")
	ad, _ := gguf.Dequantize(a.Type, a.Data, 4)
	for h, v := range ad {
		if !(v < 0) {
			t.Errorf("A[%d] = %v, want negative", h, v)
		}
	}
	cw := g.Tensor("blk.0.ssm_conv1d.weight")
	if cw.Dims[0] != 4 || cw.Dims[1] != 80 {
		t.Errorf("conv weight dims %v, want [4 80]", cw.Dims)
	}
}

func checkMetadata(t *testing.T, g *gguf.File, c *configs.Config, prov Provenance, tok *data.Tokenizer) {
	t.Helper()
	for k, want := range map[string]uint32{"nanomamba.embedding_length": 32, "nanomamba.block_count": 3, "nanomamba.vocab_size": 384,
		"nanomamba.context_length": 64, "nanomamba.ssm.inner_size": 64, "nanomamba.ssm.state_size": 8, "nanomamba.ssm.time_step_rank": 4,
		"nanomamba.ssm.conv_kernel": 4, "nanomamba.attention.head_count": 4, "nanomamba.attention.head_count_kv": 2,
		"nanomamba.quant.act_bits": 8, "nanomamba.feed_forward_length": 64, "general.file_type": 37} {
		if v, err := g.GetUint32(k); err != nil || v != want {
			t.Errorf("%s = %v, %v; want %d", k, v, err, want)
		}
	}
	if l, err := g.GetUint32s("nanomamba.attention.layers"); err != nil || len(l) != 1 || l[0] != 1 {
		t.Errorf("attention.layers = %v, %v", l, err)
	}
	if e, err := g.GetFloat64("nanomamba.norm_eps"); err != nil || e != c.Model.NormEps {
		t.Errorf("norm_eps = %v, %v", e, err)
	}
	if s, _ := g.GetString("nanomamba.provenance.run_hash"); s != prov.RunHash {
		t.Errorf("run hash %q", s)
	}
	cj, _ := g.GetString("nanomamba.provenance.config")
	back, err := configs.FromCanonical(cj)
	if err != nil || back.Hash() != c.Hash() {
		t.Errorf("config JSON does not rebuild the config: %v", err)
	}
	if s, _ := g.GetString("nanomamba.provenance.code_commit"); s != "0123abcd" {
		t.Errorf("code commit %q", s)
	}
	toks, _ := g.GetStrings("tokenizer.ggml.tokens")
	types, _ := g.GetInt32s("tokenizer.ggml.token_type")
	if len(toks) != 384 || toks[256] != data.EOSToken || types[256] != spec.TokenControl || types[0] != spec.TokenNormal ||
		types[383] != spec.TokenUnused || toks[383] != "[PAD383]" || toks[32] != "Ġ" {
		t.Errorf("tokens: %d, [256]=%q type %d, [383]=%q type %d, [32]=%q", len(toks), toks[256], types[256], toks[383], types[383], toks[32])
	}
	back2, err := spec.TokenizerFromGGUF(g)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back2.JSON(), tok.JSON()) {
		t.Error("the tokenizer rebuilt from tokenizer.ggml.* differs from the original")
	}
	s := "Once upon a time, the cat ran."
	if fmt.Sprint(back2.Encode(s)) != fmt.Sprint(tok.Encode(s)) || len(tok.Merges()) == 0 {
		t.Error("rebuilt tokenizer encodes differently")
	}
}

func TestExportRejects(t *testing.T) {
	m, c := microModel(t)
	m.SetQuant(models.QuantState{From: models.Float, To: models.Ternary, Lambda: 0.5})
	if _, err := Export(m, c.Quant, nil, Options{}, Provenance{}); err == nil || !strings.Contains(err.Error(), "not ternary") {
		t.Errorf("half-ternary model: %v", err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	if _, err := Export(m, c.Quant, nil, Options{Weights: gguf.Q8_0}, Provenance{}); err == nil {
		t.Error("Q8_0 weights accepted")
	}
	if _, err := Export(m, c.Quant, nil, Options{Embed: gguf.TQ2_0}, Provenance{}); err == nil {
		t.Error("TQ2_0 embedding accepted")
	}
	qc := c.Quant
	qc.SubLN = false
	if _, err := Export(m, qc, nil, Options{}, Provenance{}); err == nil || !strings.Contains(err.Error(), "SubLN") {
		t.Errorf("SubLN mismatch: %v", err)
	}
	qc = c.Quant
	qc.ActBits = 12
	if _, err := Export(m, qc, nil, Options{}, Provenance{}); err == nil {
		t.Error("12-bit activations accepted")
	}
	m2, c2 := microModel(t, "model.d_model=48", "model.n_heads=4", "model.head_dim=16")
	if _, err := Export(m2, c2.Quant, nil, Options{Embed: gguf.Q8_0}, Provenance{}); err == nil || !strings.Contains(err.Error(), "multiple of 32") {
		t.Errorf("Q8_0 embedding of d_model 48: %v", err)
	}
	_, err := Export(m, c.Quant, nil, Options{Embed: gguf.Q3_K}, Provenance{})
	if err == nil {
		t.Fatal("Q3_K embedding of d_model 32 accepted")
	}
	for _, s := range []string{"Q3_K", "multiple of 256", "d_model is 32", "use f16, f32, q8_0, q4_0 instead"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Q3_K embedding of d_model 32: %q does not say %q", err, s)
		}
	}
	if _, err := Export(nil, c.Quant, nil, Options{}, Provenance{}); err == nil {
		t.Error("nil model accepted")
	}
}

// TestNanoSizes exports a random-weight nano model (the report's model) in
// every weights × embedding combination and checks each file's tensor data
// against the block arithmetic: Σ over tensors of ⌈bytes/32⌉·32. It needs
// about 1 GB of memory, so it runs only with EDGE_NANO_SIZES=1.
func TestNanoSizes(t *testing.T) {
	if os.Getenv("EDGE_NANO_SIZES") == "" {
		t.Skip("set EDGE_NANO_SIZES=1 to export the nano model")
	}
	c, err := configs.Load(configs.Options{Preset: "nano", Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	var bitParams, embParams int
	for _, p := range m.Params() {
		if m.EffectiveWeight(p.Name) != nil {
			bitParams += len(p.Data)
		}
	}
	embParams = len(m.Param("tok_embed").Data)
	t.Logf("nano: %d ternary weights, %d embedding values, %d parameters in all", bitParams, embParams, func() (n int) {
		for _, p := range m.Params() {
			n += len(p.Data)
		}
		return
	}())
	for _, wt := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
		for _, et := range []gguf.Type{gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.F32} {
			f, err := Export(m, c.Quant, nil, Options{Weights: wt, Embed: et}, Provenance{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := f.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			var data uint64
			for _, tt := range f.Tensors {
				data += (uint64(len(tt.Data)) + 31) / 32 * 32
			}
			if uint64(len(b)) != f.DataOffset+data {
				t.Errorf("%s/%s: %d bytes, want header %d + data %d", wt, et, len(b), f.DataOffset, data)
			}
			wb, _ := gguf.RowBytes(wt, bitParams)
			eb, _ := gguf.RowBytes(et, embParams)
			t.Logf("nano %s weights, %s embedding: %d bytes (%.2f MiB); ternary blocks %d B, embedding %d B, rest %d B",
				wt, et, len(b), float64(len(b))/(1<<20), wb, eb, len(b)-wb-eb)
		}
	}
}

// TestExportQ3KEmbedding exports a model with d_model 256 and a Q3_K
// embedding: the same bytes twice, every tensor listed by gguf-parser-go
// with ggml's type 11, its shape and offset, and the embedding equal to
// gguf.Quantize(Q3_K) of the model's, de-quantized.
func TestExportQ3KEmbedding(t *testing.T) {
	m, c := microModel(t, "model.d_model=256", "model.n_heads=4", "model.n_kv_heads=2", "model.head_dim=64")
	tok := testTokenizer(t)
	prov := Provenance{RunHash: c.Hash(), ConfigJSON: c.Canonical(), CodeCommit: "0123abcd"}
	for _, wt := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
		t.Run(wt.String(), func(t *testing.T) {
			path, g := exportTwice(t, m, c, tok, Options{Weights: wt, Embed: gguf.Q3_K}, prov)
			pf, err := parser.ParseGGUFFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var seen bool
			for _, ti := range pf.TensorInfos {
				if ti.Name != "token_embd.weight" {
					continue
				}
				seen = true
				if uint32(ti.Type) != 11 || ti.Type.String() != "Q3_K" || fmt.Sprint(ti.Dimensions) != fmt.Sprint([]uint64{256, uint64(c.Model.Vocab)}) ||
					ti.Bytes() != uint64(c.Model.Vocab*110) {
					t.Errorf("gguf-parser-go token_embd.weight: type %d %s, dims %v, %d bytes", uint32(ti.Type), ti.Type, ti.Dimensions, ti.Bytes())
				}
			}
			if !seen {
				t.Fatal("gguf-parser-go does not list token_embd.weight")
			}
			e := g.Tensor("token_embd.weight")
			want := m.Param("tok_embed").Data
			ref, err := gguf.Quantize(gguf.Q3_K, want)
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != gguf.Q3_K || !bytes.Equal(e.Data, ref) {
				t.Fatalf("token_embd.weight: %s, %d bytes, not the Q3_K blocks of the model's embedding", e.Type, len(e.Data))
			}
			ed, err := gguf.Dequantize(e.Type, e.Data, int(e.Elements()))
			if err != nil {
				t.Fatal(err)
			}
			var nz int
			for j, v := range ed {
				if v != 0 {
					nz++
				}
				// 3.4 bits per value: within a third of the row's range.
				if d := math.Abs(float64(v - want[j])); d > 0.34*float64(absMaxRow(want, j, 256)) {
					t.Fatalf("embedding value %d: %v, model %v", j, v, want[j])
				}
			}
			if nz < len(ed)/2 {
				t.Fatalf("%d of %d de-quantized values non-zero", nz, len(ed))
			}
		})
	}
}

// absMaxRow is max |x| over the row of width w that holds element j.
func absMaxRow(x []float32, j, w int) float32 {
	var m float32
	for _, v := range x[j/w*w : j/w*w+w] {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m
}
