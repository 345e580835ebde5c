package repro

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nanomamba-edge/harness/registry"
)

// BundleFormat and BundleVersion identify the bundles Export writes; Import
// refuses other formats and newer versions. Version 2 adds each run's
// code_diff; Export writes version 1 when no run has one, so such bundles
// stay readable by harnesses that know version 1 only.
const (
	BundleFormat  = "nanomamba-edge-run-bundle"
	BundleVersion = 2
)

// Names of the files inside a bundle.
const (
	manifestName = "manifest.json"
	configName   = "config.json"
	runsName     = "runs.json"
	ckptDir      = "checkpoint/"
)

// Manifest is the first file of a bundle: what the bundle holds and the
// sha256 of every other file in it.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Hash is the training run's config hash.
	Hash string `json:"hash"`
	// Checkpoint, when present, is the final checkpoint of a done attempt.
	Checkpoint *BundleCheckpoint `json:"checkpoint,omitempty"`
	Files      []BundleFile      `json:"files"`
}

// BundleFile is one file of a bundle with its size and content hash.
type BundleFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// BundleCheckpoint says which run a bundled checkpoint belongs to.
type BundleCheckpoint struct {
	File    string `json:"file"`    // its name inside the bundle
	Attempt int    `json:"attempt"` // the attempt of Manifest.Hash it belongs to
	SHA256  string `json:"sha256"`
}

// bundleRuns is runs.json: every attempt of the training hash and every
// eval run whose parent it is, with the eval runs' configs.
type bundleRuns struct {
	EvalConfigs map[string]string `json:"eval_configs"`
	Runs        []runRecord       `json:"runs"`
}

// runRecord is one registry run row with its metrics, task results and
// artifacts. Times are kept in the registry's stored text form.
type runRecord struct {
	Hash        string           `json:"hash"`
	Attempt     int              `json:"attempt"`
	Kind        string           `json:"kind"`
	Status      string           `json:"status"`
	Name        string           `json:"name"`
	ParentHash  string           `json:"parent_hash"`
	Created     string           `json:"created"`
	Started     *string          `json:"started"`
	Finished    *string          `json:"finished"`
	Heartbeat   *string          `json:"heartbeat"`
	CodeVersion string           `json:"code_version"`
	CodeDirty   bool             `json:"code_dirty"`
	GoVersion   string           `json:"go_version"`
	OS          string           `json:"os"`
	CPU         string           `json:"cpu"`
	Threads     int              `json:"threads"`
	KernelSet   string           `json:"kernel_set"`
	Error       string           `json:"error"`
	SummaryJSON string           `json:"summary_json"`
	CodeDiff    string           `json:"code_diff,omitempty"` // version 2
	Metrics     []metricRecord   `json:"metrics"`
	TaskResults []taskRecord     `json:"task_results"`
	Artifacts   []artifactRecord `json:"artifacts"`
}

type metricRecord struct {
	Name  string    `json:"name"`
	Step  int64     `json:"step"`
	Value jsonFloat `json:"value"`
}

type taskRecord struct {
	Task   string    `json:"task"`
	Metric string    `json:"metric"`
	Value  jsonFloat `json:"value"`
	Stderr jsonFloat `json:"stderr"`
	N      int       `json:"n"`
}

