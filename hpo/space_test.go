package hpo

import (
	"math"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

const okSpace = `
name: t
base: micro
params:
  train.lr: {type: log_float, low: 0.001, high: 0.01}
`

func TestParseSpaceErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", okSpace + "bogus: 1\n", `field bogus not found`},
		{"missing name", "base: micro\nparams: {train.lr: {type: float, low: 0, high: 1}}\n", "name: missing"},
		{"missing base", "name: t\nparams: {train.lr: {type: float, low: 0, high: 1}}\n", "base: missing"},
		{"no params", "name: t\nbase: micro\n", "params: none given"},
		{"unknown param key", "name: t\nbase: micro\nparams: {train.lr: {type: float, low: 0, high: 1, step: 2}}\n", `unknown key "step"`},
		{"low >= high", "name: t\nbase: micro\nparams: {train.lr: {type: float, low: 1, high: 1}}\n", "low (1) must be below high (1)"},
		{"missing high", "name: t\nbase: micro\nparams: {train.lr: {type: float, low: 1}}\n", "needs both low and high"},
		{"log low <= 0", "name: t\nbase: micro\nparams: {train.lr: {type: log_float, low: 0, high: 1}}\n", "log_float needs low > 0"},
		{"int bounds", "name: t\nbase: micro\nparams: {train.warmup: {type: int, low: 0.5, high: 3}}\n", "int needs integer bounds"},
		{"empty choices", "name: t\nbase: micro\nparams: {train.batch_size: {type: categorical, choices: []}}\n", "at least one choice"},
		{"duplicate choice", "name: t\nbase: micro\nparams: {train.batch_size: {type: categorical, choices: [8, 8]}}\n", "choice 8 appears twice"},
		{"unknown type", "name: t\nbase: micro\nparams: {train.lr: {type: normal, low: 0, high: 1}}\n", `unknown type "normal"`},
		{"missing type", "name: t\nbase: micro\nparams: {train.lr: {low: 0, high: 1}}\n", "type: missing"},
		{"unknown config key", "name: t\nbase: micro\nparams: {train.learning_rate: {type: float, low: 0.1, high: 1}}\n", `unknown config key "train.learning_rate"`},
		{"unknown set key", okSpace + "set: {train.tokenz: 4096}\n", `unknown config key "train.tokenz"`},
		{"bad value at high", "name: t\nbase: micro\nparams: {train.micro_batch: {type: int, low: 1, high: 3}}\n", "params at their high values"},
		{"bad categorical choice", "name: t\nbase: micro\nparams: {quant.scale: {type: categorical, choices: [absmean, absmode]}}\n", "choice absmode"},
		{"unknown objective", okSpace + "objective: accuracy\n", `objective: "accuracy"`},
		{"unknown direction", okSpace + "direction: up\n", `direction: "up"`},
		{"two samplers", okSpace + "sampler: {tpe: {seed: 1}, random: {seed: 1}}\n", "either tpe or random"},
		{"two pruners", okSpace + "pruner: {median: {}, successive_halving: {}}\n", "either median or successive_halving"},
		{"unknown pruner", okSpace + "pruner: {hyperband: {}}\n", "field hyperband not found"},
		{"bad reduction factor", okSpace + "pruner: {successive_halving: {reduction_factor: 1}}\n", "reduction_factor (1) >= 2"},
		{"set and param collide", okSpace + "set: {train.lr: 0.002}\n", "also a searched parameter"},
		{"duplicate param", "name: t\nbase: micro\nparams:\n  train.lr: {type: float, low: 0.1, high: 1}\n  train.lr: {type: float, low: 0.1, high: 1}\n", "train.lr"},
		{"transition out of range", "name: t\nbase: micro\nparams: {qat.transition: {type: float, low: 0, high: 0.5}}\n", "must lie in (0, 1)"},
		{"transition without float phase", "name: t\nbase: micro\nset: {qat.phases: [{weights: ternary, start: 0, ramp: 0}]}\nparams: {qat.transition: {type: float, low: 0.1, high: 0.5}}\n", "needs a float phase followed by a quantized one"},
		{"empty file", "", "empty search space file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpace("x.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.HasPrefix(err.Error(), "x.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestShippedSpaces(t *testing.T) {
	names := SpaceNames()
	if len(names) < 2 {
		t.Fatalf("shipped spaces: %v", names)
	}
	for _, n := range names {
		s, err := LoadSpace(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if s.Name != n {
			t.Errorf("space file %s names itself %q", n, s.Name)
		}
	}
	if _, err := LoadSpace("nosuch"); err == nil || !strings.Contains(err.Error(), "shipped: micro, tiny") {
		t.Errorf("unknown space error: %v", err)
	}
	s, _ := LoadSpace("tiny")
	if s.Sampler.TPE == nil || s.Sampler.TPE.StartupTrials != 8 || s.Pruner.Median == nil || s.Pruner.Median.WarmupSteps != 32 {
		t.Errorf("tiny sampler/pruner: %+v %+v", s.Sampler, s.Pruner)
	}
	var names2 []string
	for _, p := range s.Params {
		names2 = append(names2, p.Name)
	}
	if got := strings.Join(names2, ","); got != "train.lr,train.batch_size,train.warmup,train.weight_decay,train.clip,qat.transition" {
		t.Errorf("params not in file order: %s", got)
	}
}

func TestTransitionPhases(t *testing.T) {
	base := []configs.QATPhase{
		{Weights: "float", Start: 0, Ramp: 0},
		{Weights: "int4", Start: 0.2, Ramp: 0.05},
		{Weights: "int2", Start: 0.4, Ramp: 0.05},
		{Weights: "ternary", Start: 0.6, Ramp: 0.1},
	}
	// t = 0.36: the range [0.2, 1] maps onto [0.36, 1], scale 0.8.
	got, err := TransitionPhases(base, 0.36)
	if err != nil {
		t.Fatal(err)
	}
	want := []configs.QATPhase{
		{Weights: "float", Start: 0, Ramp: 0},
		{Weights: "int4", Start: 0.36, Ramp: 0.04},
		{Weights: "int2", Start: 0.52, Ramp: 0.04},
		{Weights: "ternary", Start: 0.68, Ramp: 0.08},
	}
	for i := range want {
		if got[i].Weights != want[i].Weights || math.Abs(got[i].Start-want[i].Start) > 1e-12 || math.Abs(got[i].Ramp-want[i].Ramp) > 1e-12 {
			t.Errorf("phase %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if base[1].Start != 0.2 {
		t.Errorf("TransitionPhases modified its input")
	}
	// t equal to the base start is the identity.
	same, _ := TransitionPhases(base, 0.2)
	for i := range base {
		if same[i] != base[i] {
			t.Errorf("identity: phase %d = %+v, want %+v", i, same[i], base[i])
		}
	}
	for _, bad := range []float64{0, -0.1, 1, 1.5, math.NaN()} {
		if _, err := TransitionPhases(base, bad); err == nil {
			t.Errorf("transition %v accepted", bad)
		}
	}
}

func TestSpaceConfig(t *testing.T) {
	s, err := ParseSpace("x.yaml", []byte(`
name: t
base: micro
set: {train.tokens: 4096}
params:
  train.lr: {type: log_float, low: 0.001, high: 0.01}
  train.batch_size: {type: categorical, choices: [4, 8, 16]}
  train.warmup: {type: int, low: 0, high: 8}
  quant.scale: {type: categorical, choices: [absmean, absmedian]}
  qat.transition: {type: float, low: 0.1, high: 0.9}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Config(Values{"train.lr": 0.0025, "train.batch_size": "16", "train.warmup": 3, "quant.scale": "absmedian", "qat.transition": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.LR != 0.0025 || c.Train.BatchSize != 16 || c.Train.Warmup != 3 || c.Train.Tokens != 4096 || c.Quant.Scale != "absmedian" {
		t.Errorf("config: lr %v batch %d warmup %d tokens %d scale %s", c.Train.LR, c.Train.BatchSize, c.Train.Warmup, c.Train.Tokens, c.Quant.Scale)
	}
	ph := c.QAT.Phases
	if len(ph) != 4 || ph[1].Start != 0.5 || math.Abs(ph[3].Start-(0.5+0.4*0.5/0.8)) > 1e-12 {
		t.Errorf("phases after transition 0.5: %+v", ph)
	}
	if _, err := s.Config(Values{"train.lr": 0.0025}); err == nil || !strings.Contains(err.Error(), "no value for parameter") {
		t.Errorf("missing value: %v", err)
	}
	a, _ := s.Config(Values{"train.lr": 0.0025, "train.batch_size": "16", "train.warmup": 3, "quant.scale": "absmedian", "qat.transition": 0.5})
	if a.Hash() != c.Hash() {
		t.Errorf("same values, different hashes")
	}
}
