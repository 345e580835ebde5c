package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// QueuedMember is the payload of an ablation-member queue item: what a
// worker needs to train and evaluate one member without the matrix file
// (the member's config is recorded under its hash).
type QueuedMember struct {
	Ablation   string   `json:"ablation"`
	AblationID int64    `json:"ablation_id"`
	DefHash    string   `json:"def_hash"`
	Hash       string   `json:"hash"`
	Arm        string   `json:"arm"`
	Seed       int64    `json:"seed"`
	Tasks      []string `json:"tasks,omitempty"`
	Limit      int      `json:"limit,omitempty"`
	// Config is the member's full config, with the settings the run hash
	// leaves out (preset name, checkpoint interval); absent, the worker
	// uses the canonical config recorded under Hash.
	Config json.RawMessage `json:"config,omitempty"`
}

// EnqueueReport is what EnqueueAblation did.
type EnqueueReport struct {
	Batch   string // the queue batch workers select with --batch
	ID      int64  // the recorded ablation
	DefHash string
	Members int
	Stats   registry.EnqueueStats
}

// AblationBatch is the queue batch of an ablation definition.
func AblationBatch(name, defHash string) string {
	return "ablation/" + name + "/" + short(defHash)
}

// EnqueueAblation expands m as Ablate does, records its definition and
// member configs, and queues every member for `harness worker`. Members
// already done are queued too: a worker reuses them at once (and runs a
// missing evaluation).
func (e *Env) EnqueueAblation(m *ablations.Matrix, extra []string) (*EnqueueReport, error) {
	members, err := m.Expand(extra, e.fingerprinter())
	if err != nil {
		return nil, err
	}
	for _, mb := range members {
		if err := e.DB.PutConfig(mb.Hash, mb.Config.Canonical()); err != nil {
			return nil, err
		}
	}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": extra})
	def := AblationDef(m, members)
	rep := &EnqueueReport{DefHash: def.Hash(), Members: len(members), Batch: AblationBatch(m.Name, def.Hash())}
	if rep.ID, err = e.DB.PutAblation(def, string(spec)); err != nil {
		return nil, err
	}
	items := make([]registry.QueueItem, 0, len(members))
	for _, mb := range members {
		cfg, err := json.Marshal(mb.Config)
		if err != nil {
			return nil, err
		}
		p, err := json.Marshal(QueuedMember{Ablation: m.Name, AblationID: rep.ID, DefHash: rep.DefHash, Hash: mb.Hash,
			Arm: mb.Arm, Seed: mb.Seed, Tasks: m.Tasks, Limit: m.Limit, Config: cfg})
		if err != nil {
			return nil, err
		}
		items = append(items, registry.QueueItem{Kind: registry.QueueAblationMember, Batch: rep.Batch, Key: mb.Hash, Payload: string(p)})
	}
	if rep.Stats, err = e.DB.Enqueue(items); err != nil {
		return nil, err
	}
	return rep, nil
}

// leaseWait is how long a queued run waits between tries while another
// live process holds its hash.
var leaseWait = 2 * time.Second

// RunQueuedMember is the worker's handler for ablation members: it trains
// the member (resuming from its newest recorded checkpoint when an earlier
// worker died in it) and evaluates it on the matrix's tasks.
func (e *Env) RunQueuedMember(ctx context.Context, c *registry.Claim) (string, error) {
	var p QueuedMember
	if err := json.Unmarshal([]byte(c.Item.Payload), &p); err != nil {
		return "", fmt.Errorf("queue item %d: unreadable payload: %w", c.Item.ID, err)
	}
	cfg, err := e.queuedConfig(p)
	if err != nil {
		return "", fmt.Errorf("member %s: %w", short(p.Hash), err)
	}
	if h := cfg.Hash(); h != p.Hash {
		return "", fmt.Errorf("member %s: the recorded config hashes to %s with this harness (a different config schema?)", short(p.Hash), short(h))
	}
	tr, err := whenFree(ctx, func() (*train.Result, error) {
		return e.Train(ctx, cfg, TrainOptions{Kind: registry.KindAblationArm})
	})
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	detail := fmt.Sprintf("%s seed %d: val_bpb %.4f", p.Arm, p.Seed, tr.ValBPB)
	if tr.Reused {
		detail += " (reused)"
	}
	if len(p.Tasks) > 0 {
		ev, err := whenFree(ctx, func() (*EvalResult, error) {
			return e.Evaluate(ctx, EvalRequest{Model: p.Hash, Tasks: p.Tasks, Shots: -1, Limit: p.Limit})
		})
		if err != nil {
			return detail, fmt.Errorf("eval: %w", err)
		}
		detail += ", eval " + short(ev.Hash)
	}
	return detail, nil
}

