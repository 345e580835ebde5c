package configs

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

//go:embed presets/*.yaml
var presetFS embed.FS

// ReservedEnv lists HARNESS_* environment variables that are not config keys
// (they configure the command line, not the experiment).
var ReservedEnv = map[string]bool{
	"HARNESS_REGISTRY": true, "HARNESS_ROOT": true, "HARNESS_CACHE": true, "HARNESS_PROGRESS": true,
}

// Presets returns the names of the embedded presets, sorted.
func Presets() []string {
	ents, _ := presetFS.ReadDir("presets")
	var out []string
	for _, e := range ents {
		n := strings.TrimSuffix(e.Name(), ".yaml")
		if n != "defaults" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// PresetYAML returns the YAML source of an embedded preset.
func PresetYAML(name string) ([]byte, error) {
	b, err := presetFS.ReadFile("presets/" + name + ".yaml")
	if err != nil || name == "defaults" {
		return nil, fmt.Errorf("unknown preset %q (valid presets: %s; or give a path to a .yaml file)", name, strings.Join(Presets(), ", "))
	}
	return b, nil
}

// Options says where a config comes from.
type Options struct {
	// Preset is an embedded preset name or a path to a YAML file that
	// overrides the defaults (a file may name a base with "preset: tiny").
	Preset string
	// Sets are "key=value" overrides; values are YAML scalars or flow
	// collections (e.g. model.attn_layers=[1,3]).
	Sets []string
	// Env is the environment to read HARNESS_* overrides from (os.Environ()
	// when nil; pass an empty non-nil slice to ignore the environment).
	Env []string
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseYAML checks YAML syntax and reports errors as file:line.
func parseYAML(name string, b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		msg := err.Error()
		if mm := yamlLine.FindStringSubmatch(msg); mm != nil {
			return nil, fmt.Errorf("%s:%s: malformed YAML: %s", name, mm[1], strings.TrimPrefix(msg, "yaml: "))
		}
		return nil, fmt.Errorf("%s: malformed YAML: %s", name, msg)
	}
	return m, nil
}

// Load builds, resolves and validates a config. Fingerprints of data files
// are not computed here (see Resolve).
func Load(o Options) (*Config, error) {
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
	name := o.Preset
	if name == "" {
		name = "tiny"
	}
	layers, err := presetChain(name, 0)
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		m, err := parseYAML(l.name, l.data)
		if err != nil {
			return nil, err
		}
		if err := checkKeys(l.name, "", m, known); err != nil {
			return nil, err
		}
		if err := v.MergeConfig(bytes.NewReader(l.data)); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
		v.Set("preset", name)
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	if err := applyEnv(v, env, known); err != nil {
		return nil, err
	}
	for _, s := range o.Sets {
		if err := applySet(v, s, known); err != nil {
			return nil, err
		}
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

type layer struct {
	name string
	data []byte
}

// presetChain returns the YAML layers for a preset name or file, base first.
func presetChain(name string, depth int) ([]layer, error) {
	if depth > 4 {
		return nil, fmt.Errorf("preset %q: too many nested 'preset:' bases", name)
	}
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.ContainsRune(name, filepath.Separator) {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", name, err)
		}
		m, err := parseYAML(name, b)
		if err != nil {
			return nil, err
		}
		base, _ := m["preset"].(string)
		var out []layer
		if base != "" {
			if out, err = presetChain(base, depth+1); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		return append(out, layer{name, b}), nil
	}
	b, err := PresetYAML(name)
	if err != nil {
		return nil, err
	}
	return []layer{{"preset " + name, b}}, nil
}

// checkKeys reports the first key of m (a parsed YAML mapping) that the
// defaults do not define.
func checkKeys(file, prefix string, m map[string]any, known map[string]bool) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		full := strings.ToLower(prefix + k)
		if known[full] {
			continue
		}
		if sub, ok := m[k].(map[string]any); ok && hasPrefix(known, full+".") {
			if err := checkKeys(file, full+".", sub, known); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("%s: unknown config key %q (%s)", file, full, validKeysHint(full, known))
	}
	return nil
}

func hasPrefix(known map[string]bool, p string) bool {
	for k := range known {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// validKeysHint lists the valid keys in the section of key.
func validKeysHint(key string, known map[string]bool) string {
	section := ""
	if i := strings.LastIndex(key, "."); i >= 0 {
		section = key[:i+1]
	}
	var ks []string
	for k := range known {
		if section == "" {
			ks = append(ks, strings.SplitN(k, ".", 2)[0])
		} else if strings.HasPrefix(k, section) {
			ks = append(ks, k)
		}
	}
	ks = dedupSorted(ks)
	if len(ks) == 0 {
		return "no such section; valid sections: model, quant, qat, train, data, eval, distill, lora"
	}
	return "valid keys: " + strings.Join(ks, ", ")
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func applySet(v *viper.Viper, s string, known map[string]bool) error {
	k, val, ok := strings.Cut(s, "=")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok || k == "" {
		return fmt.Errorf("--set %q: want key=value, e.g. --set train.lr=0.001", s)
	}
	if !known[k] {
		return fmt.Errorf("--set %s: unknown config key %q (%s)", s, k, validKeysHint(k, known))
	}
	var parsed any
	if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
		return fmt.Errorf("--set %s: value %q is not a YAML value: %v", k, val, err)
	}
	v.Set(k, parsed)
	return nil
}

func applyEnv(v *viper.Viper, env []string, known map[string]bool) error {
	byEnv := map[string]string{}
	for k := range known {
		byEnv["HARNESS_"+strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))] = k
	}
	var names []string
	vals := map[string]string{}
	for _, kv := range env {
		n, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(n, "HARNESS_") || ReservedEnv[n] {
			continue
		}
		names = append(names, n)
		vals[n] = val
	}
	sort.Strings(names) // one fixed order, whatever the environment's
	for _, n := range names {
		k, ok := byEnv[n]
		if !ok {
			return fmt.Errorf("environment variable %s names no config key (config keys map to HARNESS_<SECTION>_<KEY>, e.g. HARNESS_TRAIN_LR; reserved: HARNESS_REGISTRY, HARNESS_ROOT, HARNESS_CACHE, HARNESS_PROGRESS)", n)
		}
		if err := applySet(v, k+"="+vals[n], known); err != nil {
			return fmt.Errorf("environment %s: %w", n, err)
		}
	}
	return nil
}

// decode converts viper's settings into a Config, refusing unknown keys,
// wrong types and fractional values for integer fields.
func decode(settings map[string]any, c *Config) error {
	dc := &mapstructure.DecoderConfig{
		Result:           c,
		TagName:          "mapstructure",
		ErrorUnused:      true,
		WeaklyTypedInput: false,
		DecodeHook:       strictNumbers,
	}
	d, err := mapstructure.NewDecoder(dc)
	if err != nil {
		return err
	}
	if err := d.Decode(settings); err != nil {
		var msgs []string
		for _, line := range strings.Split(err.Error(), "\n") {
			// mapstructure heads its list with this line; it says nothing.
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "decoding failed due to the following error(s)") {
				msgs = append(msgs, line)
			}
		}
		sort.Strings(msgs)
		return fmt.Errorf("invalid config: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func strictNumbers(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		// The range of the target type: conversions outside it would wrap.
		bits := to.Bits()
		maxI := int64(math.MaxInt64 >> (64 - bits))
		minI := -maxI - 1
		tooBig := func(x any) error {
			return fmt.Errorf("value %v does not fit in a %d-bit integer (valid: %d to %d)", x, bits, minI, maxI)
		}
		switch x := data.(type) {
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("value %v is not an integer", x)
			}
			if x < float64(minI) || x >= -float64(minI) { // -minI = 2^(bits-1) is exact
				return nil, tooBig(x)
			}
			return int64(x), nil
		case int:
			if int64(x) < minI || int64(x) > maxI {
				return nil, tooBig(x)
			}
		case int64:
			if x < minI || x > maxI {
				return nil, tooBig(x)
			}
		case uint64:
			if x > uint64(maxI) {
				return nil, tooBig(x)
			}
			return int64(x), nil
		case uint:
			if uint64(x) > uint64(maxI) {
				return nil, tooBig(x)
			}
			return int64(x), nil
		case string, bool:
			return nil, fmt.Errorf("value %q (%T) is not an integer", fmt.Sprint(x), x)
		}
	case reflect.Float64, reflect.Float32:
		switch x := data.(type) {
		case string, bool:
			return nil, fmt.Errorf("value %q (%T) is not a number", fmt.Sprint(x), x)
		}
	case reflect.Bool:
		if _, ok := data.(bool); !ok && data != nil {
			return nil, fmt.Errorf("value %v (%T) is not a boolean (true/false)", data, data)
		}
	case reflect.String:
		switch data.(type) {
		case string, nil:
		default:
			return nil, fmt.Errorf("value %v (%T) is not a string", data, data)
		}
	}
	return data, nil
}
