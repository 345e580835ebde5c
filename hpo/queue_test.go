package hpo

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// Three queued trial slots, one of which a worker died in (its trial
// running, its claim stale): a worker runs the other two and takes the
// dead one over, marking its trial interrupted and re-running the same
// parameters as a new trial. Every trial number is used once and the
// study ends with three finished trials.
func TestQueuedTrialsAndDeadWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	env := testEnv(t)
	env.Threads = 1
	space, err := LoadSpace("micro")
	if err != nil {
		t.Fatal(err)
	}
	q, err := Enqueue(env, space, Options{Trials: 3})
	if err != nil {
		t.Fatal(err)
	}
	if q.Stats.Added != 3 || q.Batch != "study/micro" {
		t.Fatalf("enqueue: %+v", q)
	}
	again, err := Enqueue(env, space, Options{Trials: 3})
	if err != nil || again.Stats.Added != 0 || again.Pending != 3 {
		t.Fatalf("enqueue again: %+v %v", again, err)
	}

	// The worker that dies: it claims a slot, starts a trial and binds it.
	c, err := env.DB.Claim(registry.ClaimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	study, err := OpenStudy(env.DB, "micro", space)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := study.Storage.CreateNewTrial(study.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := space.Suggest(goptuna.Trial{Study: study, ID: dead}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDetail(strconv.Itoa(dead)); err != nil {
		t.Fatal(err)
	}
	c.Abandon()
	deadParams, err := study.Storage.GetTrialParams(dead)
	if err != nil {
		t.Fatal(err)
	}

	w := &experiment.Worker{DB: env.DB, StaleAfter: time.Millisecond, Poll: 10 * time.Millisecond,
		Handlers: map[string]experiment.Handler{registry.QueueHPOTrial: QueueHandler(env, nil)}}
	rep, err := w.Run(context.Background())
	if err != nil || rep.Done != 3 || rep.Failed != 0 || rep.Reclaimed != 1 {
		t.Fatalf("worker: %+v %v", rep, err)
	}
	ts, err := Trials(env.DB, "micro")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 {
		t.Fatalf("%d trials, want 4 (3 finished + the interrupted one)", len(ts))
	}
	seen := map[int]bool{}
	rerun := 0
	for _, tr := range ts {
		if seen[tr.Number] {
			t.Errorf("trial number %d used twice", tr.Number)
		}
		seen[tr.Number] = true
		switch {
		case tr.ID == dead:
			if !tr.Interrupted || tr.State != "fail" {
				t.Errorf("dead worker's trial: %+v", tr)
			}
		case fmt.Sprint(tr.Params) == fmt.Sprint(deadParams):
			rerun++
			if tr.State == "running" || tr.State == "waiting" || tr.State == "fail" {
				t.Errorf("re-run trial %d is %s", tr.Number, tr.State)
			}
		}
	}
	if rerun != 1 {
		t.Errorf("the dead trial's parameters ran %d times again, want 1", rerun)
	}
	if n, err := finishedTrials(env.DB.StudyStorage(), study.ID); err != nil || n != 3 {
		t.Errorf("finished trials %d (%v), want 3", n, err)
	}
	items, err := env.DB.QueueItems(q.Batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.State != registry.QueueDone {
			t.Errorf("slot %s: %s", it.Key, it.State)
		}
	}
}
