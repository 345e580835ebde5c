package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
)

// SchemaVersion is part of every canonical form; bump it when the meaning of
// a key changes so old and new hashes cannot collide.
const SchemaVersion = 1

// Canonical returns the canonical JSON of the config: sorted keys, Go's
// shortest round-trip spelling for every number, and without the fields
// tagged hash:"-" (thread count, checkpoint interval, preset name, eval
// settings), which do not change a training result.
func (c *Config) Canonical() string {
	m := toMap(reflect.ValueOf(*c)).(map[string]any)
	m["schema"] = SchemaVersion
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("configs: canonical JSON: %v", err)) // only plain, finite data: cannot fail
	}
	return string(b)
}

// Hash returns the SHA-256 (hex) of the canonical JSON: the run hash.
func (c *Config) Hash() string {
	s := sha256.Sum256([]byte(c.Canonical()))
	return hex.EncodeToString(s[:])
}

// JSON returns the full config (all fields, including unhashed ones) as
// indented JSON, for display.
func (c *Config) JSON() string {
	b, _ := json.MarshalIndent(c, "", "  ")
	return string(b)
}

// HashJSON hashes an arbitrary canonical JSON value (e.g. an eval request
// built from a model hash and task list).
func HashJSON(v any) (string, string) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("configs: HashJSON: %v", err))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), string(b)
}

func toMap(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := f.Tag.Get("hash"); tag == "-" || (tag == "omitdisabled" && disabled(v.Field(i))) {
				continue
			}
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" {
				name = f.Name
			}
			out[name] = toMap(v.Field(i))
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toMap(v.Index(i))
		}
		return out
	case reflect.Float32, reflect.Float64:
		// JSON has no NaN or ±Inf. Validate refuses them, so no valid
		// config reaches this; an unvalidated one hashes as a string
		// instead of panicking.
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f)
		}
		return v.Interface()
	default:
		return v.Interface()
	}
}

// disabled reports whether v is an optional section that is switched off
// (its Enabled method returns false): such a section is left out of the
// canonical JSON, so adding it did not change any existing hash.
func disabled(v reflect.Value) bool {
	e, ok := v.Interface().(interface{ Enabled() bool })
	return ok && !e.Enabled()
}

// FromCanonical rebuilds a config from its canonical JSON (as stored in the
// registry) and validates it like Load does. Unhashed fields take their zero
// values; the caller sets them.
func FromCanonical(s string) (*Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(s))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("configs: stored config is not JSON: %w", err)
	}
	delete(raw, "schema")
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("configs: stored config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configs: stored config: %w", err)
	}
	return &c, nil
}

// Fingerprinter returns the content hash of the files a data source names.
type Fingerprinter func(src DataSource) (string, error)

// ResolveData fills in the fingerprint of every data source. A source that
// already carries a fingerprint (a recorded config being reproduced) must
// match the files on disk, or the data changed and the run cannot be the
// same.
func (c *Config) ResolveData(fp Fingerprinter) error {
	fix := func(key string, s *DataSource) error {
		got, err := fp(*s)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", key, s.Name, err)
		}
		if s.Fingerprint != "" && s.Fingerprint != got {
			return fmt.Errorf("%s (%s): data changed: the config records fingerprint %s but %s hashes to %s", key, s.Name, short(s.Fingerprint), s.Path, short(got))
		}
		s.Fingerprint = got
		return nil
	}
	for i := range c.Data.Sources {
		if err := fix(fmt.Sprintf("data.sources[%d]", i), &c.Data.Sources[i]); err != nil {
			return err
		}
	}
	if err := fix("data.validation", &c.Data.Validation); err != nil {
		return err
	}
	if c.LoRA.Enabled() {
		return fix("lora.data", &c.LoRA.Data)
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
