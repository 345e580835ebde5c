package hf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

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
	tok, err := data.TrainBPE([]string{"Once upon a time there was a little cat.", "The cat sat on the mat and the dog ran.",
		"Lily and Tom went to the park to play with the ball."}, 300)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// greedy feeds prompt and returns n greedy tokens and every step's logits.
func greedy(t *testing.T, m *models.Model, prompt []int32, n int) ([]int32, [][]float32) {
	t.Helper()
	st := m.NewState()
	var l []float32
	var rows [][]float32
	var err error
	for _, tok := range prompt {
		if l, err = m.Step(st, tok); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, l)
	}
	gen, err := m.Greedy(st, l, n, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gen, rows
}

// sameModel checks that b computes with exactly a's weights: every
// effective BitLinear weight and every other parameter bit for bit.
func sameModel(t *testing.T, a, b *models.Model) {
	t.Helper()
	for _, p := range a.Params() {
		q := b.Param(p.Name)
		if q == nil {
			t.Fatalf("loaded model has no %s", p.Name)
		}
		if ea := a.EffectiveWeight(p.Name); ea != nil {
			if eb := b.EffectiveWeight(p.Name); !slices.Equal(ea, eb) {
				t.Errorf("%s: effective weights differ", p.Name)
			}
			continue
		}
		if !slices.Equal(p.Data, q.Data) {
			t.Errorf("%s differs", p.Name)
		}
	}
}

