package configs

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// floatKeys lists every float in a Config with how to set it: set is a
// --set override with %s where the value goes (list-valued keys are set as
// a whole list). The test below checks the list against the Config type.
var floatKeys = []struct {
	key string // as named in error messages
	set string
}{
	{"model.attn_fractions[0]", "model.attn_fractions=[%s]"},
	{"model.rope_theta", "model.rope_theta=%s"},
	{"model.norm_eps", "model.norm_eps=%s"},
	{"model.init_std", "model.init_std=%s"},
	{"quant.alpha4", "quant.alpha4=%s"},
	{"quant.alpha2", "quant.alpha2=%s"},
	{"qat.phases[1].start", "qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: ternary, start: %s, ramp: 0}]"},
	{"qat.phases[0].ramp", "qat.phases=[{weights: ternary, start: 0, ramp: %s}]"},
	{"train.lr", "train.lr=%s"},
	{"train.min_lr", "train.min_lr=%s"},
	{"train.weight_decay", "train.weight_decay=%s"},
	{"train.beta1", "train.beta1=%s"},
	{"train.beta2", "train.beta2=%s"},
	{"train.eps", "train.eps=%s"},
	{"train.clip", "train.clip=%s"},
	{"data.sources[0].weight", "data.sources=[{name: a, path: a.txt, weight: %s, format: text, fingerprint: ''}]"},
	{"data.validation.weight", "data.validation.weight=%s"},
	{"distill.temperature", "distill.temperature=%s"},
	{"distill.kd_ratio", "distill.kd_ratio=%s"},
	{"distill.teacher_mix", "distill.teacher_mix=%s"},
	{"lora.alpha", "lora.alpha=%s"},
	{"lora.dropout", "lora.dropout=%s"},
	{"lora.data.weight", "lora.data.weight=%s"},
}

// floatPaths returns the path of every float64 field reachable from t, with
// [0] for slice elements.
func floatPaths(t reflect.Type, prefix string) []string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return []string{prefix}
	case reflect.Slice:
		return floatPaths(t.Elem(), prefix+"[0]")
	case reflect.Struct:
		var out []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if prefix != "" {
				name = prefix + "." + name
			}
			out = append(out, floatPaths(f.Type, name)...)
		}
		return out
	}
	return nil
}

func TestFloatKeysCoverConfig(t *testing.T) {
	want := floatPaths(reflect.TypeOf(Config{}), "")
	var got []string
	for _, k := range floatKeys {
		p := k.key
		if strings.HasPrefix(p, "qat.phases[") {
			p = "qat.phases[0]" + p[len("qat.phases[0]"):]
		}
		got = append(got, p)
	}
	sort.Strings(want)
	sort.Strings(got)
	got = dedupSorted(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("floatKeys covers\n  %v\nbut the Config floats are\n  %v", got, want)
	}
}

// envSet turns a --set override into its HARNESS_* environment form.
func envSet(set string) string {
	k, v, _ := strings.Cut(set, "=")
	return "HARNESS_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_")) + "=" + v
}

// TestNonFiniteFloats: NaN and ±Inf in every float, by --set and by the
// environment, is an error naming the key, never a config (whose canonical
// JSON could not be written).
func TestNonFiniteFloats(t *testing.T) {
	vals := []struct{ yaml, shown string }{{".nan", "NaN"}, {".inf", "+Inf"}, {"-.inf", "-Inf"}}
	for _, k := range floatKeys {
		for _, v := range vals {
			set := fmt.Sprintf(k.set, v.yaml)
			for _, via := range []string{"set", "env"} {
				t.Run(k.key+"="+v.yaml+"/"+via, func(t *testing.T) {
					o := Options{Preset: "micro", Env: []string{}}
					if via == "set" {
						o.Sets = []string{set}
					} else {
						o.Env = []string{envSet(set)}
					}
					_, err := Load(o)
					if err == nil {
						t.Fatalf("no error: a config with %s = %s loaded", k.key, v.shown)
					}
					msg := err.Error()
					if want := k.key + " = " + v.shown; !strings.Contains(msg, want) {
						t.Errorf("error does not name %q:\n%s", want, msg)
					}
					if !strings.Contains(msg, "finite") && !strings.Contains(msg, "must be in") {
						t.Errorf("error does not say what is valid:\n%s", msg)
					}
				})
			}
		}
	}
}

