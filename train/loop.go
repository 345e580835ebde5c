package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

// heartbeatEvery is the wall-clock interval between registry heartbeats.
const heartbeatEvery = 10 * time.Second

// checkpointsKept is how many periodic checkpoints stay in the run dir.
const checkpointsKept = 2

type trainer struct {
	o      Options
	plan   plan
	ds     *data.Dataset
	model  *models.Model
	params []*models.Param
	opt    *AdamW
	lr     LRSchedule
	qat    *QATSchedule
	run    *registry.Run
	prog   *progress

	step      int64 // steps completed
	trainLoss float64
	res       Result
	lastBeat  time.Time
	ckptStep  int64 // step of the newest checkpoint on disk (-1: none)
}

// Run trains the model of o.Config, recording the run in o.DB. A hash that
// already has a done run is not trained again unless o.Force is set; its
// recorded result comes back with Reused set.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.DB == nil {
		return nil, errors.New("train: no registry (Options.DB is nil)")
	}
	if o.Hash == "" || o.RunDir == "" {
		return nil, errors.New("train: Options.Hash and Options.RunDir must be set")
	}
	if o.Kind == "" {
		o.Kind = registry.KindTrain
	}
	if o.Threads < 1 {
		o.Threads = max(o.Config.Train.Threads, 1)
	}
	if !o.Force {
		done, err := o.DB.DoneRun(o.Hash)
		switch {
		case err == nil:
			return reuse(done)
		case !errors.Is(err, registry.ErrNotFound):
			return nil, fmt.Errorf("train %s: %w", o.Hash, err)
		}
	}
	t, err := newTrainer(o)
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", o.Hash, err)
	}
	return t.train(ctx)
}

func reuse(done *registry.Run) (*Result, error) {
	var r Result
	if err := json.Unmarshal([]byte(done.SummaryJSON), &r); err != nil {
		return nil, fmt.Errorf("train %s: done run %d has an unreadable summary: %w", done.Hash, done.ID, err)
	}
	r.RunID, r.Hash, r.Reused = done.ID, done.Hash, true
	return &r, nil
}

func newTrainer(o Options) (*trainer, error) {
	c := o.Config
	p, err := makePlan(c)
	if err != nil {
		return nil, err
	}
	t := &trainer{o: o, plan: p, ckptStep: -1, trainLoss: math.NaN()}
	t.qat, err = NewQATSchedule(c.QAT, int64(p.steps))
	if err != nil {
		return nil, err
	}
	t.lr = LRSchedule{LR: c.Train.LR, MinLR: c.Train.MinLR, Warmup: int64(c.Train.Warmup), Total: int64(p.steps)}
	t.ds, err = data.Prepare(o.Root, o.CacheDir, c.Data, c.Model.Vocab, c.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("prepare data: %w", err)
	}
	t.model, err = models.New(c.Model, c.Quant, c.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	t.model.SetThreads(o.Threads)
	t.params = t.model.Params()
	t.opt, err = NewAdamW(t.params, c.Train)
	if err != nil {
		return nil, err
	}
	t.opt.Threads = o.Threads
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	return t, nil
}

// start opens the registry run and, when resuming, restores the newest
// checkpoint.
func (t *trainer) start() error {
	o := t.o
	if o.Resume {
		path, step, err := newestCheckpoint(o.RunDir)
		if err != nil {
			return err
		}
		if path != "" {
			st := t.state()
			if _, err := LoadCheckpoint(path, &st); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
			if st.Step != step {
				return fmt.Errorf("resume: checkpoint %s holds step %d, its name says %d", path, st.Step, step)
			}
			t.step, t.trainLoss, t.ckptStep = st.Step, st.TrainLoss, st.Step
		}
		latest, err := o.DB.LatestRun(o.Hash)
		switch {
		case err == nil:
			if err := o.DB.ReopenRun(latest.ID); err != nil {
				return err
			}
			t.run = latest
			return nil
		case !errors.Is(err, registry.ErrNotFound):
			return err
		}
	} else if err := removeCheckpoints(o.RunDir); err != nil {
		return err
	}
	run, err := o.DB.BeginRun(registry.RunInfo{Hash: o.Hash, Kind: o.Kind, Threads: o.Threads, KernelSet: kernels.KernelSet()})
	if err != nil {
		return err
	}
	t.run = run
	return nil
}

func (t *trainer) state() CheckpointState {
	return CheckpointState{Step: t.step, ConfigHash: t.o.Hash, TrainLoss: t.trainLoss, Params: t.params, Opt: t.opt}
}

func (t *trainer) train(ctx context.Context) (*Result, error) {
	if err := t.start(); err != nil {
		return nil, fmt.Errorf("train %s: %w", t.o.Hash, err)
	}
	res, err := t.loop(ctx)
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", t.o.Hash, err)
	}
	return res, nil
}

