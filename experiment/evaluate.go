package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/tasks"
)

// EvalRequest is what an eval run's identity is made of.
type EvalRequest struct {
	Model string   `json:"model"` // the training run's hash
	Tasks []string `json:"tasks"`
	Shots int      `json:"shots"` // -1 = each task's default
	Limit int      `json:"limit"` // documents per task, the first of the split; 0 = all
	// LogSamples writes each task's per-document records (lm-eval's
	// --log_samples JSONL, samples_<task>.jsonl in the run directory) as
	// artifacts of the run when it is evaluated. Like lm-eval, it is an
	// output option: it changes no result, so it is not part of the
	// identity (Hash), and a done run is reused whether or not it has
	// samples, unless RequireSamples is set.
	LogSamples bool `json:"-"`
	// RequireSamples, with LogSamples, evaluates a done run that has no
	// recorded samples again, as a new attempt of the same hash (the same
	// results, now with samples).
	RequireSamples bool `json:"-"`
}

// Hash returns the eval run hash and its canonical JSON.
func (r EvalRequest) Hash() (string, string) {
	ts := append([]string(nil), r.Tasks...)
	sort.Strings(ts)
	return configs.HashJSON(map[string]any{"schema": configs.SchemaVersion, "kind": "eval", "model": r.Model, "tasks": ts, "shots": r.Shots, "limit": r.Limit})
}

