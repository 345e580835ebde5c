package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary YAML files and overrides to the loader: it must
// return a config or an error, never panic, and a returned config must
// validate and hash.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("preset: tiny\nmodel: {d_model: 64}\n"), "train.lr=0.01")
	f.Add([]byte("model:\n  n_layers: -1\n"), "model.attn_layers=[0, 9]")
	f.Add([]byte("qat: {phases: [{weights: ternary, start: 0.5, ramp: 2}]}"), "qat.phases=[]")
	f.Add([]byte("data: {sources: 3}"), "data.seq_len=1e9")
	f.Add([]byte("{{{"), "=")
	f.Add([]byte("model: {attn_fractions: [0.99, -1, .nan]}"), "model.n_heads=0")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yamlSrc []byte, set string) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, yamlSrc, 0o644); err != nil {
			t.Skip()
		}
		c, err := Load(Options{Preset: p, Sets: []string{set}, Env: []string{}})
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned a config that does not validate: %v", err)
		}
		_ = c.Hash()
	})
}
