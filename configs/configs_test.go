package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, preset string, sets ...string) *Config {
	t.Helper()
	c, err := Load(Options{Preset: preset, Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatalf("Load(%s, %v): %v", preset, sets, err)
	}
	return c
}

// Golden hashes: a change here means every recorded run of the preset gets a
// new identity. Update only together with SchemaVersion or a preset change.
var goldenHashes = map[string]string{
	"micro": "839e14d5e68be83b48995dccff895b24bfef0ddb2f7e5efd6efefe27425a88ab",
	"tiny":  "cd9503cd8f522f40105d75173603bb0d7489535e826ce432418133162f712c83",
	"nano":  "69bebff4b060d4e1177b25d96e2a1bdec3925574d1be172ff91e1908ddc7083a",
	// The float teacher of ablations/distill.yaml; that file names the hash
	// with the data fingerprints resolved (harness config teacher).
	"teacher": "50d5088ae499ab7dfe5d0727e40c603ab495aa85cc009941104119841d07005a",
}

func TestGoldenPresetHashes(t *testing.T) {
	for _, p := range Presets() {
		c := load(t, p)
		want, ok := goldenHashes[p]
		if !ok {
			t.Fatalf("preset %s has no golden hash", p)
		}
		if got := c.Hash(); got != want {
			t.Errorf("preset %s hash = %s, golden %s", p, got, want)
		}
	}
}

func TestHashInvariance(t *testing.T) {
	base := load(t, "tiny").Hash()
	dir := t.TempDir()
	// Same values, different key order and YAML style, in a file.
	f := filepath.Join(dir, "reordered.yaml")
	os.WriteFile(f, []byte("train: {seed: 1, lr: 3.0e-3}\npreset: tiny\nmodel:\n    n_layers: 6\n    d_model: 128\n"), 0o644)
	c, err := Load(Options{Preset: f, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() != base {
		t.Errorf("reordered YAML changed the hash")
	}
	// Overrides in a different order, and attention given as fractions.
	a := load(t, "tiny", "train.lr=0.001", "model.d_state=16").Hash()
	b := load(t, "tiny", "model.d_state=16", "train.lr=1e-3").Hash()
	if a != b {
		t.Errorf("override order or number spelling changed the hash")
	}
	fr := load(t, "tiny", "model.attn_layers=[]", "model.attn_fractions=[0.2, 0.7]").Hash()
	if fr != base {
		t.Errorf("attn_fractions [0.2,0.7] of 6 layers should equal attn_layers [1,4]")
	}
	// Fields that do not change results.
	for _, s := range []string{"train.threads=7", "train.checkpoint_every=5", "eval.limit=3", "eval.tasks=[piqa]"} {
		if load(t, "tiny", s).Hash() != base {
			t.Errorf("--set %s changed the hash", s)
		}
	}
	// Environment overrides equal --set.
	e, err := Load(Options{Preset: "tiny", Env: []string{"HARNESS_TRAIN_LR=0.001", "HARNESS_MODEL_D_STATE=16", "HARNESS_REGISTRY=/tmp/x.db"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Hash() != a {
		t.Errorf("HARNESS_* environment overrides differ from --set")
	}
}

func TestHashSensitivity(t *testing.T) {
	base := load(t, "tiny").Hash()
	seen := map[string]string{base: "base"}
	for _, s := range []string{
		"train.seed=2", "train.lr=0.0031", "quant.subln=false", "quant.scale=absmedian",
		"model.d_state=16", "model.attn_layers=[1]", "data.seq_len=64", "train.tokens=1048577",
		"qat.phases=[{weights: ternary, start: 0, ramp: 0}]", "qat.reset_optimizer=true",
		"data.sources=[{name: a, path: x.txt, weight: 1, format: text, fingerprint: ''}]",
	} {
		h := load(t, "tiny", s).Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("--set %s gives the same hash as %s", s, prev)
		}
		seen[h] = s
	}
	c := load(t, "tiny")
	if err := c.ResolveData(func(DataSource) (string, error) { return "abc", nil }); err != nil {
		t.Fatal(err)
	}
	if c.Hash() == base {
		t.Errorf("a data fingerprint did not change the hash")
	}
	if err := c.ResolveData(func(DataSource) (string, error) { return "def", nil }); err == nil || !strings.Contains(err.Error(), "data changed") {
		t.Errorf("changed data not detected: %v", err)
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	c := load(t, "nano")
	back, err := FromCanonical(c.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != c.Hash() {
		t.Fatalf("FromCanonical changed the hash")
	}
	if strings.Contains(c.Canonical(), "threads") || strings.Contains(c.Canonical(), "checkpoint_every") {
		t.Fatalf("canonical form holds unhashed fields: %s", c.Canonical())
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	mal := filepath.Join(dir, "bad.yaml")
	os.WriteFile(mal, []byte("model:\n  d_model: 64\n  n_layers: 3: 4\n"), 0o644)
	unknownFile := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownFile, []byte("model:\n  dmodel: 64\n"), 0o644)
	cases := []struct {
		name   string
		preset string
		sets   []string
		env    []string
		want   []string
	}{
		{"malformed yaml", mal, nil, nil, []string{"bad.yaml:3", "malformed YAML"}},
		{"unknown preset", "huge", nil, nil, []string{`unknown preset "huge"`, "micro, nano, teacher, tiny"}},
		{"unknown key in file", unknownFile, nil, nil, []string{`"model.dmodel"`, "model.d_model"}},
		{"unknown set key", "tiny", []string{"train.learning_rate=1"}, nil, []string{"train.learning_rate", "train.lr"}},
		{"unknown section", "tiny", []string{"optim.lr=1"}, nil, []string{"optim.lr", "valid sections"}},
		{"set without =", "tiny", []string{"train.lr"}, nil, []string{"want key=value"}},
		{"wrong type", "tiny", []string{"model.d_model=abc"}, nil, []string{"d_model", "not an integer"}},
		{"fraction for int", "tiny", []string{"model.d_model=12.5"}, nil, []string{"d_model", "not an integer"}},
		{"bool type", "tiny", []string{"quant.subln=3"}, nil, []string{"subln", "not a boolean"}},
		{"heads do not divide", "tiny", []string{"model.n_heads=3"}, nil, []string{"model.n_heads = 3", "must divide model.d_model (128)"}},
		{"attention index", "tiny", []string{"model.attn_layers=[6]"}, nil, []string{"model.attn_layers[0] = 6", "[0, 6)"}},
		{"kv heads", "tiny", []string{"model.n_kv_heads=3"}, nil, []string{"model.n_kv_heads = 3"}},
		{"scale", "tiny", []string{"quant.scale=absmax"}, nil, []string{"quant.scale = absmax", "absmean, absmedian"}},
		{"phase kind", "tiny", []string{"qat.phases=[{weights: int3, start: 0, ramp: 0}]"}, nil, []string{"qat.phases[0].weights = int3"}},
		{"phase order", "tiny", []string{"qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: ternary, start: 0, ramp: 0}]"}, nil, []string{"qat.phases[1].start"}},
		{"phase unknown key", "tiny", []string{"qat.phases=[{weights: float, start: 0, ramp: 0, speed: 2}]"}, nil, []string{"speed"}},
		{"micro batch", "tiny", []string{"train.micro_batch=5"}, nil, []string{"train.micro_batch = 5", "must divide"}},
		{"seq len", "tiny", []string{"data.seq_len=4096"}, nil, []string{"data.seq_len = 4096", "model.context"}},
		{"env unknown", "tiny", nil, []string{"HARNESS_TRAIN_SPEED=2"}, []string{"HARNESS_TRAIN_SPEED"}},
		{"env bad value", "tiny", nil, []string{"HARNESS_TRAIN_LR=fast"}, []string{"train.lr", "not a number"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if env == nil {
				env = []string{}
			}
			_, err := Load(Options{Preset: c.preset, Sets: c.sets, Env: env})
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestPresetsValidate(t *testing.T) {
	for _, p := range Presets() {
		c := load(t, p)
		if c.Preset != p {
			t.Errorf("preset name %q recorded as %q", p, c.Preset)
		}
	}
	n := load(t, "nano")
	if n.Model.DModel != 512 || n.Model.NLayers != 24 || n.Model.DState != 96 || n.Model.Vocab != 32768 || n.Model.Context != 2048 ||
		n.Model.NHeads != 8 || n.Model.NKVHeads != 2 || len(n.Model.AttnLayers) != 3 || n.Model.AttnLayers[0] != 4 || n.Model.AttnLayers[1] != 12 || n.Model.AttnLayers[2] != 19 {
		t.Errorf("nano preset does not match the report: %+v", n.Model)
	}
}
