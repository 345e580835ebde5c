package engine

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/spec"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

var (
	trainedOnce sync.Once
	trained     *experiment.Trained
	trainedErr  error
	tempRoot    string // removed by TestMain
)

// microTrained trains the micro preset once for the package's tests
// (256 steps of 8×32 tokens, ending in ternary QAT).
func microTrained(t *testing.T) *experiment.Trained {
	t.Helper()
	trainedOnce.Do(func() {
		trained, trainedErr = trainMicro("train.tokens=65536")
	})
	if trainedErr != nil {
		t.Fatal(trainedErr)
	}
	return trained
}

// trainMicro trains the micro preset in a temporary project root (its
// datasets/ linked to the repository's) with a temporary registry.
func trainMicro(sets ...string) (*experiment.Trained, error) {
	root, err := os.MkdirTemp("", "engine-test-")
	if err != nil {
		return nil, err
	}
	tempRoot = root
	ds, err := filepath.Abs(filepath.Join("..", "..", "datasets"))
	if err != nil {
		return nil, err
	}
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		return nil, err
	}
	db, err := registry.Open(filepath.Join(root, "registry.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	env := &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(root, ".cache")}
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		return nil, err
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(root, s) }); err != nil {
		return nil, err
	}
	if _, err := env.Train(context.Background(), c, experiment.TrainOptions{}); err != nil {
		return nil, err
	}
	return env.LoadTrained(c.Hash())
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tempRoot != "" {
		os.RemoveAll(tempRoot)
	}
	os.Exit(code)
}

// writeLoad writes f to a temporary file and loads it.
func writeLoad(t testing.TB, f *gguf.File) *Model {
	t.Helper()
	b, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func exportEngine(t *testing.T, tr *experiment.Trained, o edge.Options) (*Model, *gguf.File) {
	t.Helper()
	f, err := edge.Export(tr.Model, tr.Config.Quant, tr.Tokenizer, o, edge.Provenance{RunHash: tr.Hash})
	if err != nil {
		t.Fatal(err)
	}
	e := writeLoad(t, f)
	// Load lets the tokenizer's arrays go once it has rebuilt them.
	if _, ok := f.Get("tokenizer.ggml.tokens"); ok {
		if e.Tokenizer() == nil || e.Tokenizer().VocabSize() != tr.Tokenizer.VocabSize() {
			t.Fatalf("the loaded model's tokenizer: %v", e.Tokenizer())
		}
		for _, k := range spec.TokenizerArrays {
			if _, ok := e.File.Get(k); ok {
				t.Fatalf("Load kept %s after building the tokenizer", k)
			}
		}
		if _, err := e.File.GetUint32("tokenizer.ggml.eos_token_id"); err != nil {
			t.Fatalf("Load dropped a scalar tokenizer key: %v", err)
		}
	}
	return e, f
}

// reference is a float model with the trained weights whose embedding is
// replaced by the file's (de-quantized, exact) values, so that it matches
// what the engine computes with a quantized embedding.
func reference(t *testing.T, tr *experiment.Trained, f *gguf.File) *models.Model {
	t.Helper()
	r, err := experiment.Replica(tr.Model, tr.Config.Quant)
	if err != nil {
		t.Fatal(err)
	}
	e := f.Tensor("token_embd.weight")
	v, err := gguf.Dequantize(e.Type, e.Data, int(e.Elements()))
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Param("tok_embed").Data, v)
	return r
}

type agreement struct {
	maxRel, promptRel, minMargin float64
	firstFlip, steps, nearTies   int
}

// Tolerances on |Δlogit| / max|logit| (see the package documentation).
// Without a flipped activation code the difference is float32 summation
// error: about (K+2)·2⁻²⁴ relative per projection, ≈1e-5 after a few
// layers; flipTol bounds it when one code moved by one step, which shifts
// a projection by γ·max|x|/127, i.e. about 1/127 of its output scale.
const (
	noFlipTol = 1e-5
	flipTol   = 2.0 / 127
)

