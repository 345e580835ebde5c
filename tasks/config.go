package tasks

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed all:defs
var defsFS embed.FS

// Output types.
const (
	MultipleChoice       = "multiple_choice"
	Loglikelihood        = "loglikelihood"
	LoglikelihoodRolling = "loglikelihood_rolling"
	GenerateUntil        = "generate_until"
)

// TaskConfig is the subset of lm-eval's TaskConfig the harness reads.
// DocToText, DocToTarget and DocToChoice hold a field name (a dotted path;
// a path through a list collects that field of every element), a Go
// text/template string, an int (DocToTarget), or a list of templates
// (DocToChoice).
type TaskConfig struct {
	Task      string `yaml:"task" json:"task"`
	TaskAlias string `yaml:"task_alias,omitempty" json:"task_alias,omitempty"`
	Include   string `yaml:"include,omitempty" json:"-"`

	DatasetPath string `yaml:"dataset_path" json:"dataset_path"`
	// DatasetFormat is "jsonl" (default; a .gz suffix is read transparently)
	// or "text" (documents separated by blank lines, each {"text": ...}).
	DatasetFormat string `yaml:"dataset_format,omitempty" json:"dataset_format,omitempty"`
	// LabelFiles maps a split file to a file with one label per line; line i
	// becomes the field "label" of document i.
	LabelFiles      map[string]string `yaml:"label_files,omitempty" json:"label_files,omitempty"`
	TrainingSplit   string            `yaml:"training_split,omitempty" json:"training_split,omitempty"`
	ValidationSplit string            `yaml:"validation_split,omitempty" json:"validation_split,omitempty"`
	TestSplit       string            `yaml:"test_split,omitempty" json:"test_split,omitempty"`
	FewshotSplit    string            `yaml:"fewshot_split,omitempty" json:"fewshot_split,omitempty"`

	Description      string  `yaml:"description,omitempty" json:"description"`
	DocToText        any     `yaml:"doc_to_text" json:"doc_to_text"`
	DocToTarget      any     `yaml:"doc_to_target" json:"doc_to_target"`
	DocToChoice      any     `yaml:"doc_to_choice,omitempty" json:"doc_to_choice,omitempty"`
	TargetDelimiter  *string `yaml:"target_delimiter,omitempty" json:"target_delimiter"`
	FewshotDelimiter *string `yaml:"fewshot_delimiter,omitempty" json:"fewshot_delimiter"`
	NumFewshot       int     `yaml:"num_fewshot,omitempty" json:"num_fewshot"`
	FewshotConfig    struct {
		Sampler string `yaml:"sampler,omitempty" json:"sampler,omitempty"`
	} `yaml:"fewshot_config,omitempty" json:"fewshot_config"`
	OutputType       string           `yaml:"output_type" json:"output_type"`
	MetricList       []MetricConfig   `yaml:"metric_list" json:"metric_list"`
	GenerationKwargs GenerationKwargs `yaml:"generation_kwargs,omitempty" json:"generation_kwargs,omitempty"`
	FilterList       []FilterConfig   `yaml:"filter_list,omitempty" json:"filter_list,omitempty"`
	Metadata         struct {
		Version float64 `yaml:"version" json:"version"`
	} `yaml:"metadata" json:"metadata"`
	Notes string `yaml:"notes" json:"notes,omitempty"`
}

// MetricConfig is one entry of metric_list.
type MetricConfig struct {
	Metric         string         `yaml:"metric" json:"metric"`
	Aggregation    string         `yaml:"aggregation,omitempty" json:"aggregation,omitempty"`
	HigherIsBetter *bool          `yaml:"higher_is_better,omitempty" json:"higher_is_better,omitempty"`
	Kwargs         map[string]any `yaml:"kwargs,omitempty" json:"kwargs,omitempty"`
}

// GenerationKwargs configures generate_until requests.
type GenerationKwargs struct {
	Until      []string `yaml:"until,omitempty" json:"until,omitempty"`
	MaxGenToks int      `yaml:"max_gen_toks,omitempty" json:"max_gen_toks,omitempty"`
}

// FilterConfig is a named chain of answer filters (regex, take_first).
type FilterConfig struct {
	Name   string       `yaml:"name" json:"name"`
	Filter []FilterStep `yaml:"filter" json:"filter"`
}