// queuedConfig is the config a queued member carries, or else the
// canonical one recorded under its hash.
func (e *Env) queuedConfig(p QueuedMember) (*configs.Config, error) {
	if len(p.Config) == 0 {
		js, err := e.DB.Config(p.Hash)
		if err != nil {
			return nil, err
		}
		return configs.FromCanonical(js)
	}
	var c configs.Config
	if err := json.Unmarshal(p.Config, &c); err != nil {
		return nil, fmt.Errorf("queued config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("queued config: %w", err)
	}
	return &c, nil
}

// whenFree runs fn again while another live process holds the run's
// lease (the same member queued twice, or a run started by hand).
func whenFree[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	for {
		v, err := fn()
		var le *registry.LeaseError
		if !errors.As(err, &le) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, errors.Join(err, ctx.Err())
		case <-time.After(leaseWait):
		}
	}
}

// Handler runs one claimed queue item and returns a line about its
// outcome.
type Handler func(ctx context.Context, c *registry.Claim) (string, error)

// Worker claims queue items one at a time and runs each with the handler
// of its kind until nothing is left.
type Worker struct {
	DB       *registry.DB
	Handlers map[string]Handler
	// Batch limits the worker to one ablation or study ("" = any).
	Batch string
	// Name is recorded with each claim (e.g. the Slurm task).
	Name string
	// StaleAfter is the heartbeat age after which another host's claim
	// is taken over (default registry.DefaultStaleAfter).
	StaleAfter time.Duration
	// Poll is how often an idle worker looks again while other workers
	// hold items (default 2s).
	Poll time.Duration
	// NoWait makes the worker exit as soon as nothing is claimable, even
	// when other workers still hold items (which it would otherwise take
	// over if their owner died).
	NoWait bool
	// Max stops after this many items (0 = no limit).
	Max int
	Log io.Writer // nil = silent
}

// WorkerReport counts what a worker did.
type WorkerReport struct {
	Done, Failed, Reclaimed int
}

// Run claims and runs items until the queue has nothing left for this
// worker (or ctx ends: the item in hand goes back to the queue). A failed
// item is recorded as failed and the worker moves on.
func (w *Worker) Run(ctx context.Context) (*WorkerReport, error) {
	rep := &WorkerReport{}
	poll := w.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var kinds []string
	for k := range w.Handlers {
		kinds = append(kinds, k)
	}
	waiting := false
	for ctx.Err() == nil {
		if w.Max > 0 && rep.Done+rep.Failed >= w.Max {
			return rep, nil
		}
		c, err := w.DB.Claim(registry.ClaimOptions{Batch: w.Batch, Kinds: kinds, Worker: w.Name, StaleAfter: w.StaleAfter})
		var ife *registry.InFlightError
		switch {
		case errors.Is(err, registry.ErrQueueEmpty):
			w.logf("queue empty: %d done, %d failed, %d taken over from dead workers", rep.Done, rep.Failed, rep.Reclaimed)
			return rep, nil
		case errors.As(err, &ife):
			if w.NoWait {
				w.logf("nothing to claim (%d in progress elsewhere): %d done, %d failed", ife.Items, rep.Done, rep.Failed)
				return rep, nil
			}
			if !waiting {
				w.logf("%v; waiting in case one of them dies", ife)
				waiting = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(poll):
			}
			continue
		case err != nil:
			return rep, err
		}
		waiting = false
		it := c.Item
		how := ""
		if c.Previous != nil {
			rep.Reclaimed++
			how = fmt.Sprintf(", taken over from process %d on %s (last heartbeat %s ago)", c.Previous.PID, c.Previous.Host,
				time.Since(c.Previous.Beat).Round(time.Second))
		}
		w.logf("claimed %s %s [%s] (item %d, claim %d%s)", it.Kind, short(it.Key), it.Batch, it.ID, it.Attempts, how)
		t0 := time.Now()
		detail, err := w.Handlers[it.Kind](ctx, c)
		took := time.Since(t0).Round(time.Millisecond)
		switch {
		case err != nil && ctx.Err() != nil:
			if rerr := c.Release(); rerr != nil {
				return rep, errors.Join(err, rerr)
			}
			w.logf("stopped in item %d after %s; it is queued again", it.ID, took)
			return rep, ctx.Err()
		case err != nil:
			rep.Failed++
			w.logf("item %d FAILED after %s: %v", it.ID, took, err)
			if ferr := c.Finish(registry.QueueFailed, err.Error()); ferr != nil {
				return rep, ferr
			}
		default:
			rep.Done++
			w.logf("item %d done in %s: %s", it.ID, took, detail)
			if ferr := c.Finish(registry.QueueDone, ""); ferr != nil {
				return rep, ferr
			}
		}
	}
	return rep, ctx.Err()
}

func (w *Worker) logf(format string, args ...any) {
	if w.Log == nil {
		return
	}
	name := w.Name
	if name == "" {
		name = "worker"
	}
	fmt.Fprintf(w.Log, "[%s] %s\n", name, fmt.Sprintf(format, args...))
}