// TestUnusedFloats: a float the architecture does not use (rope_theta
// without attention layers) may be any finite value up to its bound, but
// never NaN or ±Inf.
func TestUnusedFloats(t *testing.T) {
	for _, c := range []struct{ theta, err string }{
		{"0", ""}, {"-5", ""}, {"1e9", ""},
		{".nan", "model.rope_theta = NaN"}, {".inf", "model.rope_theta = +Inf"}, {"-.inf", "model.rope_theta = -Inf"},
		{"2e9", "model.rope_theta = 2e+09"},
	} {
		t.Run(c.theta, func(t *testing.T) {
			cfg, err := Load(Options{Preset: "micro", Sets: []string{"model.attn_layers=[]", "model.rope_theta=" + c.theta}, Env: []string{}})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = cfg.Hash()
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
		})
	}
}

// TestFloatRanges: finite values outside each float's range are refused with
// the range; the edges of the range are accepted.
func TestFloatRanges(t *testing.T) {
	bad := []struct {
		set, want string
	}{
		{"model.rope_theta=0", "model.rope_theta = 0: must be a finite number in (0, 1e+09]"},
		{"model.rope_theta=1e10", "model.rope_theta = 1e+10: must be a finite number in (0, 1e+09]"},
		{"model.norm_eps=-1e-5", "model.norm_eps = -1e-05: must be a finite number in (0, 1]"},
		{"model.norm_eps=2", "model.norm_eps = 2: must be a finite number in (0, 1]"},
		{"model.init_std=0", "model.init_std = 0: must be a finite number in (0, 10]"},
		{"model.init_std=11", "model.init_std = 11: must be a finite number in (0, 10]"},
		{"quant.alpha4=0", "quant.alpha4 = 0: must be a finite number in (0, 100]"},
		{"quant.alpha2=1000", "quant.alpha2 = 1000: must be a finite number in (0, 100]"},
		{"qat.phases=[{weights: ternary, start: 0, ramp: 1.5}]", "qat.phases[0].ramp = 1.5: must be a finite number in [0, 1]"},
		{"qat.phases=[{weights: ternary, start: 0, ramp: -0.1}]", "qat.phases[0].ramp = -0.1: must be a finite number in [0, 1]"},
		{"qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: ternary, start: 1, ramp: 0}]", "qat.phases[1].start = 1: must be a finite number in [0, 1)"},
		{"train.lr=0", "train.lr = 0: must be a finite number in (0, 1]"},
		{"train.lr=1.5", "train.lr = 1.5: must be a finite number in (0, 1]"},
		{"train.min_lr=-0.1", "train.min_lr = -0.1: must be a finite number in [0, train.lr = 0.003]"},
		{"train.min_lr=0.01", "train.min_lr = 0.01: must be a finite number in [0, train.lr = 0.003]"},
		{"train.weight_decay=-1", "train.weight_decay = -1: must be a finite number in [0, 10]"},
		{"train.weight_decay=11", "train.weight_decay = 11: must be a finite number in [0, 10]"},
		{"train.beta1=1", "train.beta1 = 1: must be a finite number in [0, 1)"},
		{"train.beta2=-0.5", "train.beta2 = -0.5: must be a finite number in [0, 1)"},
		{"train.eps=0", "train.eps = 0: must be a finite number in (0, 1]"},
		{"train.eps=2", "train.eps = 2: must be a finite number in (0, 1]"},
		{"train.clip=-1", "train.clip = -1: must be a finite number in [0, 1e+06]"},
		{"train.clip=1e7", "train.clip = 1e+07: must be a finite number in [0, 1e+06]"},
		{"data.validation.weight=0", "data.validation.weight = 0: must be a finite number in (0, 1e+06]"},
		{"data.sources=[{name: a, path: a.txt, weight: 2e6, format: text, fingerprint: ''}]", "data.sources[0].weight = 2e+06: must be a finite number in (0, 1e+06]"},
	}
	for _, c := range bad {
		t.Run(c.set, func(t *testing.T) {
			_, err := Load(Options{Preset: "micro", Sets: []string{c.set}, Env: []string{}})
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not contain %q:\n%s", c.want, err)
			}
		})
	}
	good := []string{
		"model.rope_theta=1e9", "model.norm_eps=1", "model.init_std=10", "quant.alpha4=100", "quant.alpha2=1e-9",
		"qat.phases=[{weights: ternary, start: 0, ramp: 1}]", "train.lr=1", "train.min_lr=0", "train.weight_decay=0",
		"train.weight_decay=10", "train.beta1=0", "train.beta2=0.999999", "train.eps=1", "train.clip=0", "train.clip=1e6",
		"data.validation.weight=1e6",
	}
	for _, s := range good {
		t.Run("ok "+s, func(t *testing.T) {
			c, err := Load(Options{Preset: "micro", Sets: []string{s}, Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.Canonical(), "{") {
				t.Fatalf("canonical JSON %q", c.Canonical())
			}
		})
	}
}