func TestPackTernary(t *testing.T) {
	codes := []float32{-1, 0, 1, 1, 0, -1, 1, 0, 0, -1, 1}
	for _, in := range []int{11, 1} {
		out := len(codes) / in
		b, err := packTernary(codes[:out*in], out, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != out*((in+3)/4) {
			t.Fatalf("%d bytes", len(b))
		}
		got, err := unpackTernary(b, out, in)
		if err != nil || !slices.Equal(got, codes[:out*in]) {
			t.Fatalf("unpack = %v, %v", got, err)
		}
	}
	if b, _ := packTernary([]float32{-1, 0, 1, 1}, 1, 4); b[0] != 0b10_10_01_00 {
		t.Errorf("packed byte %08b, want t+1 two bits each, first lowest", b[0])
	}
	if _, err := packTernary([]float32{0.5}, 1, 1); err == nil {
		t.Error("a non-ternary code was packed")
	}
	if _, err := unpackTernary([]byte{3}, 1, 1); err == nil {
		t.Error("code 3 was accepted")
	}
	if _, err := unpackTernary([]byte{0b0100_0001}, 1, 3); err == nil {
		t.Error("non-zero padding bits were accepted")
	}
}

// TestRoundTripRandom writes random ternary micro models (absmean and
// absmedian scales, with and without SubLN) and loads them back: the same
// effective weights bit for bit, so the same logits and greedy text.
func TestRoundTripRandom(t *testing.T) {
	tok := testTokenizer(t)
	for _, sets := range [][]string{nil, {"quant.scale=absmedian"}, {"quant.subln=false", "model.n_groups=2"}} {
		t.Run(strings.Join(sets, ","), func(t *testing.T) {
			m, c := microModel(t, sets...)
			dir := t.TempDir()
			res, err := Write(dir, m, c, tok, nil, "", false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 5 {
				t.Fatalf("files %+v", res.Files)
			}
			m2, tok2, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			sameModel(t, m, m2)
			if tok2.Hash() != tok.Hash() {
				t.Error("the tokenizer differs after loading")
			}
			prompt := []int32{5, 17, 200, 3}
			g1, l1 := greedy(t, m, prompt, 40)
			g2, l2 := greedy(t, m2, prompt, 40)
			if !slices.Equal(g1, g2) {
				t.Errorf("greedy %v, loaded %v", g1, g2)
			}
			for i := range l1 {
				if !slices.Equal(l1[i], l2[i]) {
					t.Errorf("step %d: logits differ", i)
				}
			}
			// Writing again gives the same bytes (and is allowed without force).
			res2, err := Write(dir, m, c, tok, nil, "", false)
			if err != nil {
				t.Fatal(err)
			}
			for i := range res.Files {
				if res.Files[i].SHA256 != res2.Files[i].SHA256 {
					t.Errorf("%s differs on a second write", res.Files[i].Name)
				}
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	m, c := microModel(t)
	dir := t.TempDir()
	if _, err := Write(dir, m, c, testTokenizer(t), nil, "", false); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	for name, mutate := range map[string]func(d string){
		"truncated weights": func(d string) { os.WriteFile(filepath.Join(d, WeightsFile), raw[:len(raw)-5], 0o644) },
		"other model_type":  func(d string) { os.WriteFile(filepath.Join(d, ConfigFile), []byte(`{"model_type":"llama"}`), 0o644) },
		"no tokenizer":      func(d string) { os.Remove(filepath.Join(d, TokenizerFile)) },
	} {
		d := t.TempDir()
		for _, f := range []string{WeightsFile, ConfigFile, TokenizerFile, GenerationFile, CardFile} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			os.WriteFile(filepath.Join(d, f), b, 0o644)
		}
		mutate(d)
		if _, _, err := Load(d); err == nil {
			t.Errorf("%s: Load succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// A non-ternary model is refused.
	m.SetQuant(models.QuantState{From: models.Int2, To: models.Int2, Lambda: 1})
	if _, err := Write(t.TempDir(), m, c, testTokenizer(t), nil, "", false); err == nil {
		t.Error("an int2 model was written")
	}
}

// TestExportTrainedRun trains the micro preset in a temporary root, records
// an eval run, exports the folder from the registry and loads it back: the
// same greedy text as the trained model, and a card with the eval table,
// the data licences and the hashes `harness reproduce` accepts.
func TestExportTrainedRun(t *testing.T) {
	root := t.TempDir()
	ds, err := filepath.Abs(filepath.Join("..", "..", "datasets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(root, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(root, ".cache")}
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: []string{"train.tokens=16384"}, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(root, s) }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Train(context.Background(), c, experiment.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	hash := c.Hash()
	ev, err := env.Evaluate(context.Background(), experiment.EvalRequest{Model: hash, Tasks: []string{"blimp"}, Shots: -1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "runs", hash, "hf")
	res, err := Export(env, hash, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		b, _ := os.ReadFile(f.Path)
		s := sha256.Sum256(b)
		if hex.EncodeToString(s[:]) != f.SHA256 || int64(len(b)) != f.Bytes {
			t.Errorf("%s: recorded sha256/size do not match the file", f.Name)
		}
	}
	tr, err := env.LoadTrained(hash)
	if err != nil {
		t.Fatal(err)
	}
	m, tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, tr.Model, m)
	prompt := append([]int32{tok.EOS()}, tok.Encode("Once upon a time, there was a")...)
	want, _ := greedy(t, tr.Model, prompt, 32)
	got, _ := greedy(t, m, prompt, 32)
	if !slices.Equal(want, got) || tok.Decode(got) != tr.Tokenizer.Decode(want) {
		t.Errorf("greedy text: loaded %q, trained %q", tok.Decode(got), tr.Tokenizer.Decode(want))
	}
	t.Logf("greedy text: %q", tok.Decode(got))

	card, _ := os.ReadFile(filepath.Join(dir, CardFile))
	for _, s := range []string{
		"harness reproduce " + hash, "harness reproduce " + ev.Hash, "| blimp", "95% interval",
		"TinyStoriesV2-GPT4-train.first10000lines.txt", "CDLA-Sharing-1.0", "## Size at each precision",
		"## Intended use and limitations", "final val_bpb",
	} {
		if !strings.Contains(string(card), s) {
			t.Errorf("the card has no %q", s)
		}
	}
	var cfg map[string]json.RawMessage
	cb, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err := json.Unmarshal(cb, &cfg); err != nil {
		t.Fatal(err)
	}
	var nm struct {
		Config json.RawMessage `json:"config"`
	}
	json.Unmarshal(cfg["nanomamba"], &nm)
	var compact bytes.Buffer
	json.Compact(&compact, nm.Config)
	if s := sha256.Sum256(compact.Bytes()); hex.EncodeToString(s[:]) != hash {
		t.Error("config.json's nanomamba.config does not hash to the run hash")
	}
	// Exporting again leaves the same bytes.
	if _, err := Export(env, hash, dir, false); err != nil {
		t.Errorf("a second export: %v", err)
	}
	if testing.Verbose() {
		t.Logf("README.md:\n%s", card)
	}
}
