package ablations

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nanomamba-edge/harness/configs"
)

//go:embed *.yaml
var files embed.FS

// Matrix is one ablation file.
type Matrix struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Base is the preset (or config file) every arm starts from.
	Base string `yaml:"base"`
	// Seeds are the training seeds each arm runs with.
	Seeds []int64 `yaml:"seeds"`
	// Set holds overrides applied to every arm (key → YAML value).
	Set map[string]any `yaml:"set"`
	// Axes expand as a cartesian product: config key → values.
	Axes []Axis `yaml:"axes"`
	// Arms are named explicit arms (several keys at once). Axes and Arms
	// may not both be given.
	Arms []Arm `yaml:"arms"`
	// Baseline names the arm the others are compared with (default: the first).
	Baseline string `yaml:"baseline"`
	// Metrics are training-run metrics to report (e.g. val_bpb, val_loss).
	Metrics []string `yaml:"metrics"`
	// Primary is the one metric the matrix is designed to test (default
	// val_bpb); every other metric is exploratory.
	Primary string `yaml:"primary"`
	// Tasks are evaluation tasks to run on every arm; each task's main metric is reported.
	Tasks []string `yaml:"tasks"`
	// Limit caps the documents per task (0 = all).
	Limit int `yaml:"limit"`
}

// Axis is one varied config key.
type Axis struct {
	Key    string   `yaml:"key"`
	Values []any    `yaml:"values"`
	Labels []string `yaml:"labels"`
}

// Arm is one named setting of the matrix.
type Arm struct {
	Name string         `yaml:"name"`
	Set  map[string]any `yaml:"set"`
}

// Names lists the shipped matrices.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Load reads a shipped matrix by name, or a matrix file by path.
func Load(nameOrPath string) (*Matrix, error) {
	var b []byte
	var err error
	src := nameOrPath
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		b, err = os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("ablation file: %w", err)
		}
	} else {
		b, err = files.ReadFile(nameOrPath + ".yaml")
		if err != nil {
			return nil, fmt.Errorf("unknown ablation %q (shipped: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(Names(), ", "))
		}
		src = "ablations/" + nameOrPath + ".yaml"
	}
	return Parse(src, b)
}

// Parse decodes and checks a matrix file strictly: unknown keys, wrong
// types, empty axes, duplicate arms and missing fields are errors.
func Parse(src string, b []byte) (*Matrix, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m Matrix
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %s", src, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &m, nil
}

func (m *Matrix) check() error {
	if m.Name == "" {
		return errors.New("name: missing")
	}
	if m.Base == "" {
		return errors.New("base: missing (a preset such as tiny, or a config file)")
	}
	if len(m.Seeds) == 0 {
		return errors.New("seeds: need at least one seed, e.g. seeds: [1, 2, 3]")
	}
	seen := map[int64]bool{}
	for _, s := range m.Seeds {
		if seen[s] {
			return fmt.Errorf("seeds: %d appears twice", s)
		}
		seen[s] = true
	}
	if len(m.Axes) > 0 && len(m.Arms) > 0 {
		return errors.New("give either axes or arms, not both")
	}
	if len(m.Axes) == 0 && len(m.Arms) == 0 {
		return errors.New("no axes and no arms: nothing to compare")
	}
	for i, a := range m.Axes {
		if a.Key == "" {
			return fmt.Errorf("axes[%d].key: missing", i)
		}
		if len(a.Values) == 0 {
			return fmt.Errorf("axes[%d] (%s): empty axis, need at least one value", i, a.Key)
		}
		if len(a.Labels) > 0 && len(a.Labels) != len(a.Values) {
			return fmt.Errorf("axes[%d] (%s): %d labels for %d values", i, a.Key, len(a.Labels), len(a.Values))
		}
	}
	names := map[string]bool{}
	for i, a := range m.Arms {
		if a.Name == "" {
			return fmt.Errorf("arms[%d].name: missing", i)
		}
		if names[a.Name] {
			return fmt.Errorf("arms[%d].name: %q appears twice", i, a.Name)
		}
		names[a.Name] = true
	}
	if m.Limit < 0 {
		return fmt.Errorf("limit: %d, must be >= 0", m.Limit)
	}
	arms := m.ArmList()
	if m.Baseline != "" {
		found := false
		for _, a := range arms {
			found = found || a.Name == m.Baseline
		}
		if !found {
			var ns []string
			for _, a := range arms {
				ns = append(ns, a.Name)
			}
			return fmt.Errorf("baseline: %q is not an arm (arms: %s)", m.Baseline, strings.Join(ns, ", "))
		}
	}
	return nil
}