type artifactRecord struct {
	Kind    string `json:"kind"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	Created string `json:"created"`
}

// jsonFloat round-trips every float64 bit for bit through JSON: finite
// values as numbers in their shortest round-trip spelling (negative zero
// included), NaN as null, infinities as the strings "+Inf" and "-Inf".
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte("null"), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch s := string(b); s {
	case "null":
		*f = jsonFloat(math.NaN())
	case `"+Inf"`:
		*f = jsonFloat(math.Inf(1))
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
	default:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("value %s is not a number, null, \"+Inf\" or \"-Inf\"", s)
		}
		*f = jsonFloat(v)
	}
	return nil
}

var _ json.Marshaler = jsonFloat(0)

// bundleRunsOf is the runs.json form of a run read from the registry.
func bundleRunsOf(rb *registry.RunBundle) *bundleRuns {
	out := &bundleRuns{EvalConfigs: map[string]string{}, Runs: make([]runRecord, len(rb.Runs))}
	for h, js := range rb.EvalConfigs {
		out.EvalConfigs[h] = js
	}
	for i := range rb.Runs {
		r := &rb.Runs[i]
		rec := runRecord{
			Hash: r.Hash, Attempt: r.Attempt, Kind: r.Kind, Status: r.Status, Name: r.Name, ParentHash: r.ParentHash,
			Created: registry.FormatTime(r.Created), Started: optTime(r.Started), Finished: optTime(r.Finished),
			Heartbeat: optTime(r.Heartbeat), CodeVersion: r.CodeVersion, CodeDirty: r.CodeDirty, GoVersion: r.GoVersion,
			OS: r.OS, CPU: r.CPU, Threads: r.Threads, KernelSet: r.KernelSet, Error: r.Error, SummaryJSON: r.SummaryJSON,
			CodeDiff:    r.CodeDiff,
			Metrics:     make([]metricRecord, len(r.Metrics)),
			TaskResults: make([]taskRecord, len(r.TaskResults)),
			Artifacts:   make([]artifactRecord, len(r.Artifacts)),
		}
		for k, m := range r.Metrics {
			rec.Metrics[k] = metricRecord{Name: m.Name, Step: m.Step, Value: jsonFloat(m.Value)}
		}
		for k, t := range r.TaskResults {
			rec.TaskResults[k] = taskRecord{Task: t.Task, Metric: t.Metric, Value: jsonFloat(t.Value), Stderr: jsonFloat(t.Stderr), N: t.N}
		}
		for k, a := range r.Artifacts {
			rec.Artifacts[k] = artifactRecord{Kind: a.Kind, Path: a.Path, SHA256: a.SHA256, Bytes: a.Bytes, Created: registry.FormatTime(a.Created)}
		}
		out.Runs[i] = rec
	}
	return out
}

// version is the bundle version runs needs: 2 when a run records a
// code_diff, else 1.
func (b *bundleRuns) version() int {
	for _, r := range b.Runs {
		if r.CodeDiff != "" {
			return 2
		}
	}
	return 1
}

// optTime is a time that may be unset (NULL in the registry, null in a
// bundle).
func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := registry.FormatTime(t)
	return &s
}

// registryForm is the registry's form of a bundle's config and runs.json.
func registryForm(hash, config string, runs *bundleRuns) (*registry.RunBundle, error) {
	rb := &registry.RunBundle{Hash: hash, Config: config, EvalConfigs: runs.EvalConfigs, Runs: make([]registry.BundleRun, len(runs.Runs))}
	for i := range runs.Runs {
		rec := &runs.Runs[i]
		r := registry.BundleRun{
			Run: registry.Run{
				Hash: rec.Hash, Attempt: rec.Attempt, Kind: rec.Kind, Status: rec.Status, Name: rec.Name, ParentHash: rec.ParentHash,
				CodeVersion: rec.CodeVersion, CodeDirty: rec.CodeDirty, GoVersion: rec.GoVersion, OS: rec.OS, CPU: rec.CPU,
				Threads: rec.Threads, KernelSet: rec.KernelSet, Error: rec.Error, SummaryJSON: rec.SummaryJSON,
				CodeDiff: rec.CodeDiff,
			},
			Metrics:     make([]registry.Metric, len(rec.Metrics)),
			TaskResults: make([]registry.TaskResult, len(rec.TaskResults)),
			Artifacts:   make([]registry.BundleArtifact, len(rec.Artifacts)),
		}
		for _, t := range []struct {
			name string
			src  *string
			dst  *time.Time
		}{{"created", &rec.Created, &r.Created}, {"started", rec.Started, &r.Started}, {"finished", rec.Finished, &r.Finished}, {"heartbeat", rec.Heartbeat, &r.Heartbeat}} {
			if t.src == nil {
				continue
			}
			var err error
			if *t.dst, err = registry.ParseTime(*t.src); err != nil {
				return nil, fmt.Errorf("run %s attempt %d: %s: %v", short(rec.Hash), rec.Attempt, t.name, err)
			}
		}
		for k, m := range rec.Metrics {
			r.Metrics[k] = registry.Metric{Name: m.Name, Step: m.Step, Value: float64(m.Value)}
		}
		for k, t := range rec.TaskResults {
			r.TaskResults[k] = registry.TaskResult{Task: t.Task, Metric: t.Metric, Value: float64(t.Value), Stderr: float64(t.Stderr), N: t.N}
		}
		for k, a := range rec.Artifacts {
			created, err := registry.ParseTime(a.Created)
			if err != nil {
				return nil, fmt.Errorf("run %s attempt %d: artifact %s: %v", short(rec.Hash), rec.Attempt, a.Path, err)
			}
			r.Artifacts[k] = registry.BundleArtifact{Kind: a.Kind, Path: a.Path, SHA256: a.SHA256, Bytes: a.Bytes, Created: created}
		}
		rb.Runs[i] = r
	}
	return rb, nil
}
