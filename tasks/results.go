package tasks

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Results is lm-eval's results layout. Metric entries map "<metric>,<filter>"
// and "<metric>_stderr,<filter>" to a number, or to null where the standard
// error is not defined; "alias" holds the display name.
type Results struct {
	Results        map[string]map[string]any  `json:"results"`
	Groups         map[string]map[string]any  `json:"groups"`
	GroupSubtasks  map[string][]string        `json:"group_subtasks"`
	Configs        map[string]any             `json:"configs"`
	Versions       map[string]float64         `json:"versions"`
	NShot          map[string]int             `json:"n-shot"`
	HigherIsBetter map[string]map[string]bool `json:"higher_is_better"`
	NSamples       map[string]SampleCount     `json:"n-samples"`
	Config         RunConfig                  `json:"config"`
	// Samples holds each task's per-document records when
	// Options.LogSamples is set; they are written apart (SamplesJSONL),
	// not in the results JSON.
	Samples map[string][]Sample `json:"-"`
}

// SampleCount is a task's document count before and after Limit.
type SampleCount struct {
	Original  int `json:"original"`
	Effective int `json:"effective"`
}

// RunConfig is the "config" section: how the evaluation was run.
type RunConfig struct {
	Model          string  `json:"model"`
	ModelArgs      string  `json:"model_args"`
	BatchSize      int     `json:"batch_size"`
	BatchSizes     []int   `json:"batch_sizes"`
	Device         string  `json:"device"`
	UseCache       *string `json:"use_cache"`
	Limit          *int    `json:"limit"`
	BootstrapIters int     `json:"bootstrap_iters"`
	GenKwargs      *string `json:"gen_kwargs"`
	RandomSeed     int     `json:"random_seed"`
	NumpySeed      int     `json:"numpy_seed"`
	TorchSeed      int     `json:"torch_seed"`
	FewshotSeed    int     `json:"fewshot_seed"`
	MaxLength      int     `json:"max_length"`
}

// Metric returns the value of "<metric>,<filter>" for a task or group
// (filter "none" when none is given in key, e.g. Metric("piqa", "acc")).
func (r *Results) Metric(task, key string) (float64, bool) {
	if !strings.Contains(key, ",") {
		key += ",none"
	}
	v, ok := r.Results[task][key].(float64)
	return v, ok
}

// JSON renders the results with two-space indentation.
func (r *Results) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal results: %w", err)
	}
	return b, nil
}

func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func buildResults(cat *Catalog, names, groups []string, res map[string]*taskResult, opt Options) *Results {
	r := &Results{
		Results:        map[string]map[string]any{},
		Groups:         map[string]map[string]any{},
		GroupSubtasks:  map[string][]string{},
		Configs:        map[string]any{},
		Versions:       map[string]float64{},
		NShot:          map[string]int{},
		HigherIsBetter: map[string]map[string]bool{},
		NSamples:       map[string]SampleCount{},
	}
	inGroup := map[string]bool{}
	for _, g := range groups {
		for _, t := range cat.Groups[g].Task {
			inGroup[t] = true
		}
	}
	for _, n := range names {
		tr := res[n]
		alias := n
		if tr.cfg.TaskAlias != "" {
			alias = tr.cfg.TaskAlias
		}
		if inGroup[n] {
			alias = " - " + alias
		}
		entry := map[string]any{"alias": alias}
		hib := map[string]bool{}
		for _, m := range tr.metrics {
			entry[m.key()] = finiteOrNil(m.val)
			entry[m.metric+"_stderr,"+m.filter] = nil
			if m.seOK {
				entry[m.metric+"_stderr,"+m.filter] = finiteOrNil(m.se)
			}
			hib[m.metric] = m.higher
		}
		r.Results[n] = entry
		cfg := *tr.cfg
		cfg.NumFewshot = tr.nShot
		r.Configs[n] = cfg
		r.Versions[n] = tr.cfg.Metadata.Version
		r.NShot[n] = tr.nShot
		r.HigherIsBetter[n] = hib
		r.NSamples[n] = SampleCount{Original: tr.original, Effective: tr.effective}
		if opt.LogSamples {
			if r.Samples == nil {
				r.Samples = map[string][]Sample{}
			}
			r.Samples[n] = tr.samples
		}
		if !inGroup[n] {
			r.GroupSubtasks[n] = []string{}
		}
	}
	for _, g := range groups {
		gc := cat.Groups[g]
		entry := map[string]any{"alias": g}
		hib := map[string]bool{}
		for _, spec := range gc.AggregateMetricList {
			key := spec.Metric + ",none"
			var vals, ses, sizes []float64
			seOK := true
			higher := true
			for _, t := range gc.Task {
				tr := res[t]
				for _, m := range tr.metrics {
					if m.key() == key {
						vals = append(vals, m.val)
						ses = append(ses, m.se)
						sizes = append(sizes, float64(tr.effective))
						seOK = seOK && m.seOK
						higher = m.higher
					}
				}
			}
			if len(vals) == 0 {
				continue
			}
			entry[key] = finiteOrNil(groupMean(vals, sizes, spec.WeightBySize))
			entry[spec.Metric+"_stderr,none"] = nil
			if seOK {
				entry[spec.Metric+"_stderr,none"] = finiteOrNil(pooledStderr(ses, sizes))
			}
			hib[spec.Metric] = higher
		}
		r.Results[g] = entry
		r.Groups[g] = entry
		r.GroupSubtasks[g] = append([]string(nil), gc.Task...)
		r.Versions[g] = gc.Metadata.Version
		r.HigherIsBetter[g] = hib
	}
	if opt.Limit > 0 {
		l := opt.Limit
		r.Config.Limit = &l
	}
	r.Config.Model = opt.Model
	r.Config.ModelArgs = opt.ModelArgs
	r.Config.BatchSize = opt.BatchSize
	r.Config.BatchSizes = []int{}
	r.Config.Device = "cpu"
	r.Config.BootstrapIters = opt.BootstrapIters
	r.Config.NumpySeed = FewshotSeed
	r.Config.TorchSeed = FewshotSeed
	r.Config.FewshotSeed = FewshotSeed
	return r
}

