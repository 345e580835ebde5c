package configs

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// nonFinite returns the path of the first NaN or ±Inf float in v, or "".
func nonFinite(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("%s = %v", path, f)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if p := nonFinite(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if p := nonFinite(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

// checkLoaded returns an error unless c has the properties every loaded
// config has: all floats finite, it validates, its canonical JSON is JSON
// that rebuilds (through FromCanonical) the same canonical form, and that
// JSON, read back as a config file, loads to the same hash. dir is scratch
// space.
func checkLoaded(c *Config, dir string) error {
	if p := nonFinite(reflect.ValueOf(*c), "config"); p != "" {
		return fmt.Errorf("loaded config holds a non-finite float: %s", p)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("loaded config does not validate: %w", err)
	}
	canon := c.Canonical()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(canon))
	dec.UseNumber() // integers beyond 2^53 (seeds) must not pass through float64
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("canonical form is not JSON: %w\n%s", err, canon)
	}
	back, err := FromCanonical(canon)
	if err != nil {
		return fmt.Errorf("FromCanonical of a loaded config: %w\n%s", err, canon)
	}
	if got := back.Canonical(); got != canon {
		return fmt.Errorf("FromCanonical changed the canonical form:\n%s\n%s", canon, got)
	}
	// The canonical JSON without its schema key is a complete config file.
	delete(m, "schema")
	b, _ := json.Marshal(m)
	p := filepath.Join(dir, "canonical.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	again, err := Load(Options{Preset: p, Env: []string{}})
	if err != nil {
		return fmt.Errorf("the canonical form does not load as a config file: %w\n%s", err, b)
	}
	if again.Hash() != c.Hash() {
		return fmt.Errorf("reloading the canonical form changed the hash:\n%s\n%s", canon, again.Canonical())
	}
	return nil
}

// FuzzLoad feeds arbitrary YAML files and overrides to the loader: it must
// return a config or an error, never panic, and a returned config must have
// only finite floats, validate, and survive the round trips through its
// canonical JSON with the same hash.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("preset: tiny\nmodel: {d_model: 64}\n"), "train.lr=0.01")
	f.Add([]byte("model:\n  n_layers: -1\n"), "model.attn_layers=[0, 9]")
	f.Add([]byte("qat: {phases: [{weights: ternary, start: 0.5, ramp: 2}]}"), "qat.phases=[]")
	f.Add([]byte("data: {sources: 3}"), "data.seq_len=1e9")
	f.Add([]byte("{{{"), "=")
	f.Add([]byte("model: {attn_fractions: [0.99, -1, .nan]}"), "model.n_heads=0")
	f.Add([]byte(""), "train.lr=.inf")
	f.Add([]byte("preset: micro\n"), "train.min_lr=.nan")
	f.Add([]byte("preset: nano\ntrain: {beta1: .nan}\n"), "quant.alpha4=-.inf")
	f.Add([]byte("preset: micro\n"), "model.vocab=1000000000000")
	f.Add([]byte("model: {d_model: 1e30}\n"), "model.context=1e9")
	f.Add([]byte("model: {attn_fractions: [0.5]}\n"), "model.attn_layers=[]")
	f.Add([]byte("data: {validation: {name: v, path: 'a b.txt', weight: 1e-300, format: lines, fingerprint: ''}}\n"), "data.tokenizer=byte")
	f.Add([]byte("train: {seed: 9223372036854775807}\n"), "train.seed=-9223372036854775808")
	f.Add([]byte("preset: micro\nmodel: {rope_theta: 1e9, attn_layers: []}\n"), "train.clip=1e6")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yamlSrc []byte, set string) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, yamlSrc, 0o644); err != nil {
			t.Skip()
		}
		c, err := Load(Options{Preset: p, Sets: []string{set}, Env: []string{}})
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error message")
			}
			return
		}
		if err := checkLoaded(c, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckLoadedCanFail: the fuzz property holds for the presets and
// catches what it is meant to catch.
func TestCheckLoadedCanFail(t *testing.T) {
	for _, p := range Presets() {
		if err := checkLoaded(load(t, p), t.TempDir()); err != nil {
			t.Errorf("preset %s: %v", p, err)
		}
	}
	for _, c := range []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"inf lr", func(c *Config) { c.Train.LR = math.Inf(1) }, "config.Train.LR = +Inf"},
		{"nan weight", func(c *Config) { c.Data.Sources[0].Weight = math.NaN() }, "config.Data.Sources[0].Weight = NaN"},
		{"huge d_model", func(c *Config) { c.Model.DModel = 1 << 62 }, "model.d_model = 4611686018427387904"},
		{"unnormalized", func(c *Config) { c.Model.AttnLayers = []int{1, 0} }, "changed the hash"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := load(t, "micro")
			c.mutate(cfg)
			err := checkLoaded(cfg, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
