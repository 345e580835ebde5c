package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/spf13/viper"
)

// finetuneLayer holds the fine-tune's defaults, applied over the base run's
// config: a short budget at a lower learning rate, no weight decay on the
// adapters, and the lora section's defaults.
const finetuneLayer = `
train:
  tokens: 262144
  lr: 0.001
  min_lr: 0.0001
  warmup: 10
  weight_decay: 0
  eval_every: 32
  log_every: 8
  checkpoint_every: 0
`

// FinetuneConfig builds the config of a LoRA fine-tune of a base run: the
// base's config (as recorded) with the fine-tune defaults, lora.base set
// to baseHash and the lora section's defaults, then sets ("key=value", as
// --set) and HARNESS_* variables of env (nil: none). Model, quant and data
// settings stay the base's unless a set changes them, which validation of
// the run then refuses where they must match (see experiment.Finetune).
func FinetuneConfig(base *Config, baseHash string, sets, env []string) (*Config, error) {
	if !IsRunHash(baseHash) {
		return nil, fmt.Errorf("finetune: base %q is not a full run hash", baseHash)
	}
	if base.LoRA.Enabled() {
		return nil, fmt.Errorf("finetune: base %s is itself a LoRA fine-tune; fine-tune its base %s instead (or merge it first)", short(baseHash), short(base.LoRA.Base))
	}
	defaults, _ := presetFS.ReadFile("presets/defaults.yaml")
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaults)); err != nil {
		return nil, fmt.Errorf("configs: embedded defaults: %w", err)
	}
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	// The base's hashed sections (JSON is YAML), leaving the defaults of
	// the unhashed and optional ones.
	b := *base
	b.Distill, b.LoRA = DistillConfig{}, LoRAConfig{}
	var layer strings.Builder
	layer.WriteString("{")
	for i, sec := range []struct {
		name string
		v    any
	}{{"model", b.Model}, {"quant", b.Quant}, {"qat", b.QAT}, {"train", b.Train}, {"data", b.Data}} {
		if i > 0 {
			layer.WriteString(", ")
		}
		fmt.Fprintf(&layer, "%q: %s", sec.name, jsonOf(sec.v))
	}
	layer.WriteString("}")
	for _, l := range []string{layer.String(), finetuneLayer} {
		if err := v.MergeConfig(strings.NewReader(l)); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	v.Set("preset", "finetune")
	v.Set("lora.base", baseHash)
	if env == nil {
		env = []string{}
	}
	if err := applyEnv(v, env, known); err != nil {
		return nil, err
	}
	for _, s := range sets {
		if err := applySet(v, s, known); err != nil {
			return nil, err
		}
	}
	if got := v.GetString("lora.base"); got != baseHash {
		return nil, fmt.Errorf("finetune: lora.base is the base run (%s); it cannot be set to %q", short(baseHash), got)
	}
	var c Config
	if err := decode(v.AllSettings(), &c); err != nil {
		return nil, err
	}
	if err := c.Normalize(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func jsonOf(v any) string {
	m := toMap(reflect.ValueOf(v))
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}
