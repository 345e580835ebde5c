package hpo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nanomamba-edge/harness/configs"
)

//go:embed spaces/*.yaml
var spaceFS embed.FS

// Space is one search-space file.
type Space struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Base is the preset (or config file) every trial starts from.
	Base string `yaml:"base" json:"base"`
	// Direction is "minimize" (default) or "maximize".
	Direction string `yaml:"direction" json:"direction"`
	// Objective is the training metric the study optimises: val_loss or val_bpb.
	Objective string `yaml:"objective" json:"objective"`
	// Trials is the default number of finished trials a search aims for.
	Trials  int         `yaml:"trials" json:"trials"`
	Sampler SamplerSpec `yaml:"sampler" json:"sampler"`
	Pruner  PrunerSpec  `yaml:"pruner" json:"pruner"`
	// Set holds config overrides applied to every trial (key → YAML value),
	// e.g. a smaller train.tokens budget.
	Set map[string]any `yaml:"set" json:"set,omitempty"`
	// Params are the sampled parameters, in file order.
	Params Params `yaml:"params" json:"params"`

	baseQAT []configs.QATPhase // the phases of base+set, for qat.transition
}

// SamplerSpec chooses the sampler: exactly one of TPE or Random (TPE with
// its defaults when neither is given).
type SamplerSpec struct {
	TPE    *TPESpec    `yaml:"tpe" json:"tpe,omitempty"`
	Random *RandomSpec `yaml:"random" json:"random,omitempty"`
}

// TPESpec configures the tree-structured Parzen estimator.
type TPESpec struct {
	// StartupTrials are sampled at random before TPE takes over (default 10).
	StartupTrials int   `yaml:"startup_trials" json:"startup_trials"`
	Seed          int64 `yaml:"seed" json:"seed"`
	// EICandidates is the number of candidates scored per draw (default 24).
	EICandidates int `yaml:"ei_candidates" json:"ei_candidates"`
}

// RandomSpec configures plain random search.
type RandomSpec struct {
	Seed int64 `yaml:"seed" json:"seed"`
}

// PrunerSpec chooses at most one pruner; none means every trial runs to
// the end.
type PrunerSpec struct {
	Median            *MedianSpec            `yaml:"median" json:"median,omitempty"`
	SuccessiveHalving *SuccessiveHalvingSpec `yaml:"successive_halving" json:"successive_halving,omitempty"`
}

// MedianSpec configures the median stopping rule.
type MedianSpec struct {
	// StartupTrials: no pruning until this many trials completed (default 5).
	StartupTrials int `yaml:"startup_trials" json:"startup_trials"`
	// WarmupSteps: no pruning at training steps up to this one.
	WarmupSteps int `yaml:"warmup_steps" json:"warmup_steps"`
}

// SuccessiveHalvingSpec configures asynchronous successive halving.
type SuccessiveHalvingSpec struct {
	MinResource          int `yaml:"min_resource" json:"min_resource"`                       // training steps of rung 0
	ReductionFactor      int `yaml:"reduction_factor" json:"reduction_factor"`               // η ≥ 2
	MinEarlyStoppingRate int `yaml:"min_early_stopping_rate" json:"min_early_stopping_rate"` // s ≥ 0
}

// Param types.
const (
	TypeFloat       = "float"
	TypeLogFloat    = "log_float"
	TypeInt         = "int"
	TypeCategorical = "categorical"
)

// TransitionParam is the derived parameter that moves the QAT schedule.
const TransitionParam = "qat.transition"

// Param is one sampled parameter. Name is a config key (or
// TransitionParam); numeric types use Low and High (inclusive),
// categorical ones Choices, each the YAML text of one value.
type Param struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Low     float64  `json:"low,omitempty"`
	High    float64  `json:"high,omitempty"`
	Choices []string `json:"choices,omitempty"`
}

// Params keeps the parameters in file order.
type Params []Param

// UnmarshalYAML reads the params mapping strictly and in order.
func (ps *Params) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: params must be a mapping of config key → {type: ...}", n.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := strings.ToLower(k.Value)
		if seen[name] {
			return fmt.Errorf("line %d: params: %q appears twice", k.Line, name)
		}
		seen[name] = true
		p, err := decodeParam(name, v)
		if err != nil {
			return fmt.Errorf("line %d: params.%s: %w", v.Line, name, err)
		}
		*ps = append(*ps, p)
	}
	return nil
}