// compare runs the reference model and the engine over ctx and a greedy
// continuation chosen by the reference up to the context length, comparing
// logits at every position.
func compare(t *testing.T, ref *models.Model, e *Model, ctx []int32) agreement {
	t.Helper()
	rs := ref.NewState()
	es := e.NewState()
	a := agreement{minMargin: math.Inf(1), firstFlip: -1}
	toks := append([]int32(nil), ctx...)
	for i := 0; i < e.Context; i++ {
		rl, err := ref.Step(rs, toks[i])
		if err != nil {
			t.Fatal(err)
		}
		el, err := e.Step(es, toks[i])
		if err != nil {
			t.Fatal(err)
		}
		var scale, d float64
		for j := range rl {
			scale = max(scale, math.Abs(float64(rl[j])))
			d = max(d, math.Abs(float64(rl[j])-float64(el[j])))
		}
		rel := d / scale
		a.maxRel = max(a.maxRel, rel)
		if i < len(ctx) {
			a.promptRel = max(a.promptRel, rel)
		}
		if rel > noFlipTol && a.firstFlip < 0 {
			a.firstFlip = i
		}
		best := Argmax(rl)
		second := math.Inf(-1)
		for j, v := range rl {
			if j != best {
				second = max(second, float64(v))
			}
		}
		margin := float64(rl[best]) - second
		a.minMargin = min(a.minMargin, margin)
		if Argmax(el) != best {
			// Only a near-tie that the difference explains may pick another token.
			if margin > 2*d {
				t.Errorf("position %d: engine argmax %d, reference %d, margin %.3g > 2·|Δ| = %.3g", i, Argmax(el), best, margin, 2*d)
			}
			a.nearTies++
		}
		a.steps++
		if i == len(toks)-1 {
			toks = append(toks, int32(best))
		}
	}
	return a
}

func TestAgreesWithTrainingPath(t *testing.T) {
	tr := microTrained(t)
	prompt := "Once upon a time, there was a"
	ctx := append([]int32{tr.Tokenizer.EOS()}, tr.Tokenizer.Encode(prompt)...)
	for _, o := range []edge.Options{
		{Weights: gguf.TQ2_0, Embed: gguf.F32}, {Weights: gguf.TQ1_0, Embed: gguf.F32},
		{Weights: gguf.TQ2_0, Embed: gguf.F16}, {Weights: gguf.TQ1_0, Embed: gguf.Q8_0}, {Weights: gguf.TQ2_0, Embed: gguf.Q4_0},
	} {
		t.Run(o.Weights.String()+"_"+o.Embed.String(), func(t *testing.T) {
			e, f := exportEngine(t, tr, o)
			ref := reference(t, tr, f)
			a := compare(t, ref, e, ctx)
			t.Logf("%d positions: max |Δ|/max|logit| %.3g (prompt %.3g), first position above %g: %d, near-tie argmax changes %d, smallest top-1 margin %.3g",
				a.steps, a.maxRel, a.promptRel, noFlipTol, a.firstFlip, a.nearTies, a.minMargin)
			if a.steps != e.Context || a.maxRel > flipTol || a.promptRel > noFlipTol {
				t.Errorf("logits differ by %.3g relative (tolerance %.3g), %.3g over the prompt (tolerance %g)", a.maxRel, flipTol, a.promptRel, noFlipTol)
			}
			// Greedy text through the harness's generate path.
			lm, err := experiment.NewModelLM(ref, tr.Config.Quant, tr.Tokenizer, 1)
			if err != nil {
				t.Fatal(err)
			}
			want, err := lm.Generate(ctx, 40, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Generate(prompt, 40)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || len(strings.TrimSpace(got)) == 0 {
				t.Errorf("engine text %q, training path %q", got, want)
			}
			t.Logf("greedy: %q", got)
		})
	}
}

// TestExactArithmeticBits checks the engine against the training path in
// the exact arithmetic (models.ArithExact): every logit of every position
// of a whole-context greedy generation has the same bits, for both ternary
// packings and each embedding type (the float head reads the embedding
// de-quantized, as the reference does). The training arithmetic, over the
// same tokens, must not: the two are different computations.
func TestExactArithmeticBits(t *testing.T) {
	tr := microTrained(t)
	ctx := append([]int32{tr.Tokenizer.EOS()}, tr.Tokenizer.Encode("Once upon a time, there was a")...)
	for _, o := range []edge.Options{
		{Weights: gguf.TQ2_0, Embed: gguf.F32}, {Weights: gguf.TQ1_0, Embed: gguf.F16}, {Weights: gguf.TQ2_0, Embed: gguf.Q8_0},
	} {
		t.Run(o.Weights.String()+"_"+o.Embed.String(), func(t *testing.T) {
			e, f := exportEngine(t, tr, o)
			ref := reference(t, tr, f)
			if err := ref.SetArithmetic(models.ArithExact); err != nil {
				t.Fatal(err)
			}
			toks, exact := bitsAlong(t, ref, e, ctx, nil)
			if exact != len(toks) || len(toks) != e.Context {
				t.Fatalf("%d of %d positions with the same bits (context %d)", exact, len(toks), e.Context)
			}
			if err := ref.SetArithmetic(models.ArithTraining); err != nil {
				t.Fatal(err)
			}
			if _, same := bitsAlong(t, ref, e, ctx, toks); same == len(toks) {
				t.Errorf("the training arithmetic gave the engine's bits at all %d positions", same)
			}
		})
	}
	// Random ternary weights: the tiny preset over its whole context of
	// 256 tokens, and the other BitLinear variants (no SubLN, 4-bit
	// activations, no activation quantization: the float64 sum of γ·t·x).
	for _, v := range []struct {
		preset string
		sets   []string
	}{{"tiny", nil}, {"micro", []string{"quant.subln=false"}}, {"micro", []string{"quant.act_bits=4"}}, {"micro", []string{"quant.act_bits=0"}}} {
		t.Run(strings.Join(append([]string{v.preset}, v.sets...), " "), func(t *testing.T) {
			m, e := randomPair(t, v.preset, 3, edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F32}, v.sets...)
			if err := m.SetArithmetic(models.ArithExact); err != nil {
				t.Fatal(err)
			}
			toks, exact := bitsAlong(t, m, e, []int32{1, 2, 3}, nil)
			if exact != len(toks) || len(toks) != e.Context {
				t.Fatalf("%d of %d positions with the same bits (context %d)", exact, len(toks), e.Context)
			}
			// Both split their products over threads with the same bits.
			m.SetThreads(2)
			e.SetThreads(2)
			if _, exact := bitsAlong(t, m, e, nil, toks); exact != len(toks) {
				t.Fatalf("2 threads: %d of %d positions with the same bits", exact, len(toks))
			}
		})
	}
}