// SampleTasks lists the tasks with recorded samples, sorted.
func (r *EvalResult) SampleTasks() []string {
	ts := make([]string, 0, len(r.Samples))
	for t := range r.Samples {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// SamplesArtifact is the artifact kind of a task's per-document log.
const SamplesArtifact = "samples"

// EvalResult is a finished (or reused) eval run.
type EvalResult struct {
	Hash    string
	RunID   int64
	Results *tasks.Results
	Path    string // the lm-eval style JSON file
	Reused  bool
	// Samples maps each task to its recorded per-document log (a path
	// relative to the project root), when the run has them.
	Samples map[string]string
}

// Check refuses a malformed request (unknown task, negative limit, bad
// shot count) before anything is recorded.
func (r EvalRequest) Check() error {
	return tasks.Check(tasks.Options{Tasks: r.Tasks, NumFewshot: r.Shots, Limit: r.Limit})
}

// Evaluate scores a done training run on tasks, recording an eval run. A
// request already done is returned from the registry without running.
func (e *Env) Evaluate(ctx context.Context, req EvalRequest) (*EvalResult, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	if done, err := e.recordedEval(req); err != nil {
		return nil, err
	} else if done != nil && (!req.LogSamples || !req.RequireSamples || len(done.Samples) > 0) {
		return done, nil
	}
	tr, err := e.LoadTrained(req.Model)
	if err != nil {
		return nil, err
	}
	lm, err := NewModelLM(tr.Model, tr.Config.Quant, tr.Tokenizer, max(e.Threads, 1))
	if err != nil {
		return nil, err
	}
	return e.EvaluateWith(ctx, req, lm)
}

// EvaluateWith records an eval run of an already loaded model (e.g. an
// imported llama2.c checkpoint, whose Model field is its file's hash). The
// run always ends done or failed (an interrupted one as failed); its
// results JSON is a recorded artifact.
func (e *Env) EvaluateWith(ctx context.Context, req EvalRequest, lm tasks.LM) (*EvalResult, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	done, err := e.recordedEval(req)
	if err != nil {
		return nil, err
	}
	force := false
	if done != nil {
		if !req.LogSamples || !req.RequireSamples || len(done.Samples) > 0 {
			return done, nil
		}
		force = true // done without samples: evaluate again to record them
	}
	h, _ := req.Hash()
	att, err := e.DB.Start(registry.RunInfo{Hash: h, Kind: registry.KindEval, Name: strings.Join(req.Tasks, ","), ParentHash: req.Model, Threads: e.Threads},
		registry.StartOptions{Root: e.Root, Force: force})
	if errors.Is(err, registry.ErrAlreadyDone) {
		return e.recordedEval(req)
	} else if err != nil {
		return nil, err
	}
	res, err := e.evaluate(ctx, req, lm, att)
	if err != nil {
		return nil, att.Fail(registry.StatusFailed, err)
	}
	return res, nil
}

func (e *Env) evaluate(ctx context.Context, req EvalRequest, lm tasks.LM, att *registry.Attempt) (*EvalResult, error) {
	h := att.Run.Hash
	res, err := tasks.Evaluate(e.Root, lm, tasks.Options{
		Context: ctx, Tasks: req.Tasks, NumFewshot: req.Shots, Limit: req.Limit, Threads: max(e.Threads, 1),
		Progress: e.Progress, Model: "nanomamba", ModelArgs: "model=" + req.Model, LogSamples: req.LogSamples,
	})
	if err != nil {
		return nil, err
	}
	js, err := res.JSON()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(e.RunDir(h), "results.json")
	if err := writeArtifact(att, "results", out, js); err != nil {
		return nil, err
	}
	var samples map[string]string
	if req.LogSamples {
		samples = map[string]string{}
		names := make([]string, 0, len(res.Samples))
		for t := range res.Samples {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			b, err := tasks.SamplesJSONL(res.Samples[t])
			if err != nil {
				return nil, fmt.Errorf("samples of %s: %w", t, err)
			}
			p := filepath.Join(e.RunDir(h), "samples_"+t+".jsonl")
			if err := writeArtifact(att, SamplesArtifact, p, b); err != nil {
				return nil, err
			}
			logged, err := tasks.ParseSamples(b)
			if err != nil {
				return nil, fmt.Errorf("samples of %s: %w", t, err)
			}
			if err := att.PutItemScores(ItemScoresOf(t, logged)); err != nil {
				return nil, err
			}
			samples[t] = filepath.Join("runs", h, "samples_"+t+".jsonl")
		}
	}
	if err := att.PutTaskResults(Rows(res)); err != nil {
		return nil, err
	}
	if err := att.SetSummary(string(js)); err != nil {
		return nil, err
	}
	if err := att.Finish(registry.StatusDone, ""); err != nil {
		return nil, err
	}
	return &EvalResult{Hash: h, RunID: att.Run.ID, Results: res, Path: out, Samples: samples}, nil
}

// writeArtifact writes a file atomically (temporary file, fsync, rename)
// and records it as an artifact of the attempt with its sha256.
func writeArtifact(att *registry.Attempt, kind, path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	sum := sha256.Sum256(b)
	return att.PutArtifact(kind, path, hex.EncodeToString(sum[:]), int64(len(b)))
}

// recordedEval records the request's config and returns its done eval run,
// or nil when it has none yet.
func (e *Env) recordedEval(req EvalRequest) (*EvalResult, error) {
	h, canon := req.Hash()
	if err := e.DB.PutConfig(h, canon); err != nil {
		return nil, err
	}
	done, err := e.DB.DoneRun(h)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var res tasks.Results
	if err := json.Unmarshal([]byte(done.SummaryJSON), &res); err != nil {
		return nil, fmt.Errorf("eval run %s: stored results unreadable: %w", short(h), err)
	}
	arts, err := e.DB.Artifacts(done.ID)
	if err != nil {
		return nil, err
	}
	ev := &EvalResult{Hash: h, RunID: done.ID, Results: &res, Path: filepath.Join(e.RunDir(h), "results.json"), Reused: true}
	for _, a := range arts {
		if a.Kind != SamplesArtifact {
			continue
		}
		if ev.Samples == nil {
			ev.Samples = map[string]string{}
		}
		t := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(a.Path), "samples_"), ".jsonl")
		ev.Samples[t] = a.Path
	}
	return ev, nil
}

// Rows flattens lm-eval results into registry rows: one per task (and
// group) and metric, with its standard error and sample count.
func Rows(r *tasks.Results) []registry.TaskResult {
	var rows []registry.TaskResult
	add := func(task string, m map[string]any) {
		n := 0
		if ns, ok := r.NSamples[task]; ok {
			n = ns.Effective
		}
		for _, sub := range r.GroupSubtasks[task] {
			n += r.NSamples[sub].Effective
		}
		for k, v := range m {
			f, ok := v.(float64)
			name, filter, found := strings.Cut(k, ",")
			if !ok || !found || strings.HasSuffix(name, "_stderr") {
				continue
			}
			se, _ := m[name+"_stderr,"+filter].(float64)
			metric := name
			if filter != "none" {
				metric = name + "," + filter
			}
			rows = append(rows, registry.TaskResult{Task: task, Metric: metric, Value: f, Stderr: se, N: n})
		}
	}
	for t, m := range r.Results {
		add(t, m)
	}
	for g, m := range r.Groups {
		if _, dup := r.Results[g]; !dup {
			add(g, m)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Task != rows[j].Task {
			return rows[i].Task < rows[j].Task
		}
		return rows[i].Metric < rows[j].Metric
	})
	return rows
}