// FilterStep is one filter function with its arguments.
type FilterStep struct {
	Function     string `yaml:"function" json:"function"`
	RegexPattern string `yaml:"regex_pattern,omitempty" json:"regex_pattern,omitempty"`
	GroupSelect  int    `yaml:"group_select,omitempty" json:"group_select,omitempty"`
	Fallback     string `yaml:"fallback,omitempty" json:"fallback,omitempty"`
}

// GroupConfig is a named set of tasks with aggregated metrics.
type GroupConfig struct {
	Group               string            `yaml:"group" json:"group"`
	Task                []string          `yaml:"task" json:"task"`
	AggregateMetricList []GroupMetricSpec `yaml:"aggregate_metric_list" json:"aggregate_metric_list"`
	Metadata            struct {
		Version float64 `yaml:"version" json:"version"`
	} `yaml:"metadata" json:"metadata"`
	Notes string `yaml:"notes" json:"notes,omitempty"`
}

// GroupMetricSpec aggregates one metric over a group's subtasks.
type GroupMetricSpec struct {
	Metric       string `yaml:"metric" json:"metric"`
	Aggregation  string `yaml:"aggregation" json:"aggregation"`
	WeightBySize bool   `yaml:"weight_by_size" json:"weight_by_size"`
}

func (c *TaskConfig) targetDelimiter() string {
	if c.TargetDelimiter == nil {
		return " "
	}
	return *c.TargetDelimiter
}

func (c *TaskConfig) fewshotDelimiter() string {
	if c.FewshotDelimiter == nil {
		return "\n\n"
	}
	return *c.FewshotDelimiter
}

// evalSplit is the split scored: test if set, else validation.
func (c *TaskConfig) evalSplit() string {
	if c.TestSplit != "" {
		return c.TestSplit
	}
	return c.ValidationSplit
}

// fewshotPool is the split few-shot examples come from.
func (c *TaskConfig) fewshotPool() string {
	for _, s := range []string{c.FewshotSplit, c.TrainingSplit, c.ValidationSplit, c.TestSplit} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Catalog holds every task and group definition.
type Catalog struct {
	Tasks  map[string]*TaskConfig
	Groups map[string]*GroupConfig
}

// LoadCatalog parses the embedded task definitions.
func LoadCatalog() (*Catalog, error) {
	return loadCatalogFS(defsFS, "defs")
}

func loadCatalogFS(fsys fs.FS, root string) (*Catalog, error) {
	cat := &Catalog{Tasks: map[string]*TaskConfig{}, Groups: map[string]*GroupConfig{}}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := path.Base(p)
		if d.IsDir() || !strings.HasSuffix(base, ".yaml") || strings.HasPrefix(base, "_") {
			return nil
		}
		return cat.addFile(fsys, p)
	})
	if err != nil {
		return nil, err
	}
	for _, g := range cat.Groups {
		for _, t := range g.Task {
			if cat.Tasks[t] == nil {
				return nil, fmt.Errorf("group %q: subtask %q is not defined", g.Group, t)
			}
		}
	}
	return cat, nil
}

func (cat *Catalog) addFile(fsys fs.FS, p string) error {
	m, err := readYAMLMap(fsys, p, 0)
	if err != nil {
		return err
	}
	raw, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if _, ok := m["group"]; ok {
		var g GroupConfig
		if err := strictUnmarshal(raw, &g); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if g.Group == "" || len(g.Task) == 0 {
			return fmt.Errorf("%s: a group needs a name and at least one task", p)
		}
		if cat.Groups[g.Group] != nil || cat.Tasks[g.Group] != nil {
			return fmt.Errorf("%s: name %q defined twice", p, g.Group)
		}
		cat.Groups[g.Group] = &g
		return nil
	}
	var c TaskConfig
	if err := strictUnmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if cat.Tasks[c.Task] != nil || cat.Groups[c.Task] != nil {
		return fmt.Errorf("%s: name %q defined twice", p, c.Task)
	}
	cat.Tasks[c.Task] = &c
	return nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// readYAMLMap reads a YAML mapping, resolving `include:` (a file relative to
// the including one) by overlaying this file's keys on the included ones.
func readYAMLMap(fsys fs.FS, p string, depth int) (map[string]any, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%s: includes nested too deeply", p)
	}
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	inc, ok := m["include"].(string)
	if !ok {
		return m, nil
	}
	base, err := readYAMLMap(fsys, path.Join(path.Dir(p), inc), depth+1)
	if err != nil {
		return nil, fmt.Errorf("%s: include: %w", p, err)
	}
	delete(m, "include")
	delete(base, "include")
	for k, v := range m {
		base[k] = v
	}
	return base, nil
}

