package train

import (
	"errors"
	"fmt"
	"io"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

// ErrPruned marks an OnEval error as a pruning decision: Run then finishes
// the run with status "pruned" instead of "failed". Wrap it:
// fmt.Errorf("trial pruned at step %d: %w", step, train.ErrPruned).
var ErrPruned = errors.New("pruned")

// Recorder is where a training run records itself: a started registry
// attempt (registry.Attempt) that holds the hash's lease. The trainer
// finishes it as done, failed or pruned.
type Recorder interface {
	RunID() int64
	Root() string // artifact paths are recorded relative to it
	LogMetrics([]registry.Metric) error
	PutArtifact(kind, path, sha256 string, size int64) error
	SetSummary(summaryJSON string) error
	Finish(status, errText string) error
}

// Options describes one training run.
type Options struct {
	Root     string // project root; data source paths are relative to it
	CacheDir string // token-shard cache directory
	RunDir   string // per-run directory for checkpoints (e.g. runs/<hash>)
	Config   configs.Config
	Hash     string // the config's run hash
	Recorder Recorder
	Threads  int // 0 = train.threads, then 1
	// Resume continues from this checkpoint, verified against the
	// recorded sha256 and step (see FindCheckpoint); zero: start fresh,
	// removing any checkpoint files in RunDir.
	Resume RecordedCheckpoint
	// FinalMetrics are logged with the final validation metrics (e.g. a
	// baseline's bits per byte on the same split).
	FinalMetrics []registry.Metric
	// Progress receives a progress bar when it is a terminal and plain
	// lines otherwise; nil is silent.
	Progress io.Writer
	// StopAfter, when positive, stops the run as if it were killed once this
	// many training steps (counted from step 0) are complete: no final
	// checkpoint, the run is not finished and Result.Stopped is set.
	StopAfter int64
	// OnEval is called after each validation pass; a non-nil error stops
	// training and is returned (wrap ErrPruned to mark the run pruned).
	OnEval func(step int64, valLoss float64) error
	// Teacher is the teacher model of a distilled run (distill.loss other
	// than none), loaded from distill.teacher's final checkpoint by the
	// caller (experiment.Env.LoadTrained); it only runs forward.
	Teacher *models.Model
}

// Result is the outcome of Run.
type Result struct {
	RunID         int64    `json:"run_id"`
	Hash          string   `json:"hash"`
	Steps         int64    `json:"steps"`
	Tokens        int64    `json:"tokens"`
	TrainLoss     float64  `json:"train_loss"`
	ValLoss       float64  `json:"val_loss"`
	ValBPB        float64  `json:"val_bpb"`
	TokensPerSec  float64  `json:"tokens_per_sec"`
	Checkpoint    string   `json:"checkpoint"`
	CheckpointSHA string   `json:"checkpoint_sha256"`
	Samples       []string `json:"samples"`
	Reused        bool     `json:"-"`
	Stopped       bool     `json:"-"` // StopAfter ended it; the run is still open
}

// plan is the run's shape derived from the config.
type plan struct {
	steps, nMicro, micro, seqLen int
	tokensPerStep                int64
}

func makePlan(c configs.Config) (plan, error) {
	t := c.Train
	switch {
	case c.Data.SeqLen < 1:
		return plan{}, fmt.Errorf("data.seq_len = %d: must be at least 1", c.Data.SeqLen)
	case t.BatchSize < 1:
		return plan{}, fmt.Errorf("train.batch_size = %d: must be at least 1", t.BatchSize)
	case t.MicroBatch < 1 || t.MicroBatch > t.BatchSize || t.BatchSize%t.MicroBatch != 0:
		return plan{}, fmt.Errorf("train.micro_batch = %d: must divide train.batch_size = %d", t.MicroBatch, t.BatchSize)
	case t.Warmup < 0:
		return plan{}, fmt.Errorf("train.warmup = %d: must be >= 0", t.Warmup)
	case !(t.LR >= 0) || !(t.MinLR >= 0):
		return plan{}, fmt.Errorf("train.lr = %v, train.min_lr = %v: must be >= 0", t.LR, t.MinLR)
	case t.EvalEvery < 0 || t.LogEvery < 0 || t.CheckpointEvery < 0 || t.EvalTokens < 0 || t.SampleTokens < 0:
		return plan{}, fmt.Errorf("train.eval_every, log_every, checkpoint_every, eval_tokens and sample_tokens must be >= 0")
	}
	p := plan{nMicro: t.BatchSize / t.MicroBatch, micro: t.MicroBatch, seqLen: c.Data.SeqLen}
	p.tokensPerStep = int64(t.BatchSize) * int64(c.Data.SeqLen)
	steps := t.Tokens / p.tokensPerStep
	if steps < 1 {
		return plan{}, fmt.Errorf("train.tokens = %d: less than one step of train.batch_size·data.seq_len = %d tokens", t.Tokens, p.tokensPerStep)
	}
	if steps > 1<<40 {
		return plan{}, fmt.Errorf("train.tokens = %d: %d steps is too many", t.Tokens, steps)
	}
	p.steps = int(steps)
	return p, nil
}
