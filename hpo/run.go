package hpo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// Options are the per-call choices of Run.
type Options struct {
	// Trials is the number of finished trials (complete, pruned or failed)
	// the study should hold when Run returns; trials already in the study
	// count, so a restarted search only runs what is missing. 0 means the
	// space's default.
	Trials int
	// Jobs is the number of trials this process runs at once, each with
	// Env.Threads/Jobs threads (default 1).
	Jobs int
	// Study names the study (default: the space's name).
	Study string
	// Progress receives one line per finished trial; nil is silent.
	Progress io.Writer
}

// Report is the state of the study when Run returns.
type Report struct {
	Study  string
	Space  *Space
	Trials []TrialInfo // every trial of the study, by number
	Best   *TrialInfo  // nil when no trial completed
	Ran    int         // trials this call trained
	Reused int         // trials this call answered from done runs
}

// maxFailStreak stops a search after this many failed trials in a row in
// one process: something is wrong with every config, not with one.
const maxFailStreak = 3

// trialError marks an error as the objective's (the trial failed), as
// opposed to a storage error that stops the search.
type trialError struct{ err error }

func (e trialError) Error() string { return e.err.Error() }
func (e trialError) Unwrap() error { return e.err }

// Run searches the space: it opens (or resumes) the study in env's
// registry and runs trials until the study holds opts.Trials finished
// ones. Each trial trains its config with env.Train (kind hpo-trial),
// reports validation losses to the pruner and is linked to its run hash.
func Run(ctx context.Context, env *experiment.Env, space *Space, opts Options) (*Report, error) {
	if env == nil || env.DB == nil {
		return nil, errors.New("hpo: no registry (Env.DB is nil)")
	}
	if opts.Trials < 0 || opts.Jobs < 0 {
		return nil, fmt.Errorf("hpo: trials (%d) and jobs (%d) must be >= 0", opts.Trials, opts.Jobs)
	}
	if opts.Trials == 0 {
		opts.Trials = space.Trials
	}
	if opts.Jobs == 0 {
		opts.Jobs = 1
	}
	if opts.Study == "" {
		opts.Study = space.Name
	}
	study, err := OpenStudy(env.DB, opts.Study, space)
	if err != nil {
		return nil, err
	}
	sub := *env
	sub.Threads = max(1, env.Threads/opts.Jobs)
	if opts.Jobs > 1 {
		sub.Progress = nil // interleaved bars are unreadable; trial lines report progress
	}
	r := &runner{ctx: ctx, env: &sub, space: space, study: study, opts: opts, busy: map[string]*sync.Mutex{}, start: time.Now()}
	var wg sync.WaitGroup
	for j := 0; j < opts.Jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work()
		}()
	}
	wg.Wait()
	rep := &Report{Study: opts.Study, Space: space, Ran: r.ran, Reused: r.reused}
	if rep.Trials, err = trialsOf(env.DB, study.ID); err != nil {
		return rep, err
	}
	if best, err := study.Storage.GetBestTrial(study.ID); err == nil {
		for i := range rep.Trials {
			if rep.Trials[i].ID == best.ID {
				rep.Best = &rep.Trials[i]
			}
		}
	}
	if r.fatal != nil {
		return rep, r.fatal
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("search %s interrupted (run it again to resume; interrupted trials are queued again): %w", opts.Study, err)
	}
	return rep, nil
}

type runner struct {
	ctx   context.Context
	env   *experiment.Env
	space *Space
	study *goptuna.Study
	opts  Options
	start time.Time

	mu          sync.Mutex
	inflight    int
	ran, reused int
	failStreak  int
	fatal       error
	busy        map[string]*sync.Mutex // config hash → held while training it
}

// work runs trials until the budget is met, the context ends or the
// search fails.
func (r *runner) work() {
	for r.ctx.Err() == nil {
		r.mu.Lock()
		if r.fatal != nil {
			r.mu.Unlock()
			return
		}
		n, err := finishedTrials(r.study.Storage, r.study.ID)
		if err != nil {
			r.fatal = fmt.Errorf("study %s: %w", r.opts.Study, err)
			r.mu.Unlock()
			return
		}
		if n+r.inflight >= r.opts.Trials {
			r.mu.Unlock()
			return
		}
		r.inflight++
		r.mu.Unlock()

		err = r.study.Optimize(r.objective, 1)

		r.mu.Lock()
		r.inflight--
		var te trialError
		switch {
		case err == nil:
			r.failStreak = 0
		case r.ctx.Err() != nil:
		case errors.As(err, &te):
			r.failStreak++
			if r.failStreak >= maxFailStreak {
				r.fatal = fmt.Errorf("search %s: %d trials failed in a row, stopping; last: %w", r.opts.Study, r.failStreak, err)
			}
		default:
			r.fatal = fmt.Errorf("search %s: %w", r.opts.Study, err)
		}
		r.mu.Unlock()
	}
}

// hashLock serialises trials of one config hash inside this process, so
// the second waits and then reuses the first's run.
func (r *runner) hashLock(h string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.busy[h]
	if !ok {
		m = &sync.Mutex{}
		r.busy[h] = m
	}
	return m
}