// TestSizeBounds: every size has an upper bound stated in the error, and
// numbers that do not fit an int are refused instead of wrapped.
func TestSizeBounds(t *testing.T) {
	bad := []struct {
		set  string
		want []string
	}{
		{"model.vocab=1000000000000", []string{"model.vocab = 1000000000000: must be in [258, 1048576]"}},
		{"model.vocab=257", []string{"model.vocab = 257: must be in [258, 1048576]", "256 bytes + 2 special tokens"}},
		{"model.context=1e9", []string{"model.context = 1000000000: must be in [1, 131072]"}},
		{"model.n_layers=100000000", []string{"model.n_layers = 100000000: must be in [1, 1024]"}},
		{"model.d_model=4611686018427387904", []string{"model.d_model = 4611686018427387904: must be in [1, 16384]"}},
		{"model.d_model=1e30", []string{"invalid config: 'model.d_model' value 1e+30 does not fit in a 64-bit integer (valid: -9223372036854775808 to 9223372036854775807)"}},
		{"model.d_model=-1e30", []string{"d_model", "-1e+30", "does not fit in a 64-bit integer"}},
		{"model.d_model=9223372036854775808", []string{"d_model", "9223372036854775808", "does not fit in a 64-bit integer"}},
		{"model.d_model=18446744073709551615", []string{"d_model", "18446744073709551615", "does not fit in a 64-bit integer"}},
		{"model.d_model=0", []string{"model.d_model = 0: must be in [1, 16384]"}},
		{"model.d_model=16400", []string{"model.d_model = 16400: must be in [1, 16384]"}},
		{"model.n_heads=2048", []string{"model.n_heads = 2048: must be in [1, 1024]"}},
		{"model.n_kv_heads=2048", []string{"model.n_kv_heads = 2048: must be in [1, 1024]"}},
		{"model.d_state=4096", []string{"model.d_state = 4096: must be in [1, 1024]"}},
		{"model.expand=32", []string{"model.expand = 32: must be in [1, 16]"}},
		{"model.head_dim=8192", []string{"model.head_dim = 8192: must be in [1, 4096]"}},
		{"model.n_groups=2048", []string{"model.n_groups = 2048: must be in [1, 1024]"}},
		{"model.chunk=2048", []string{"model.chunk = 2048: must be in [1, 1024]"}},
		{"model.d_ff=100000", []string{"model.d_ff = 100000: must be in [1, 65536]"}},
		{"model.d_conv=9", []string{"model.d_conv = 9: must be in [1, 8]"}},
		{"train.tokens=2e12", []string{"train.tokens = 2000000000000: must be in [1, 1099511627776]"}},
		{"train.batch_size=100000", []string{"train.batch_size = 100000: must be in [1, 65536]"}},
		{"train.micro_batch=16", []string{"train.micro_batch = 16: must be in [1, train.batch_size = 8]"}},
		{"train.warmup=2e12", []string{"train.warmup = 2000000000000: must be in [0, 1099511627776]"}},
		{"train.eval_every=0", []string{"train.eval_every = 0: must be in [1, 1099511627776]"}},
		{"train.log_every=2e12", []string{"train.log_every = 2000000000000: must be in [1, 1099511627776]"}},
		{"train.eval_tokens=2e12", []string{"train.eval_tokens = 2000000000000: must be in [0, 1099511627776]"}},
		{"train.sample_tokens=2000000", []string{"train.sample_tokens = 2000000: must be in [0, 131072]"}},
		{"train.threads=5000", []string{"train.threads = 5000: must be in [0, 4096]"}},
		{"train.checkpoint_every=-1", []string{"train.checkpoint_every = -1: must be in [0, 1099511627776]"}},
		{"data.seq_len=0", []string{"data.seq_len = 0: must be in [1, model.context = 64]"}},
		{"data.min_chars=2e12", []string{"data.min_chars = 2000000000000: must be in [0, 1073741824]"}},
		{"data.tokenizer_chars=2e12", []string{"data.tokenizer_chars = 2000000000000: must be in [0, 1099511627776]"}},
		{"eval.shots=1000", []string{"eval.shots = 1000: must be in [0, 100]"}},
		{"eval.limit=2e12", []string{"eval.limit = 2000000000000: must be in [0, 1073741824]"}},
		{"quant.act_bits=17", []string{"quant.act_bits = 17: valid: 0 (off) or 2..16"}},
	}
	for _, c := range bad {
		t.Run(c.set, func(t *testing.T) {
			_, err := Load(Options{Preset: "micro", Sets: []string{c.set}, Env: []string{}})
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%s", w, err)
				}
			}
		})
	}
	// Unused sizes are still bounded: a pure-attention model with a huge
	// SSM state.
	_, err := Load(Options{Preset: "micro", Sets: []string{"model.attn_layers=[0, 1, 2]", "model.d_state=1e9"}, Env: []string{}})
	if err == nil || !strings.Contains(err.Error(), "model.d_state = 1000000000: must be in [1, 1024]") {
		t.Errorf("unused d_state not bounded: %v", err)
	}
	// The largest sizes are accepted together (no overflow in derived sizes).
	c, err := Load(Options{Preset: "micro", Env: []string{}, Sets: []string{
		"model.d_model=16384", "model.n_layers=1024", "model.vocab=1048576", "model.context=131072", "model.expand=16",
		"model.head_dim=4096", "model.n_heads=1024", "model.n_kv_heads=1024", "model.d_state=1024", "model.n_groups=64",
		"model.chunk=1024", "model.d_ff=65536", "data.seq_len=131072", "train.batch_size=65536", "train.micro_batch=65536",
		"train.tokens=1099511627776",
	}})
	if err != nil {
		t.Fatalf("the largest sizes: %v", err)
	}
	if c.Model.DModel != 16384 || c.Train.Tokens != 1<<40 {
		t.Errorf("largest sizes loaded as %+v", c.Model)
	}
}