// ParseTaskConfig parses one task definition from YAML (no includes).
func ParseTaskConfig(b []byte) (*TaskConfig, error) {
	var c TaskConfig
	if err := strictUnmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse task config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *TaskConfig) validate() error {
	if c.Task == "" {
		return fmt.Errorf("task config has no task name")
	}
	switch c.OutputType {
	case MultipleChoice, Loglikelihood, LoglikelihoodRolling, GenerateUntil:
	default:
		return fmt.Errorf("task %s: output_type %q is not one of %s, %s, %s, %s",
			c.Task, c.OutputType, MultipleChoice, Loglikelihood, LoglikelihoodRolling, GenerateUntil)
	}
	if c.DatasetPath == "" || c.evalSplit() == "" {
		return fmt.Errorf("task %s: dataset_path and test_split or validation_split are required", c.Task)
	}
	switch c.DatasetFormat {
	case "", "jsonl", "text":
	default:
		return fmt.Errorf("task %s: dataset_format %q is not jsonl or text", c.Task, c.DatasetFormat)
	}
	switch c.FewshotConfig.Sampler {
	case "", "default", "first_n":
	default:
		return fmt.Errorf("task %s: fewshot_config.sampler %q is not default or first_n", c.Task, c.FewshotConfig.Sampler)
	}
	if c.OutputType == MultipleChoice && c.DocToChoice == nil {
		return fmt.Errorf("task %s: multiple_choice needs doc_to_choice", c.Task)
	}
	if len(c.MetricList) == 0 {
		return fmt.Errorf("task %s: metric_list is empty", c.Task)
	}
	for _, m := range c.MetricList {
		if _, ok := metricSpecs[c.OutputType][m.Metric]; !ok {
			return fmt.Errorf("task %s: metric %q is not available for %s (valid: %s)",
				c.Task, m.Metric, c.OutputType, strings.Join(validMetrics(c.OutputType), ", "))
		}
	}
	for _, f := range c.FilterList {
		for _, s := range f.Filter {
			if s.Function != "regex" && s.Function != "take_first" {
				return fmt.Errorf("task %s: filter %q: function %q is not regex or take_first", c.Task, f.Name, s.Function)
			}
		}
	}
	if _, err := compileDoc(c); err != nil {
		return err
	}
	return nil
}

func validMetrics(outputType string) []string {
	var names []string
	for n := range metricSpecs[outputType] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// expand resolves task and group names into the ordered list of tasks to run
// and the groups involved.
func (cat *Catalog) expand(names []string) (tasks []string, groups []string, err error) {
	seen := map[string]bool{}
	for _, n := range names {
		if g := cat.Groups[n]; g != nil {
			groups = append(groups, n)
			for _, t := range g.Task {
				if !seen[t] {
					seen[t] = true
					tasks = append(tasks, t)
				}
			}
			continue
		}
		if cat.Tasks[n] == nil {
			return nil, nil, fmt.Errorf("unknown task %q; valid tasks: %s", n, cat.validNames())
		}
		if !seen[n] {
			seen[n] = true
			tasks = append(tasks, n)
		}
	}
	return tasks, groups, nil
}

// validNames lists top-level names, summarising each group's subtasks.
func (cat *Catalog) validNames() string {
	inGroup := map[string]string{}
	for g, gc := range cat.Groups {
		for _, t := range gc.Task {
			inGroup[t] = g
		}
	}
	var names []string
	for n := range cat.Tasks {
		if inGroup[n] == "" {
			names = append(names, n)
		}
	}
	for g, gc := range cat.Groups {
		names = append(names, fmt.Sprintf("%s (group; or one of its %d subtasks such as %s)", g, len(gc.Task), gc.Task[0]))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