// fail records err as the run's failure and returns it.
func (t *trainer) fail(status string, err error) error {
	if ferr := t.o.DB.FinishRun(t.run.ID, status, err.Error()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

func (t *trainer) loop(ctx context.Context) (*Result, error) {
	o, p, tc := t.o, t.plan, t.o.Config.Train
	total := int64(p.steps)
	t.prog = newProgress(o.Progress, total, t.step)
	defer t.prog.finish()
	began, beganStep := time.Now(), t.step
	t.lastBeat = began
	for t.step < total {
		if o.StopAfter > 0 && t.step >= o.StopAfter {
			t.res = Result{RunID: t.run.ID, Hash: o.Hash, Steps: t.step, Tokens: t.step * p.tokensPerStep, TrainLoss: t.trainLoss}
			return &t.res, nil
		}
		if err := ctx.Err(); err != nil {
			if cerr := t.checkpoint(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			ferr := o.DB.FinishRun(t.run.ID, registry.StatusFailed, "interrupted")
			return nil, errors.Join(err, ferr)
		}
		step := t.step
		qs := t.qat.At(step)
		t.model.SetQuant(qs)
		if o.Config.QAT.ResetOptimizer && step > 0 && t.qat.PhaseStart(step) {
			t.opt.Reset()
		}
		loss, err := t.forwardBackward(step)
		if err != nil {
			return nil, t.fail(registry.StatusFailed, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, t.fail(registry.StatusFailed, fmt.Errorf("non-finite loss at step %d", step))
		}
		norm := ClipGradNorm(t.params, tc.Clip)
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			name := NonFiniteGrad(t.params)
			if name == "" {
				name = "the gradient norm"
			}
			return nil, t.fail(registry.StatusFailed, fmt.Errorf("non-finite gradient in %s at step %d", name, step))
		}
		lr := t.lr.At(step)
		t.opt.Step(lr)
		if name := nonFiniteParam(t.params); name != "" {
			return nil, t.fail(registry.StatusFailed, fmt.Errorf("non-finite parameter %s after the update at step %d", name, step))
		}
		t.step, t.trainLoss = step+1, loss
		done := t.step

		elapsed := time.Since(began).Seconds()
		tps := 0.0
		if elapsed > 0 {
			tps = float64((done-beganStep)*p.tokensPerStep) / elapsed
		}
		t.res.TokensPerSec = tps
		if tc.LogEvery > 0 && (done%int64(tc.LogEvery) == 0 || done == total) {
			err := o.DB.LogMetrics(t.run.ID, []registry.Metric{
				{Step: done, Name: "loss", Value: loss},
				{Step: done, Name: "lr", Value: lr},
				{Step: done, Name: "grad_norm", Value: norm},
				{Step: done, Name: "lambda", Value: float64(qs.Lambda)},
				{Step: done, Name: "phase", Value: float64(t.qat.PhaseIndex(step))},
				{Step: done, Name: "tokens_per_sec", Value: tps},
			})
			if err != nil {
				return nil, t.fail(registry.StatusFailed, err)
			}
			t.prog.line(done, loss, lr, tps)
		}
		t.prog.set(done, loss)
		if tc.EvalEvery > 0 && done%int64(tc.EvalEvery) == 0 && done != total {
			if err := t.evalAndReport(done); err != nil {
				return nil, err
			}
		}
		if tc.CheckpointEvery > 0 && done%int64(tc.CheckpointEvery) == 0 && done != total {
			if err := t.checkpoint(); err != nil {
				return nil, t.fail(registry.StatusFailed, err)
			}
		}
		if time.Since(t.lastBeat) >= heartbeatEvery {
			if err := o.DB.Heartbeat(t.run.ID); err != nil {
				return nil, t.fail(registry.StatusFailed, err)
			}
			t.lastBeat = time.Now()
		}
	}
	return t.finish()
}

// forwardBackward runs the step's micro-batches, accumulating gradients
// scaled by 1/nMicro, and returns the mean loss.
func (t *trainer) forwardBackward(step int64) (float64, error) {
	p := t.plan
	t.model.ZeroGrad()
	scale := float32(1) / float32(p.nMicro)
	var sum float64
	for mi := 0; mi < p.nMicro; mi++ {
		tokens, targets := t.ds.Batch(step, mi, p.micro, p.seqLen, t.o.Config.Train.Seed)
		l, err := t.model.ForwardBackward(tokens, targets, p.micro, p.seqLen, scale)
		if err != nil {
			return 0, fmt.Errorf("step %d micro-batch %d: %w", step, mi, err)
		}
		sum += l
	}
	return sum / float64(p.nMicro), nil
}

func nonFiniteParam(params []*models.Param) string {
	for _, p := range params {
		for _, x := range p.Data {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return p.Name
			}
		}
	}
	return ""
}

func (t *trainer) evalAndReport(done int64) error {
	vl, bpb, err := t.validate()
	if err != nil {
		return t.fail(registry.StatusFailed, err)
	}
	t.res.ValLoss, t.res.ValBPB = vl, bpb
	if err := t.o.DB.LogMetrics(t.run.ID, []registry.Metric{
		{Step: done, Name: "val_loss", Value: vl},
		{Step: done, Name: "val_bpb", Value: bpb},
	}); err != nil {
		return t.fail(registry.StatusFailed, err)
	}
	if t.o.OnEval != nil {
		if err := t.o.OnEval(done, vl); err != nil {
			status := registry.StatusFailed
			if errors.Is(err, ErrPruned) {
				status = registry.StatusPruned
			}
			return t.fail(status, err)
		}
	}
	return nil
}

// checkpoint saves the current state as ckpt-<step>.safetensors, records it
// as an artifact and prunes older periodic checkpoints.
func (t *trainer) checkpoint() error {
	if t.step == t.ckptStep || t.step == 0 {
		return nil
	}
	path := checkpointPath(t.o.RunDir, t.step)
	sha, size, err := SaveCheckpoint(path, t.state())
	if err != nil {
		return err
	}
	t.ckptStep = t.step
	t.res.Checkpoint, t.res.CheckpointSHA = path, sha
	if err := t.o.DB.PutArtifact(registry.Artifact{RunID: t.run.ID, Kind: "checkpoint", Path: path, SHA256: sha, Bytes: size}); err != nil {
		return err
	}
	return pruneCheckpoints(t.o.RunDir, checkpointsKept)
}

func (t *trainer) finish() (*Result, error) {
	o := t.o
	if err := t.checkpoint(); err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if t.res.Checkpoint == "" { // resumed from the final checkpoint
		path := checkpointPath(o.RunDir, t.step)
		f, err := ReadSafetensors(path)
		if err != nil {
			return nil, t.fail(registry.StatusFailed, err)
		}
		t.res.Checkpoint, t.res.CheckpointSHA = path, f.SHA256
		// The process that wrote it may have died before recording it.
		st, err := os.Stat(path)
		if err != nil {
			return nil, t.fail(registry.StatusFailed, err)
		}
		if err := o.DB.PutArtifact(registry.Artifact{RunID: t.run.ID, Kind: "checkpoint", Path: path, SHA256: f.SHA256, Bytes: st.Size()}); err != nil {
			return nil, t.fail(registry.StatusFailed, err)
		}
	}
	if err := t.evalAndReport(t.step); err != nil {
		return nil, err
	}
	samples, err := t.samples()
	if err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	r := &t.res
	r.RunID, r.Hash, r.Steps, r.Tokens = t.run.ID, o.Hash, t.step, t.step*t.plan.tokensPerStep
	r.TrainLoss, r.Samples = t.trainLoss, samples
	js, err := json.Marshal(r)
	if err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if err := o.DB.SetSummary(t.run.ID, string(js)); err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if err := o.DB.FinishRun(t.run.ID, registry.StatusDone, ""); err != nil {
		return nil, err
	}
	return r, nil
}