// TestAllProblemsReported: several bad values give one error listing each.
func TestAllProblemsReported(t *testing.T) {
	_, err := Load(Options{Preset: "micro", Env: []string{}, Sets: []string{"train.lr=.nan", "model.vocab=1e12", "train.beta1=.inf"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"train.lr = NaN", "model.vocab = 1000000000000", "train.beta1 = +Inf"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
}

// TestFromCanonicalValidates: a stored config is checked like a loaded one.
func TestFromCanonicalValidates(t *testing.T) {
	good := load(t, "micro").Canonical()
	for _, c := range []struct{ from, to, want string }{
		{`"d_model":32`, `"d_model":4611686018427387904`, "model.d_model = 4611686018427387904"},
		{`"lr":0.003`, `"lr":1e300`, "train.lr = 1e+300"},
		{`"vocab":384`, `"vocab":1e30`, "vocab"},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%s not in %s", c.from, good)
		}
		_, err := FromCanonical(bad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromCanonical with %s: error %v, want %q", c.to, err, c.want)
		}
	}
	if _, err := FromCanonical(good); err != nil {
		t.Errorf("FromCanonical(valid): %v", err)
	}
}

// TestIntegerEdges: every int64 is accepted where any int64 is valid (the
// seed), one past either end is refused, never wrapped.
func TestIntegerEdges(t *testing.T) {
	for _, c := range []struct {
		set  string
		want int64
		err  string
	}{
		{"train.seed=9223372036854775807", 1<<63 - 1, ""},
		{"train.seed=-9223372036854775808", -1 << 63, ""},
		{"train.seed=4e18", 4e18, ""},
		{"train.seed=-9.223372036854775808e18", -1 << 63, ""},
		{"train.seed=9223372036854775808", 0, "value 9223372036854775808 does not fit in a 64-bit integer"},
		{"train.seed=9.3e18", 0, "value 9.3e+18 does not fit in a 64-bit integer"},
		{"train.seed=-9.3e18", 0, "value -9.3e+18 does not fit in a 64-bit integer"},
		{"train.seed=.nan", 0, "value NaN is not an integer"},
		{"train.seed=-.inf", 0, "value -Inf is not an integer"},
	} {
		t.Run(c.set, func(t *testing.T) {
			cfg, err := Load(Options{Preset: "micro", Sets: []string{c.set}, Env: []string{}})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "seed") {
					t.Fatalf("error %v, want one naming seed and %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Train.Seed != c.want {
				t.Errorf("seed = %d, want %d", cfg.Train.Seed, c.want)
			}
		})
	}
}

// TestCanonicalOfInvalidConfig: hashing a config that never went through
// Validate (built in code) does not panic on non-finite floats, and does not
// collide with the finite config.
func TestCanonicalOfInvalidConfig(t *testing.T) {
	c := load(t, "micro")
	h := c.Hash()
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		bad := *c
		bad.Train.LR = v
		if got := bad.Hash(); got == h || len(got) != 64 {
			t.Errorf("lr %v: hash %q", v, got)
		}
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("train.lr = %v", v)) {
			t.Errorf("lr %v: Validate: %v", v, err)
		}
	}
}

// TestDecodeErrorText: type errors are listed alone, without the decoder's
// empty heading.
func TestDecodeErrorText(t *testing.T) {
	_, err := Load(Options{Preset: "micro", Sets: []string{"model.d_model=abc"}, Env: []string{}})
	if err == nil || err.Error() != `invalid config: 'model.d_model' value "abc" (string) is not an integer` {
		t.Errorf("error %q", err)
	}
}