// ArmList returns the arms: the explicit ones, or the cartesian product of
// the axes in file order.
func (m *Matrix) ArmList() []Arm {
	if len(m.Arms) > 0 {
		return m.Arms
	}
	arms := []Arm{{Set: map[string]any{}}}
	for _, ax := range m.Axes {
		var next []Arm
		for _, a := range arms {
			for j, v := range ax.Values {
				label := fmt.Sprintf("%s=%v", ax.Key, v)
				if len(ax.Labels) > 0 {
					label = ax.Labels[j]
				}
				set := map[string]any{}
				for k, x := range a.Set {
					set[k] = x
				}
				set[ax.Key] = v
				name := label
				if a.Name != "" {
					name = a.Name + "," + label
				}
				next = append(next, Arm{Name: name, Set: set})
			}
		}
		arms = next
	}
	return arms
}

// BaselineArm returns the baseline arm's name.
// PrimaryMetric is the matrix's primary metric (val_bpb unless named).
func (m *Matrix) PrimaryMetric() string {
	if m.Primary != "" {
		return m.Primary
	}
	return "val_bpb"
}

func (m *Matrix) BaselineArm() string {
	if m.Baseline != "" {
		return m.Baseline
	}
	return m.ArmList()[0].Name
}

// Member is one (arm, seed) cell of an expanded matrix.
type Member struct {
	Arm    string
	Seed   int64
	Config *configs.Config
	Hash   string
}

// Expand resolves every (arm, seed) into a validated config. extra are
// --set overrides applied last (they apply to every arm). fp fingerprints
// data files (nil skips it, for tests of the expansion alone). All configs
// are checked before anything runs.
func (m *Matrix) Expand(extra []string, fp configs.Fingerprinter) ([]Member, error) {
	var out []Member
	for _, arm := range m.ArmList() {
		for _, seed := range m.Seeds {
			sets, err := setStrings(m.Set)
			if err != nil {
				return nil, fmt.Errorf("ablation %s: set: %w", m.Name, err)
			}
			as, err := setStrings(arm.Set)
			if err != nil {
				return nil, fmt.Errorf("ablation %s arm %s: %w", m.Name, arm.Name, err)
			}
			sets = append(sets, as...)
			sets = append(sets, fmt.Sprintf("train.seed=%d", seed))
			sets = append(sets, extra...)
			c, err := configs.Load(configs.Options{Preset: m.Base, Sets: sets})
			if err != nil {
				return nil, fmt.Errorf("ablation %s arm %s seed %d: %w", m.Name, arm.Name, seed, err)
			}
			if fp != nil {
				if err := c.ResolveData(fp); err != nil {
					return nil, fmt.Errorf("ablation %s arm %s: %w", m.Name, arm.Name, err)
				}
			}
			out = append(out, Member{Arm: arm.Name, Seed: seed, Config: c, Hash: c.Hash()})
		}
	}
	seen := map[string]string{}
	for _, mb := range out {
		key := mb.Hash
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("ablation %s: arms %s and %s/seed %d resolve to the same config (%s): the axis changes nothing", m.Name, prev, mb.Arm, mb.Seed, mb.Hash[:12])
		}
		seen[key] = fmt.Sprintf("%s/seed %d", mb.Arm, mb.Seed)
	}
	return out, nil
}

// setStrings turns key → value maps into sorted "key=yaml" overrides.
func setStrings(m map[string]any) ([]string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(m[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, k+"="+strings.TrimSpace(buf.String()))
	}
	return out, nil
}

// WithSeeds replaces the seeds by 1..n.
func (m *Matrix) WithSeeds(n int) error {
	if n < 1 {
		return fmt.Errorf("--seeds %d: need at least 1", n)
	}
	m.Seeds = m.Seeds[:0]
	for i := 1; i <= n; i++ {
		m.Seeds = append(m.Seeds, int64(i))
	}
	return nil
}