// bitsAlong steps ref and e over ctx continued greedily by ref (or over
// toks when given) and returns the tokens and the number of positions
// whose logits have the same bits.
func bitsAlong(t *testing.T, ref *models.Model, e *Model, ctx, toks []int32) ([]int32, int) {
	t.Helper()
	rs, es := ref.NewState(), e.NewState()
	given := toks != nil
	if !given {
		toks = append([]int32(nil), ctx...)
	}
	same := 0
	for i := 0; i < e.Context && i < len(toks); i++ {
		rl, err := ref.Step(rs, toks[i])
		if err != nil {
			t.Fatal(err)
		}
		el, err := e.Step(es, toks[i])
		if err != nil {
			t.Fatal(err)
		}
		eq := len(rl) == len(el)
		for j := range rl {
			eq = eq && math.Float32bits(rl[j]) == math.Float32bits(el[j])
		}
		if eq {
			same++
		}
		if !given && i == len(toks)-1 && len(toks) < e.Context {
			toks = append(toks, int32(Argmax(rl)))
		}
	}
	return toks, same
}

func TestThreadsAndDeterminism(t *testing.T) {
	tr := microTrained(t)
	e, _ := exportEngine(t, tr, edge.Options{Weights: gguf.TQ1_0, Embed: gguf.F16})
	run := func(threads int) []float32 {
		e.SetThreads(threads)
		st := e.NewState()
		var out []float32
		for _, tok := range []int32{256, 10, 20, 30, 40, 50} {
			l, err := e.Step(st, tok)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		return out
	}
	a, b := run(1), run(4)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("logit %d: %v with 1 thread, %v with 4", i, a[i], b[i])
		}
	}
}

