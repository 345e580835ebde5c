package hpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// QueuedTrial is the payload of an hpo-trial queue item: one trial slot of
// a study. The trial's parameters are sampled when a worker claims the
// slot, from the trials finished by then (as a parallel search does).
type QueuedTrial struct {
	Study string `json:"study"`
	Slot  int    `json:"slot"`
}

// StudyBatch is the queue batch of a study.
func StudyBatch(study string) string { return "study/" + study }

// EnqueueReport is what Enqueue did.
type EnqueueReport struct {
	Study    string
	Batch    string
	Finished int // trials the study held already
	Pending  int // slots queued or claimed before this call
	Stats    registry.EnqueueStats
}

// Enqueue creates (or opens) the study for space and queues trial slots
// for `harness worker`, so that the finished trials plus the slots waiting
// in the queue reach opts.Trials.
func Enqueue(env *experiment.Env, space *Space, opts Options) (*EnqueueReport, error) {
	if env == nil || env.DB == nil {
		return nil, errors.New("hpo: no registry (Env.DB is nil)")
	}
	if opts.Trials < 0 {
		return nil, fmt.Errorf("hpo: trials (%d) must be >= 0", opts.Trials)
	}
	if opts.Trials == 0 {
		opts.Trials = space.Trials
	}
	if opts.Study == "" {
		opts.Study = space.Name
	}
	study, err := OpenStudy(env.DB, opts.Study, space)
	if err != nil {
		return nil, err
	}
	rep := &EnqueueReport{Study: opts.Study, Batch: StudyBatch(opts.Study)}
	if rep.Finished, err = finishedTrials(study.Storage, study.ID); err != nil {
		return nil, err
	}
	items, err := env.DB.QueueItems(rep.Batch)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.State == registry.QueueQueued || it.State == registry.QueueClaimed {
			rep.Pending++
		}
	}
	var add []registry.QueueItem
	for i := 0; i < opts.Trials-rep.Finished-rep.Pending; i++ {
		slot := len(items) + i
		p, err := json.Marshal(QueuedTrial{Study: opts.Study, Slot: slot})
		if err != nil {
			return nil, err
		}
		add = append(add, registry.QueueItem{Kind: registry.QueueHPOTrial, Batch: rep.Batch, Key: fmt.Sprintf("slot-%05d", slot), Payload: string(p)})
	}
	if len(add) > 0 {
		if rep.Stats, err = env.DB.Enqueue(add); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// QueueHandler is the worker's handler for hpo-trial items: it runs one
// trial of the item's study (the space is read back from the study). When
// an earlier worker died inside the slot's trial, that trial is marked
// interrupted and its parameters are queued again in the study, so this
// worker re-runs the same config, resuming its checkpoint, under a new
// trial number.
func QueueHandler(env *experiment.Env, progress io.Writer) experiment.Handler {
	return func(ctx context.Context, c *registry.Claim) (string, error) {
		var p QueuedTrial
		if err := json.Unmarshal([]byte(c.Item.Payload), &p); err != nil {
			return "", fmt.Errorf("queue item %d: unreadable payload: %w", c.Item.ID, err)
		}
		st := env.DB.StudyStorage()
		id, err := st.GetStudyIDFromName(p.Study)
		if err != nil {
			return "", fmt.Errorf("study %q: %w", p.Study, err)
		}
		space, err := studySpace(st, id)
		if err != nil {
			return "", fmt.Errorf("study %q: %w", p.Study, err)
		}
		study, err := OpenStudy(env.DB, p.Study, space)
		if err != nil {
			return "", err
		}
		if c.Item.Detail != "" {
			done, err := takeOverTrial(study, c.Item.Detail)
			if err != nil || done != "" {
				return done, err
			}
		}
		r := &runner{ctx: ctx, env: env, space: space, study: study, start: time.Now(),
			opts: Options{Study: p.Study, Trials: 1, Jobs: 1, Progress: progress}, busy: map[string]*sync.Mutex{}}
		var number, trialID int
		err = study.Optimize(func(t goptuna.Trial) (float64, error) {
			trialID = t.ID
			if err := c.SetDetail(strconv.Itoa(t.ID)); err != nil {
				return 0, trialError{err}
			}
			number, _ = t.Number()
			return r.objective(t)
		}, 1)
		if err != nil {
			return "", fmt.Errorf("study %s trial %d: %w", p.Study, number, err)
		}
		ft, err := st.GetTrial(trialID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("study %s trial %d %s", p.Study, number, stateName(ft.State)), nil
	}
}

// takeOverTrial handles the trial a dead worker bound the slot to. A
// trial that finished (and was not interrupted) means the slot's work is
// done; a running one is marked interrupted and failed, and its
// parameters queued again in the study.
func takeOverTrial(study *goptuna.Study, detail string) (string, error) {
	trialID, err := strconv.Atoi(detail)
	if err != nil {
		return "", fmt.Errorf("queue item bound to %q, not a trial id", detail)
	}
	ft, err := study.Storage.GetTrial(trialID)
	if err != nil {
		return "", err
	}
	if ft.State.IsFinished() {
		if ft.UserAttrs[attrInterrupt] == "" {
			return fmt.Sprintf("trial %d already %s", ft.Number, stateName(ft.State)), nil
		}
		return "", nil // interrupted and requeued: run the slot's trial now
	}
	if ft.State != goptuna.TrialStateRunning {
		return "", nil
	}
	if err := study.Storage.SetTrialUserAttr(trialID, attrInterrupt, "requeued (its worker died)"); err != nil {
		return "", err
	}
	if err := study.Storage.SetTrialState(trialID, goptuna.TrialStateFail); err != nil {
		return "", err
	}
	return "", study.EnqueueTrial(ft.InternalParams)
}
