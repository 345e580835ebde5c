package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/kernels"
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

// Train records the config and trains it under the hash's lease, resuming
// from the newest recorded checkpoint an interrupted attempt left. A hash
// already done is returned as recorded (Force trains it again). The
// attempt always ends as done, failed (with the reason) or pruned, except
// when StopAfter stops it on purpose.
func (e *Env) Train(ctx context.Context, c *configs.Config, o TrainOptions) (*train.Result, error) {
	h := c.Hash()
	if err := e.DB.PutConfig(h, c.Canonical()); err != nil {
		return nil, err
	}
	kind := o.Kind
	if kind == "" {
		kind = registry.KindTrain
	}
	if !o.Force {
		if done, err := e.DB.DoneRun(h); err == nil {
			return train.ReuseResult(done)
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
	}
	// Refuse a config that cannot fit in this machine's memory before any
	// row exists (a done hash above is still reported).
	if err := models.CheckTrainMemory(c, max(e.Threads, 1)); err != nil {
		return nil, err
	}
	if err := e.checkTeacher(c); err != nil {
		return nil, err
	}
	att, err := e.DB.Start(registry.RunInfo{Hash: h, Kind: kind, Name: c.Preset, Threads: e.Threads, KernelSet: kernels.KernelSet()},
		registry.StartOptions{Resume: !o.Force, Force: o.Force, Root: e.Root})
	if errors.Is(err, registry.ErrAlreadyDone) {
		// Another process finished it while this one waited.
		done, derr := e.DB.DoneRun(h)
		if derr != nil {
			return nil, derr
		}
		return train.ReuseResult(done)
	} else if err != nil {
		return nil, err
	}
	res, err := e.train(ctx, c, o, att)
	if err != nil {
		// Finish is idempotent: a failure the trainer recorded stays as it
		// recorded it; one before the trainer ran is recorded here.
		return nil, att.Fail(registry.StatusFailed, err)
	}
	if res.Stopped {
		return res, att.Abandon()
	}
	return res, nil
}

func (e *Env) train(ctx context.Context, c *configs.Config, o TrainOptions, att *registry.Attempt) (*train.Result, error) {
	h := c.Hash()
	var resume train.RecordedCheckpoint
	if !o.Force {
		arts, err := att.Artifacts()
		if err != nil {
			return nil, err
		}
		if resume, err = train.FindCheckpoint(arts, e.Root, false); err != nil {
			return nil, err
		}
	}
	// The baseline a trained model must beat: an add-one bigram model on
	// the same split and tokenizer, logged with the final metrics.
	var final []registry.Metric
	ds, err := data.Prepare(e.Root, e.cacheDir(), c.Data, c.Model.Vocab, c.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("prepare data: %w", err)
	}
	if bpb, berr := data.BigramBPB(ds); berr == nil {
		final = append(final, registry.Metric{Name: "bigram_val_bpb", Value: bpb})
	}
	teacher, err := e.loadTeacher(c, ds.Tokenizer)
	if err != nil {
		return nil, err
	}
	return train.Run(ctx, train.Options{
		Root: e.Root, CacheDir: e.cacheDir(), RunDir: e.RunDir(h), Config: *c, Hash: h, Recorder: att,
		Threads: e.Threads, Resume: resume, FinalMetrics: final, Progress: e.Progress,
		StopAfter: o.StopAfter, OnEval: o.OnEval, Teacher: teacher,
	})
}

// RequireTraining refuses the hash of a run that is not a training run
// (an eval or bench run), naming what it is.
func (e *Env) RequireTraining(hash string) error {
	r, err := e.DB.LatestRun(hash)
	if errors.Is(err, registry.ErrNotFound) {
		return nil // a config without runs yet: a training config or refused by its parser
	} else if err != nil {
		return err
	}
	switch r.Kind {
	case registry.KindTrain, registry.KindAblationArm, registry.KindHPOTrial:
		return nil
	case registry.KindEval:
		return fmt.Errorf("%s is an eval run (an evaluation of model %s), not a training run; give the hash of a training run (kinds train, ablation-arm, hpo-trial)", short(hash), short(r.ParentHash))
	default:
		return fmt.Errorf("%s is a %s run, not a training run; give the hash of a training run (kinds train, ablation-arm, hpo-trial)", short(hash), r.Kind)
	}
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
	if err := e.RequireTraining(hash); err != nil {
		return nil, err
	}
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
	ck, err := train.FindCheckpoint(arts, e.Root, true)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w (checkpoints are not committed with the registry; retrain it with `harness train --resume %s --force`)", short(hash), err, short(hash))
	}
	m, err := LoadModel(c, ck, hash)
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

// LoadModel builds the model of a config and loads a recorded checkpoint
// into it (its sha256 and step verified against the record), with the
// quantization state at the end of training.
func LoadModel(c *configs.Config, ck train.RecordedCheckpoint, hash string) (*models.Model, error) {
	m, err := models.New(c.Model, c.Quant, c.Train.Seed)
	if err != nil {
		return nil, err
	}
	st := train.CheckpointState{ConfigHash: hash, Params: m.Params()}
	sha, err := train.LoadCheckpoint(ck.Path, &st)
	if err != nil {
		return nil, err
	}
	if err := ck.Verify(sha, st.Step); err != nil {
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