func TestStepErrors(t *testing.T) {
	tr := microTrained(t)
	e, _ := exportEngine(t, tr, edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F16})
	st := e.NewState()
	if _, err := e.Step(st, int32(e.V)); err == nil {
		t.Error("token = vocab accepted")
	}
	if _, err := e.Step(st, -1); err == nil {
		t.Error("negative token accepted")
	}
	if _, err := e.Step(nil, 1); err == nil {
		t.Error("nil state accepted")
	}
	if _, err := e.Prefill(st, nil); err == nil {
		t.Error("empty prefill accepted")
	}
	for i := 0; i < e.Context; i++ {
		if _, err := e.Step(st, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Step(st, 1); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("step past the context: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	tr := microTrained(t)
	_, good := exportEngine(t, tr, edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F16})
	mutate := func(name string, fn func(f *gguf.File), want string) {
		t.Helper()
		b, _ := good.Bytes()
		f, err := gguf.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		fn(f)
		if _, err := New(f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, want)
		}
	}
	mutate("arch", func(f *gguf.File) { f.Set("general.architecture", gguf.String("llama")) }, "architecture")
	mutate("missing tensor", func(f *gguf.File) {
		f.Tensors = f.Tensors[:len(f.Tensors)-1]
	}, "output_norm.weight is missing")
	mutate("act bits", func(f *gguf.File) { f.Set("nanomamba.quant.act_bits", gguf.Uint32(12)) }, "act_bits")
	mutate("d_model", func(f *gguf.File) { f.Set("nanomamba.embedding_length", gguf.Uint32(48)) }, "do not fit d_model 48")
	mutate("vocab", func(f *gguf.File) { f.Set("nanomamba.vocab_size", gguf.Uint32(385)) }, "token_embd.weight has dims")
	mutate("key type", func(f *gguf.File) { f.Set("nanomamba.block_count", gguf.Int32(3)) }, "want u32")
	mutate("block scale", func(f *gguf.File) {
		w := f.Tensor("blk.0.ssm_in.weight")
		w.Data = append([]byte(nil), w.Data...)
		w.Data[64], w.Data[65] = 0x00, 0x40 // d = 2
	}, "block 0 has scale 2")
	mutate("code 3", func(f *gguf.File) {
		w := f.Tensor("blk.0.ssm_in.weight")
		w.Data = append([]byte(nil), w.Data...)
		w.Data[0] = 0xff
	}, "code 3")
	mutate("attention layer", func(f *gguf.File) { f.Set("nanomamba.attention.layers", gguf.Uint32s([]uint32{7})) }, "outside")
	mutate("nan gain", func(f *gguf.File) {
		n := f.Tensor("output_norm.weight")
		n.Data = append([]byte(nil), n.Data...)
		copy(n.Data, []byte{0, 0, 0xc0, 0x7f})
	}, "NaN")
	if _, err := Load(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("a missing file loaded")
	}
}

// BenchmarkDecode measures decode tokens/s of the micro model.
func BenchmarkDecode(b *testing.B) {
	t := &testing.T{}
	tr := microTrained(t)
	for _, wt := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
		b.Run(wt.String(), func(b *testing.B) {
			f, _ := edge.Export(tr.Model, tr.Config.Quant, tr.Tokenizer, edge.Options{Weights: wt, Embed: gguf.F16}, edge.Provenance{})
			e, err := New(f)
			if err != nil {
				b.Fatal(err)
			}
			st := e.NewState()
			for b.Loop() {
				if st.Pos() == e.Context {
					st = e.NewState()
				}
				if _, err := e.Step(st, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// TestNanoDecodeSpeed decodes with a random-weight nano model (the
// report's size) and logs tokens/s and weight bytes per token. It needs
// about 1.5 GB of memory, so it runs only with EDGE_NANO_BENCH=1.
func TestNanoDecodeSpeed(t *testing.T) {
	if os.Getenv("EDGE_NANO_BENCH") == "" {
		t.Skip("set EDGE_NANO_BENCH=1 to decode with the nano model")
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
	for _, o := range []edge.Options{{Weights: gguf.TQ2_0, Embed: gguf.Q8_0}, {Weights: gguf.TQ1_0, Embed: gguf.Q8_0}, {Weights: gguf.TQ2_0, Embed: gguf.F16}} {
		f, err := edge.Export(m, c.Quant, nil, o, edge.Provenance{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Bytes()
		g, _ := gguf.Parse(b)
		e, err := New(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range []int{1, 2} {
			e.SetThreads(th)
			st := e.NewState()
			const n = 16
			start := time.Now()
			for i := 0; i < n; i++ {
				if _, err := e.Step(st, int32(i)); err != nil {
					t.Fatal(err)
				}
			}
			el := time.Since(start).Seconds()
			t.Logf("nano %s/%s, %d thread(s): %.2f tok/s, %.1f MB of weights read per token (%.2f GB/s effective)",
				o.Weights, o.Embed, th, n/el, float64(e.WeightBytes())/1e6, float64(e.WeightBytes())*n/el/1e9)
		}
	}
}