func (r *runner) objective(t goptuna.Trial) (float64, error) {
	began := time.Now()
	number, err := t.Number()
	if err != nil {
		return 0, trialError{err}
	}
	v, err := r.space.Suggest(t)
	if err != nil {
		return 0, trialError{err}
	}
	c, err := r.space.Config(v)
	if err != nil {
		return 0, trialError{fmt.Errorf("trial %d: %w", number, err)}
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(r.env.Root, s) }); err != nil {
		return 0, trialError{fmt.Errorf("trial %d: %w", number, err)}
	}
	h := c.Hash()
	db := r.env.DB
	if err := db.PutConfig(h, c.Canonical()); err != nil {
		return 0, trialError{err}
	}
	if err := db.LinkTrialRun(t.ID, h); err != nil {
		return 0, trialError{err}
	}
	lock := r.hashLock(h)
	lock.Lock()
	res, err := r.env.Train(r.ctx, c, experiment.TrainOptions{Kind: registry.KindHPOTrial, OnEval: r.onEval(t, number, h)})
	lock.Unlock()
	if err != nil {
		switch {
		case errors.Is(err, train.ErrPruned):
			r.progress(number, h, "pruned", err.Error(), began)
			r.count(false)
			return 0, goptuna.ErrTrialPruned
		case r.ctx.Err() != nil:
			if qerr := r.requeue(t); qerr != nil {
				err = errors.Join(err, qerr)
			}
			r.progress(number, h, "interrupted", "queued again", began)
			return 0, trialError{err}
		}
		r.progress(number, h, "FAILED", err.Error(), began)
		return 0, trialError{fmt.Errorf("trial %d (run %s): %w", number, h[:12], err)}
	}
	r.count(res.Reused)
	if res.Reused {
		if err := r.replay(t, res.RunID); err != nil {
			return 0, trialError{err}
		}
	}
	val := res.ValLoss
	if r.space.Objective == "val_bpb" {
		val = res.ValBPB
	}
	if math.IsNaN(val) || math.IsInf(val, 0) {
		r.progress(number, h, "FAILED", fmt.Sprintf("%s is %v", r.space.Objective, val), began)
		return 0, trialError{fmt.Errorf("trial %d (run %s): %s is %v", number, h[:12], r.space.Objective, val)}
	}
	status := "complete"
	if res.Reused {
		status = "complete (reused)"
	}
	r.progress(number, h, status, fmt.Sprintf("%s %.4f", r.space.Objective, val), began)
	return val, nil
}

func (r *runner) count(reused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reused {
		r.reused++
	} else {
		r.ran++
	}
}

// onEval reports each validation pass to the pruner (or, without one,
// records it as an intermediate value) and turns a prune decision into a
// train.ErrPruned error.
func (r *runner) onEval(t goptuna.Trial, number int, hash string) func(step int64, valLoss float64) error {
	var runID int64
	return func(step int64, valLoss float64) error {
		val := valLoss
		if r.space.Objective == "val_bpb" {
			if runID == 0 {
				run, err := r.env.DB.LatestRun(hash)
				if err != nil {
					return err
				}
				runID = run.ID
			}
			m, err := r.env.DB.LastMetric(runID, "val_bpb")
			if err != nil {
				return err
			}
			if m.Step != step {
				return fmt.Errorf("trial %d: val_bpb is recorded at step %d, not at the evaluated step %d", number, m.Step, step)
			}
			val = m.Value
		}
		if t.Study.Pruner == nil {
			return t.Study.Storage.SetTrialIntermediateValue(t.ID, int(step), val)
		}
		err := t.ShouldPrune(int(step), val)
		if err == goptuna.ErrTrialPruned {
			return fmt.Errorf("trial %d pruned at step %d (%s %.4f): %w", number, step, r.space.Objective, val, train.ErrPruned)
		}
		return err
	}
}

// replay copies a reused run's validation curve into the trial, so that
// the pruner compares later trials with it.
func (r *runner) replay(t goptuna.Trial, runID int64) error {
	ms, err := r.env.DB.Metrics(runID, r.space.Objective)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := t.Study.Storage.SetTrialIntermediateValue(t.ID, int(m.Step), m.Value); err != nil {
			return fmt.Errorf("replay %s at step %d: %w", r.space.Objective, m.Step, err)
		}
	}
	return nil
}

// requeue marks an interrupted trial and queues its parameters again, so
// the next search re-runs the same config (resuming its checkpoint).
func (r *runner) requeue(t goptuna.Trial) error {
	ft, err := t.Study.Storage.GetTrial(t.ID)
	if err != nil {
		return err
	}
	if err := t.SetUserAttr(attrInterrupt, "requeued"); err != nil {
		return err
	}
	return t.Study.EnqueueTrial(ft.InternalParams)
}

func (r *runner) progress(number int, hash, status, detail string, began time.Time) {
	if r.opts.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.opts.Progress, "[hpo %s] trial %d %s: %s (run %s, %s)\n", r.opts.Study, number, status, detail,
		hash[:12], time.Since(began).Round(time.Second))
}