func decodeParam(name string, n *yaml.Node) (Param, error) {
	p := Param{Name: name}
	if n.Kind != yaml.MappingNode {
		return p, errors.New("want a mapping such as {type: float, low: 0, high: 1}")
	}
	var haveLow, haveHigh bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		var err error
		switch k {
		case "type":
			err = v.Decode(&p.Type)
		case "low":
			haveLow = true
			err = v.Decode(&p.Low)
		case "high":
			haveHigh = true
			err = v.Decode(&p.High)
		case "choices":
			if v.Kind != yaml.SequenceNode {
				return p, errors.New("choices: want a list, e.g. choices: [8, 16, 32]")
			}
			for _, c := range v.Content {
				s, err := flowYAML(c)
				if err != nil {
					return p, fmt.Errorf("choices: %w", err)
				}
				p.Choices = append(p.Choices, s)
			}
		default:
			return p, fmt.Errorf("unknown key %q (valid keys: type, low, high, choices)", k)
		}
		if err != nil {
			return p, fmt.Errorf("%s: %s", k, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	switch p.Type {
	case TypeFloat, TypeLogFloat, TypeInt:
		if !haveLow || !haveHigh {
			return p, fmt.Errorf("type %s needs both low and high", p.Type)
		}
		if len(p.Choices) > 0 {
			return p, fmt.Errorf("type %s takes low and high, not choices", p.Type)
		}
		if math.IsNaN(p.Low) || math.IsNaN(p.High) || math.IsInf(p.Low, 0) || math.IsInf(p.High, 0) {
			return p, errors.New("low and high must be finite numbers")
		}
		if p.Low >= p.High {
			return p, fmt.Errorf("low (%v) must be below high (%v)", p.Low, p.High)
		}
		if p.Type == TypeLogFloat && p.Low <= 0 {
			return p, fmt.Errorf("log_float needs low > 0 (got %v)", p.Low)
		}
		if p.Type == TypeInt && (p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High)) {
			return p, fmt.Errorf("int needs integer bounds (got low %v, high %v)", p.Low, p.High)
		}
	case TypeCategorical:
		if haveLow || haveHigh {
			return p, errors.New("type categorical takes choices, not low/high")
		}
		if len(p.Choices) == 0 {
			return p, errors.New("categorical needs at least one choice (choices: [a, b])")
		}
		dup := map[string]bool{}
		for _, c := range p.Choices {
			if dup[c] {
				return p, fmt.Errorf("choice %s appears twice", c)
			}
			dup[c] = true
		}
	case "":
		return p, errors.New("type: missing (valid types: float, log_float, int, categorical)")
	default:
		return p, fmt.Errorf("unknown type %q (valid types: float, log_float, int, categorical)", p.Type)
	}
	return p, nil
}

// flowYAML renders a YAML node on one line (flow style).
func flowYAML(n *yaml.Node) (string, error) {
	c := *n
	setFlow(&c)
	b, err := yaml.Marshal(&c)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style = yaml.FlowStyle
	}
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for i, c := range n.Content {
		cc := *c
		setFlow(&cc)
		n.Content[i] = &cc
	}
}

// valueYAML renders a Go value as one-line YAML.
func valueYAML(v any) (string, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return "", err
	}
	return flowYAML(&n)
}

// SpaceNames lists the shipped search spaces.
func SpaceNames() []string {
	ents, _ := spaceFS.ReadDir("spaces")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// LoadSpace reads a shipped space by name, or a space file by path, and
// checks it (see ParseSpace).
func LoadSpace(nameOrPath string) (*Space, error) {
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") || strings.ContainsRune(nameOrPath, os.PathSeparator) {
		b, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("search space file: %w", err)
		}
		return ParseSpace(nameOrPath, b)
	}
	b, err := spaceFS.ReadFile("spaces/" + nameOrPath + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown search space %q (shipped: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(SpaceNames(), ", "))
	}
	return ParseSpace("hpo/spaces/"+nameOrPath+".yaml", b)
}