// groupMean averages subtask values, unweighted or weighted by size.
func groupMean(vals, sizes []float64, bySize bool) float64 {
	num, den := 0.0, 0.0
	for i, v := range vals {
		w := 1.0
		if bySize {
			w = sizes[i]
		}
		num += float64(v * w)
		den += w
	}
	return num / den
}

// pooledStderr is lm-eval's pooled_sample_stderr:
// sqrt(Σ(n_i-1)·se_i²·n_i / (Σn_i − k) / Σn_i).
func pooledStderr(ses, sizes []float64) float64 {
	num, total := 0.0, 0.0
	for i, se := range ses {
		num += float64(float64((sizes[i]-1)*se*se) * sizes[i])
		total += sizes[i]
	}
	den := total - float64(len(ses))
	if den <= 0 || total <= 0 {
		return math.NaN()
	}
	return math.Sqrt(num / den / total)
}

// TaskInfo describes one task or group for listings.
type TaskInfo struct {
	Name       string
	OutputType string // "group" for a group
	Docs       int    // documents in the eval split (summed over a group's subtasks)
	Metrics    []string
	Subtasks   []string // a group's tasks
	Group      string   // the group a task belongs to, if any
}

// List describes every shipped task and group, reading the datasets under
// root to count documents. Groups come first, then tasks, each sorted by name.
func List(root string) ([]TaskInfo, error) {
	cat, err := LoadCatalog()
	if err != nil {
		return nil, fmt.Errorf("load task definitions: %w", err)
	}
	owner := map[string]string{}
	for g, gc := range cat.Groups {
		for _, t := range gc.Task {
			owner[t] = g
		}
	}
	counts := map[string]int{}
	var tasks []TaskInfo
	for n, c := range cat.Tasks {
		nDocs, err := countDocs(root, c, c.evalSplit())
		if err != nil {
			return nil, err
		}
		counts[n] = nDocs
		var ms []string
		for _, m := range c.MetricList {
			ms = append(ms, m.Metric)
		}
		tasks = append(tasks, TaskInfo{Name: n, OutputType: c.OutputType, Docs: nDocs, Metrics: ms, Group: owner[n]})
	}
	var groups []TaskInfo
	for g, gc := range cat.Groups {
		ti := TaskInfo{Name: g, OutputType: "group", Subtasks: append([]string(nil), gc.Task...)}
		for _, t := range gc.Task {
			ti.Docs += counts[t]
		}
		for _, m := range gc.AggregateMetricList {
			ti.Metrics = append(ti.Metrics, m.Metric)
		}
		groups = append(groups, ti)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Name < tasks[j].Name })
	return append(groups, tasks...), nil
}
