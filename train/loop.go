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
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

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
	prog   *progress

	step      int64 // steps completed
	trainLoss float64
	res       Result
	ckptStep  int64      // step of the newest checkpoint on disk (-1: none)
	kd        *distiller // nil unless the config distils
}

// Run trains the model of o.Config, recording metrics, checkpoints and the
// summary through o.Recorder and finishing it as done, failed (with the
// reason) or pruned. Deciding whether to train at all (a done hash is
// reused) and starting the attempt is the caller's part.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Hash == "" || o.RunDir == "" {
		return nil, errors.New("train: Options.Hash and Options.RunDir must be set")
	}
	if o.Recorder == nil {
		return nil, errors.New("train: no recorder (Options.Recorder is nil)")
	}
	if o.Threads < 1 {
		o.Threads = max(o.Config.Train.Threads, 1)
	}
	t, err := newTrainer(o)
	if err != nil {
		err = fmt.Errorf("train %s: %w", o.Hash, err)
		return nil, failRecorder(o.Recorder, registry.StatusFailed, err)
	}
	return t.train(ctx)
}

func failRecorder(r Recorder, status string, err error) error {
	if ferr := r.Finish(status, err.Error()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// ReuseResult turns a done run's recorded summary back into its Result.
func ReuseResult(done *registry.Run) (*Result, error) {
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
	// Recompute block activations where storing them would not fit; it
	// changes no bits, so it is not part of the config (or its hash).
	t.model.SetRecompute(models.AutoRecompute(&c, o.Threads))
	t.params = t.model.Params()
	t.opt, err = NewAdamW(t.params, c.Train)
	if err != nil {
		return nil, err
	}
	t.opt.Threads = o.Threads
	if t.kd, err = newDistiller(o, t.model, p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	return t, nil
}

// start restores the resume checkpoint, or clears the run dir for a fresh
// start.
func (t *trainer) start() error {
	o := t.o
	if o.Resume.Path == "" {
		return removeCheckpoints(o.RunDir)
	}
	st := t.state()
	sha, err := LoadCheckpoint(o.Resume.Path, &st)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := o.Resume.verify(sha, st.Step); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	t.step, t.trainLoss, t.ckptStep = st.Step, st.TrainLoss, st.Step
	t.res.Checkpoint, t.res.CheckpointSHA = o.Resume.Rel, o.Resume.SHA256
	return nil
}

func (t *trainer) state() CheckpointState {
	return CheckpointState{Step: t.step, ConfigHash: t.o.Hash, TrainLoss: t.trainLoss, Params: t.params, Opt: t.opt}
}

func (t *trainer) train(ctx context.Context) (*Result, error) {
	if err := t.start(); err != nil {
		return nil, t.fail(registry.StatusFailed, fmt.Errorf("train %s: %w", t.o.Hash, err))
	}
	res, err := t.loop(ctx)
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", t.o.Hash, err)
	}
	return res, nil
}

// fail records err as the run's failure and returns it.
func (t *trainer) fail(status string, err error) error {
	return failRecorder(t.o.Recorder, status, err)
}

func (t *trainer) loop(ctx context.Context) (*Result, error) {
	o, p, tc := t.o, t.plan, t.o.Config.Train
	total := int64(p.steps)
	t.prog = newProgress(o.Progress, total, t.step)
	defer t.prog.finish()
	began, beganStep := time.Now(), t.step
	for t.step < total {
		if o.StopAfter > 0 && t.step >= o.StopAfter {
			t.res = Result{RunID: o.Recorder.RunID(), Hash: o.Hash, Steps: t.step, Tokens: t.step * p.tokensPerStep, TrainLoss: t.trainLoss, Stopped: true}
			return &t.res, nil
		}
		if err := ctx.Err(); err != nil {
			if cerr := t.checkpoint(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			ferr := o.Recorder.Finish(registry.StatusFailed, "interrupted")
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
			err := o.Recorder.LogMetrics(append([]registry.Metric{
				{Step: done, Name: "loss", Value: loss},
				{Step: done, Name: "lr", Value: lr},
				{Step: done, Name: "grad_norm", Value: norm},
				{Step: done, Name: "lambda", Value: float64(qs.Lambda)},
				{Step: done, Name: "phase", Value: float64(t.qat.PhaseIndex(step))},
				{Step: done, Name: "tokens_per_sec", Value: tps},
			}, t.kd.metrics(done)...))
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
	}
	return t.finish()
}

// forwardBackward runs the step's micro-batches, accumulating gradients
// scaled by 1/nMicro, and returns the mean loss.
func (t *trainer) forwardBackward(step int64) (float64, error) {
	if t.kd != nil && step >= t.kd.start {
		return t.kd.forwardBackward(t, step)
	}
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
	ms := []registry.Metric{
		{Step: done, Name: "val_loss", Value: vl},
		{Step: done, Name: "val_bpb", Value: bpb},
	}
	if done == int64(t.plan.steps) {
		for _, m := range t.o.FinalMetrics {
			m.Step = done
			ms = append(ms, m)
		}
	}
	if err := t.o.Recorder.LogMetrics(ms); err != nil {
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
	rel, err := registry.RelToRoot(t.o.Recorder.Root(), path)
	if err != nil {
		return err
	}
	t.res.Checkpoint, t.res.CheckpointSHA = rel, sha
	if err := t.o.Recorder.PutArtifact("checkpoint", path, sha, size); err != nil {
		return err
	}
	return pruneCheckpoints(t.o.RunDir, checkpointsKept)
}

func (t *trainer) finish() (*Result, error) {
	o := t.o
	if err := t.checkpoint(); err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if err := t.evalAndReport(t.step); err != nil {
		return nil, err
	}
	samples, err := t.samples()
	if err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	r := &t.res
	r.RunID, r.Hash, r.Steps, r.Tokens = o.Recorder.RunID(), o.Hash, t.step, t.step*t.plan.tokensPerStep
	r.TrainLoss, r.Samples = t.trainLoss, samples
	js, err := json.Marshal(r)
	if err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if err := o.Recorder.SetSummary(string(js)); err != nil {
		return nil, t.fail(registry.StatusFailed, err)
	}
	if err := o.Recorder.Finish(registry.StatusDone, ""); err != nil {
		return nil, err
	}
	return r, nil
}
