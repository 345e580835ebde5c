package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// Env is where runs happen: the project root (datasets, runs/ for
// checkpoints, .cache/ for token shards), the registry and the thread count.
type Env struct {
	Root     string
	DB       *registry.DB
	Threads  int
	Progress io.Writer // nil = silent
	// CacheDir defaults to <Root>/.cache.
	CacheDir string
}

func (e *Env) cacheDir() string {
	if e.CacheDir != "" {
		return e.CacheDir
	}
	return filepath.Join(e.Root, ".cache")
}

// RunDir is where a run's checkpoints and outputs live.
func (e *Env) RunDir(hash string) string { return filepath.Join(e.Root, "runs", hash) }

// TrainOptions are the per-call choices of Train.
type TrainOptions struct {
	Kind      string // "train" (default), "ablation-arm", "hpo-trial"
	Force     bool
	StopAfter int64
	OnEval    func(step int64, valLoss float64) error
}

// Train records the config and trains it, resuming from a checkpoint left by
// an interrupted attempt. A hash already done is returned as recorded.
func (e *Env) Train(ctx context.Context, c *configs.Config, o TrainOptions) (*train.Result, error) {
	h := c.Hash()
	if err := e.DB.PutConfig(h, c.Canonical()); err != nil {
		return nil, err
	}
	kind := o.Kind
	if kind == "" {
		kind = "train"
	}
	dir := e.RunDir(h)
	resume := false
	if !o.Force {
		if ents, err := os.ReadDir(dir); err == nil {
			for _, en := range ents {
				if filepath.Ext(en.Name()) == ".safetensors" {
					resume = true
				}
			}
		}
	}
	before, _ := e.DB.LatestRun(h)
	res, err := train.Run(ctx, train.Options{
		Root: e.Root, CacheDir: e.cacheDir(), RunDir: dir, Config: *c, Hash: h, DB: e.DB,
		Kind: kind, Threads: e.Threads, Resume: resume, Force: o.Force, Progress: e.Progress,
		StopAfter: o.StopAfter, OnEval: o.OnEval,
	})
	if err == nil && !res.Reused {
		// The baseline a trained model must beat: an add-one bigram model
		// on the same split and tokenizer (data shards come from the cache).
		if ds, derr := data.Prepare(e.Root, e.cacheDir(), c.Data, c.Model.Vocab, c.Train.Seed); derr == nil {
			if bpb, berr := data.BigramBPB(ds); berr == nil {
				_ = e.DB.LogMetrics(res.RunID, []registry.Metric{{Step: res.Steps, Name: "bigram_val_bpb", Value: bpb}})
			}
		}
	}
	if err != nil {
		// A failure before the training loop recorded its run (bad data,
		// a model that cannot be built) is still recorded, with its reason.
		after, lerr := e.DB.LatestRun(h)
		if lerr != nil || (before != nil && after.ID == before.ID && after.Status != "running") {
			if r, berr := e.DB.BeginRun(registry.RunInfo{Hash: h, Kind: kind, Name: c.Preset, Threads: e.Threads}); berr == nil {
				_ = e.DB.FinishRun(r.ID, "failed", err.Error())
			}
		}
	}
	return res, err
}

// Trained is a finished training run loaded back into memory.
type Trained struct {
	Hash      string
	Config    *configs.Config
	Model     *models.Model
	Tokenizer *data.Tokenizer
	Dataset   *data.Dataset
	RunID     int64
}

// LoadTrained loads the final checkpoint of a done training run, with the
// quantization state of the end of its schedule.
func (e *Env) LoadTrained(hash string) (*Trained, error) {
	js, err := e.DB.Config(hash)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", short(hash), err)
	}
	c, err := configs.FromCanonical(js)
	if err != nil {
		return nil, err
	}
	run, err := e.DB.DoneRun(hash)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("run %s has no finished (done) attempt; train it first with `harness train`", short(hash))
	} else if err != nil {
		return nil, err
	}
	arts, err := e.DB.Artifacts(run.ID)
	if err != nil {
		return nil, err
	}
	// The final checkpoint: the recorded one with the highest step whose
	// file is present (older periodic checkpoints are pruned from disk).
	ckpt, best := "", int64(-1)
	for _, a := range arts {
		if a.Kind != "checkpoint" {
			continue
		}
		p := a.Path
		if !filepath.IsAbs(p) {
			if _, err := os.Stat(p); err != nil {
				p = filepath.Join(e.Root, p)
			}
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		var step int64
		if _, err := fmt.Sscanf(filepath.Base(p), "ckpt-%d.safetensors", &step); err != nil {
			step = 0
		}
		if step >= best {
			ckpt, best = p, step
		}
	}
	if ckpt == "" {
		return nil, fmt.Errorf("run %s: no recorded checkpoint file is present (checkpoints are not committed with the registry; retrain it with `harness train --resume %s --force`)", short(hash), short(hash))
	}
	m, err := LoadModel(c, ckpt, hash)
	if err != nil {
		return nil, err
	}
	m.SetThreads(max(e.Threads, 1))
	ds, err := data.Prepare(e.Root, e.cacheDir(), c.Data, c.Model.Vocab, c.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("data for %s: %w", short(hash), err)
	}
	return &Trained{Hash: hash, Config: c, Model: m, Tokenizer: ds.Tokenizer, Dataset: ds, RunID: run.ID}, nil
}

// LoadModel builds the model of a config and loads a checkpoint into it,
// with the quantization state at the end of training.
func LoadModel(c *configs.Config, path, hash string) (*models.Model, error) {
	m, err := models.New(c.Model, c.Quant, c.Train.Seed)
	if err != nil {
		return nil, err
	}
	st := train.CheckpointState{ConfigHash: hash, Params: m.Params()}
	if _, err := train.LoadCheckpoint(path, &st); err != nil {
		return nil, err
	}
	q, err := FinalQuant(c)
	if err != nil {
		return nil, err
	}
	m.SetQuant(q)
	return m, nil
}

// FinalQuant is the quantization state of the last training step.
func FinalQuant(c *configs.Config) (models.QuantState, error) {
	steps := c.Train.Tokens / (int64(c.Train.BatchSize) * int64(c.Data.SeqLen))
	if steps < 1 {
		steps = 1
	}
	s, err := train.NewQATSchedule(c.QAT, steps)
	if err != nil {
		return models.QuantState{}, err
	}
	return s.At(steps - 1), nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