// ParseSpace decodes a space strictly (unknown keys, wrong types, bad
// bounds and unknown parameter types are errors), fills in defaults, and
// checks every override and parameter against the config schema by
// loading the base config with each parameter at its low and its high
// value and with every categorical choice. src names the file in errors.
func ParseSpace(src string, b []byte) (*Space, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Space
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty search space file", src)
		}
		return nil, fmt.Errorf("%s: %s", src, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err := s.checkConfigs(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &s, nil
}

func (s *Space) check() error {
	if s.Name == "" {
		return errors.New("name: missing")
	}
	if s.Base == "" {
		return errors.New("base: missing (a preset such as tiny, or a config file)")
	}
	switch s.Direction {
	case "":
		s.Direction = "minimize"
	case "minimize", "maximize":
	default:
		return fmt.Errorf("direction: %q (valid: minimize, maximize)", s.Direction)
	}
	switch s.Objective {
	case "":
		s.Objective = "val_loss"
	case "val_loss", "val_bpb":
	default:
		return fmt.Errorf("objective: %q (valid: val_loss, val_bpb)", s.Objective)
	}
	if s.Trials == 0 {
		s.Trials = 20
	}
	if s.Trials < 0 {
		return fmt.Errorf("trials: %d, must be >= 1", s.Trials)
	}
	if s.Sampler.TPE != nil && s.Sampler.Random != nil {
		return errors.New("sampler: give either tpe or random, not both")
	}
	if s.Sampler.TPE == nil && s.Sampler.Random == nil {
		s.Sampler.TPE = &TPESpec{}
	}
	if t := s.Sampler.TPE; t != nil {
		if t.StartupTrials < 0 || t.EICandidates < 0 {
			return fmt.Errorf("sampler.tpe: startup_trials (%d) and ei_candidates (%d) must be >= 0", t.StartupTrials, t.EICandidates)
		}
		if t.StartupTrials == 0 {
			t.StartupTrials = 10
		}
		if t.EICandidates == 0 {
			t.EICandidates = 24
		}
	}
	if s.Pruner.Median != nil && s.Pruner.SuccessiveHalving != nil {
		return errors.New("pruner: give either median or successive_halving, not both")
	}
	if m := s.Pruner.Median; m != nil {
		if m.StartupTrials < 0 || m.WarmupSteps < 0 {
			return fmt.Errorf("pruner.median: startup_trials (%d) and warmup_steps (%d) must be >= 0", m.StartupTrials, m.WarmupSteps)
		}
		if m.StartupTrials == 0 {
			m.StartupTrials = 5
		}
	}
	if h := s.Pruner.SuccessiveHalving; h != nil {
		if h.MinResource == 0 {
			h.MinResource = 1
		}
		if h.ReductionFactor == 0 {
			h.ReductionFactor = 4
		}
		if h.MinResource < 1 || h.ReductionFactor < 2 || h.MinEarlyStoppingRate < 0 {
			return fmt.Errorf("pruner.successive_halving: min_resource (%d) must be >= 1, reduction_factor (%d) >= 2, min_early_stopping_rate (%d) >= 0",
				h.MinResource, h.ReductionFactor, h.MinEarlyStoppingRate)
		}
	}
	if len(s.Params) == 0 {
		return errors.New("params: none given; nothing to search")
	}
	for k := range s.Set {
		for _, p := range s.Params {
			if strings.EqualFold(k, p.Name) {
				return fmt.Errorf("set.%s: the key is also a searched parameter; drop one", k)
			}
		}
	}
	return nil
}

// checkConfigs loads the base config and the trial configs at the corners
// of the space, so that bad keys and values fail before anything runs.
func (s *Space) checkConfigs() error {
	sets, err := s.setOverrides()
	if err != nil {
		return err
	}
	base, err := configs.Load(configs.Options{Preset: s.Base, Sets: sets, Env: []string{}})
	if err != nil {
		return fmt.Errorf("base %s with set: %w", s.Base, err)
	}
	s.baseQAT = append([]configs.QATPhase(nil), base.QAT.Phases...)
	for _, p := range s.Params {
		if p.Name == TransitionParam {
			if _, err := TransitionPhases(s.baseQAT, p.Low); err != nil {
				return fmt.Errorf("params.%s: %w", p.Name, err)
			}
			if _, err := TransitionPhases(s.baseQAT, p.High); err != nil {
				return fmt.Errorf("params.%s: %w", p.Name, err)
			}
		}
	}
	try := func(what string, v Values) error {
		if _, err := s.Config(v); err != nil {
			return fmt.Errorf("params at their %s values: %w", what, err)
		}
		return nil
	}
	if err := try("low", s.corner(false)); err != nil {
		return err
	}
	if err := try("high", s.corner(true)); err != nil {
		return err
	}
	for _, p := range s.Params {
		if p.Type != TypeCategorical {
			continue
		}
		for _, c := range p.Choices {
			v := s.corner(false)
			v[p.Name] = c
			if _, err := s.Config(v); err != nil {
				return fmt.Errorf("params.%s choice %s: %w", p.Name, c, err)
			}
		}
	}
	return nil
}

// corner returns every parameter at its low (or high) value; categorical
// parameters take their first choice.
func (s *Space) corner(high bool) Values {
	v := Values{}
	for _, p := range s.Params {
		switch p.Type {
		case TypeCategorical:
			v[p.Name] = p.Choices[0]
		case TypeInt:
			if high {
				v[p.Name] = int(p.High)
			} else {
				v[p.Name] = int(p.Low)
			}
		default:
			if high {
				v[p.Name] = p.High
			} else {
				v[p.Name] = p.Low
			}
		}
	}
	return v
}

func (s *Space) setOverrides() ([]string, error) {
	keys := make([]string, 0, len(s.Set))
	for k := range s.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		y, err := valueYAML(s.Set[k])
		if err != nil {
			return nil, fmt.Errorf("set.%s: %w", k, err)
		}
		out = append(out, k+"="+y)
	}
	return out, nil
}

// Hash identifies the space's content (sha256 of its JSON form); a study
// remembers the hash of the space it was created with.
func (s *Space) Hash() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
