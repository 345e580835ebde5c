package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// The work queue: ablation members and hpo trial slots that `harness
// worker` processes claim one at a time. A claim is a lease on the item
// (token, host, pid, heartbeat), with the same liveness rule as a run's
// lease: an owner on this host whose process is gone, or any owner whose
// heartbeat is older than StaleAfter, is dead, and its item is claimed
// again (the run it was executing resumes from its newest recorded
// checkpoint). The work itself still goes through Start/Finish.

// Queue item kinds.
const (
	QueueAblationMember = "ablation-member"
	QueueHPOTrial       = "hpo-trial"
)

// Queue item states.
const (
	QueueQueued  = "queued"
	QueueClaimed = "claimed"
	QueueDone    = "done"
	QueueFailed  = "failed"
)

var bg = context.Background()

var queueKinds = []string{QueueAblationMember, QueueHPOTrial}

// ErrQueueEmpty is returned by Claim when no item is queued or claimed.
var ErrQueueEmpty = errors.New("queue empty")

// InFlightError is returned by Claim when nothing can be claimed now but
// items are claimed by workers that are alive; one of them may still die
// and its item become claimable.
type InFlightError struct{ Items int }

func (e *InFlightError) Error() string {
	return fmt.Sprintf("nothing to claim: %d item(s) in progress in other workers", e.Items)
}

// QueueItem is one row of the queue.
type QueueItem struct {
	ID       int64
	Kind     string
	Batch    string // the ablation or study the item belongs to
	Key      string // unique within the batch (a run hash, a trial slot)
	Payload  string // JSON the worker's handler reads
	State    string
	Attempts int // claims so far
	Host     string
	PID      int
	Worker   string // the claiming worker's name (e.g. a Slurm task)
	Detail   string // what the worker bound the item to (e.g. a trial id)
	Error    string
	Created  time.Time
	Claimed  time.Time
	Beat     time.Time
	Finished time.Time
}

const queueColumns = `id, kind, batch, item_key, payload, state, attempts, host, pid, worker, detail, error, created, claimed, heartbeat, finished`

func scanQueueItem(s scanner) (QueueItem, error) {
	var q QueueItem
	var created, claimed, beat, finished sql.NullString
	if err := s.Scan(&q.ID, &q.Kind, &q.Batch, &q.Key, &q.Payload, &q.State, &q.Attempts, &q.Host, &q.PID,
		&q.Worker, &q.Detail, &q.Error, &created, &claimed, &beat, &finished); err != nil {
		return q, err
	}
	var err error
	for _, p := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&q.Created, created}, {&q.Claimed, claimed}, {&q.Beat, beat}, {&q.Finished, finished}} {
		if *p.dst, err = parseTime(p.src); err != nil {
			return q, err
		}
	}
	return q, nil
}

// EnqueueStats counts what Enqueue did.
type EnqueueStats struct {
	Added    int // new items
	Requeued int // failed items queued again
	Kept     int // items already queued, claimed or done
}

// Enqueue adds items (Kind, Batch, Key, Payload; the rest is ignored) in
// one transaction. An item whose (Batch, Key) exists is kept as it is,
// except a failed one, which is queued again with the new payload.
func (db *DB) Enqueue(items []QueueItem) (EnqueueStats, error) {
	var st EnqueueStats
	for _, it := range items {
		if !slices.Contains(queueKinds, it.Kind) {
			return st, fmt.Errorf("registry: enqueue: unknown kind %q (valid: %s)", it.Kind, strings.Join(queueKinds, ", "))
		}
		if it.Batch == "" || it.Key == "" {
			return st, fmt.Errorf("registry: enqueue: item without batch or key (%q, %q)", it.Batch, it.Key)
		}
	}
	if err := db.ensureQueue(); err != nil {
		return st, err
	}
	err := db.write(func(tx *sql.Tx) error {
		st = EnqueueStats{}
		ts := formatTime(now())
		for _, it := range items {
			var id int64
			var state string
			err := tx.QueryRow(`SELECT id, state FROM queue WHERE batch = ? AND item_key = ?`, it.Batch, it.Key).Scan(&id, &state)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.Exec(`INSERT INTO queue (kind, batch, item_key, payload, state, created) VALUES (?, ?, ?, ?, ?, ?)`,
					it.Kind, it.Batch, it.Key, it.Payload, QueueQueued, ts); err != nil {
					return err
				}
				st.Added++
			case err != nil:
				return err
			case state == QueueFailed:
				if _, err := tx.Exec(`UPDATE queue SET state = ?, payload = ?, error = '', token = '', finished = NULL WHERE id = ?`,
					QueueQueued, it.Payload, id); err != nil {
					return err
				}
				st.Requeued++
			default:
				st.Kept++
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("registry: enqueue: %w", err)
	}
	return st, nil
}

// ClaimOptions choose what Claim may take.
type ClaimOptions struct {
	Batch      string   // only items of this batch ("" = any)
	Kinds      []string // only these kinds (empty = any)
	Worker     string   // recorded with the claim (e.g. "slurm 1234_5")
	StaleAfter time.Duration
}

// Claim is an item this process holds: a lease with a heartbeat until
// Finish or Release.
type Claim struct {
	db    *DB
	Item  QueueItem
	token string
	// Previous is the dead owner's claim when the item was claimed again
	// (nil for a first claim).
	Previous *QueueItem

	mu       sync.Mutex
	finished bool
	stop     chan struct{}
	stopped  chan struct{}
}

// Claim takes the oldest claimable item: a queued one, or a claimed one
// whose owner is dead. It returns ErrQueueEmpty when nothing is queued or
// claimed, and an *InFlightError when the only unfinished items are held
// by live workers. The claim is one write transaction (BEGIN IMMEDIATE on
// SQLite), so two workers never hold the same item.
func (db *DB) Claim(o ClaimOptions) (*Claim, error) {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if err := db.ensureQueue(); err != nil {
		return nil, err
	}
	token := fmt.Sprintf("%s/%d/q%d", thisHost(), os.Getpid(), db.jitterToken())
	var claimed *Claim
	var inFlight int
	// On PostgreSQL a claim skips the global write lock: rows another
	// claimer is looking at are skipped (FOR UPDATE SKIP LOCKED). On
	// SQLite the claim is one BEGIN IMMEDIATE transaction.
	run, lock := db.write, ""
	if db.pg {
		run, lock = db.lockFreeWrite, " FOR UPDATE SKIP LOCKED"
	}
	err := run(func(tx *sql.Tx) error {
		claimed, inFlight = nil, 0
		t := now()
		ts := formatTime(t)
		filter := ""
		var args []any
		if o.Batch != "" {
			filter += ` AND batch = ?`
			args = append(args, o.Batch)
		}
		if len(o.Kinds) > 0 {
			filter += ` AND kind IN (?` + strings.Repeat(", ?", len(o.Kinds)-1) + `)`
			for _, k := range o.Kinds {
				args = append(args, k)
			}
		}
		// The oldest queued item, else the oldest claimed one whose owner
		// is dead.
		var pick, prev *QueueItem
		it, err := scanQueueItem(tx.QueryRow(`SELECT `+queueColumns+` FROM queue WHERE state = 'queued'`+filter+` ORDER BY id LIMIT 1`+lock, args...))
		switch {
		case err == nil:
			pick = &it
		case !errors.Is(err, sql.ErrNoRows):
			return err
		default:
			rows, err := tx.Query(`SELECT `+queueColumns+` FROM queue WHERE state = 'claimed'`+filter+` ORDER BY id`+lock, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				it, err := scanQueueItem(rows)
				if err != nil {
					rows.Close()
					return err
				}
				if (it.Host == thisHost() && !pidAlive(it.PID)) || t.Sub(it.Beat) > o.StaleAfter {
					p := it
					pick, prev = &it, &p
					break
				}
				inFlight++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if pick == nil {
			if db.pg {
				// Rows other claimers hold locked were skipped: count them.
				return tx.QueryRow(`SELECT COUNT(*) FROM queue WHERE state IN ('queued', 'claimed')`+filter, args...).Scan(&inFlight)
			}
			return nil
		}
		res, err := tx.Exec(`UPDATE queue SET state = 'claimed', attempts = attempts + 1, token = ?, host = ?, pid = ?, worker = ?,
			claimed = ?, heartbeat = ?, error = '' WHERE id = ? AND state = ?`,
			token, thisHost(), os.Getpid(), o.Worker, ts, ts, pick.ID, pick.State)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("queue item %d changed while being claimed", pick.ID)
		}
		got, err := scanQueueItem(tx.QueryRow(`SELECT `+queueColumns+` FROM queue WHERE id = ?`, pick.ID))
		if err != nil {
			return err
		}
		claimed = &Claim{db: db, Item: got, token: token, Previous: prev}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: claim a queue item: %w", err)
	}
	if claimed == nil {
		if inFlight > 0 {
			return nil, &InFlightError{Items: inFlight}
		}
		return nil, ErrQueueEmpty
	}
	claimed.stop, claimed.stopped = make(chan struct{}), make(chan struct{})
	go claimed.beat()
	return claimed, nil
}

func (c *Claim) beat() {
	defer close(c.stopped)
	tk := time.NewTicker(LeaseHeartbeat)
	defer tk.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tk.C:
			_ = c.Heartbeat()
		}
	}
}

// Heartbeat stamps the claim as alive; ErrLeaseLost when another worker
// has claimed the item since (this one was thought dead).
func (c *Claim) Heartbeat() error {
	return c.update("heartbeat", `UPDATE queue SET heartbeat = ? WHERE id = ? AND token = ? AND state = 'claimed'`, formatTime(now()), c.Item.ID, c.token)
}

// SetDetail records what the item is bound to (a trial id), so a worker
// that claims it again after this one died can find it.
func (c *Claim) SetDetail(detail string) error {
	if err := c.update("set detail of", `UPDATE queue SET detail = ? WHERE id = ? AND token = ? AND state = 'claimed'`, detail, c.Item.ID, c.token); err != nil {
		return err
	}
	c.Item.Detail = detail
	return nil
}

func (c *Claim) update(what, query string, args ...any) error {
	err := c.db.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: %s queue item %d: %w", what, c.Item.ID, err)
	}
	return nil
}

// Finish ends the claim with state done or failed (with errText) and
// stops the heartbeat. Only the first Finish or Release has an effect.
func (c *Claim) Finish(state, errText string) error {
	if state != QueueDone && state != QueueFailed {
		return fmt.Errorf("registry: finish queue item %d: state %q is not final (valid: done, failed)", c.Item.ID, state)
	}
	if !c.end() {
		return nil
	}
	ts := formatTime(now())
	if err := c.update("finish", `UPDATE queue SET state = ?, error = ?, finished = ?, heartbeat = ? WHERE id = ? AND token = ? AND state = 'claimed'`,
		state, errText, ts, ts, c.Item.ID, c.token); err != nil {
		return err
	}
	c.Item.State, c.Item.Error = state, errText
	return nil
}

// Release puts the item back in the queue unfinished (the worker was
// stopped on purpose); the next claim resumes it.
func (c *Claim) Release() error {
	if !c.end() {
		return nil
	}
	if err := c.update("release", `UPDATE queue SET state = 'queued', token = '', heartbeat = NULL WHERE id = ? AND token = ? AND state = 'claimed'`,
		c.Item.ID, c.token); err != nil {
		return err
	}
	c.Item.State = QueueQueued
	return nil
}

// Abandon stops the heartbeat and leaves the item claimed, as if this
// process had died (tests).
func (c *Claim) Abandon() { c.end() }

func (c *Claim) end() bool {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return false
	}
	c.finished = true
	c.mu.Unlock()
	if c.stop != nil {
		close(c.stop)
		<-c.stopped
	}
	return true
}

// QueueItems lists the queue's items (of one batch, or all for ""), by id.
// A registry without a queue yet has none.
func (db *DB) QueueItems(batch string) ([]QueueItem, error) {
	ok, err := db.hasQueue()
	if err != nil || !ok {
		return nil, err
	}
	var out []QueueItem
	err = db.snapshot(func(q querier) error {
		out = out[:0]
		query := `SELECT ` + queueColumns + ` FROM queue`
		var args []any
		if batch != "" {
			query += ` WHERE batch = ?`
			args = append(args, batch)
		}
		rows, err := q.QueryContext(bg, query+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanQueueItem(rows)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list queue: %w", err)
	}
	return out, nil
}

// lockFreeWrite runs fn in a plain transaction (PostgreSQL queue claims,
// which lock their rows instead of the whole registry), retried while the
// server reports a serialization failure or deadlock.
func (db *DB) lockFreeWrite(fn func(tx *sql.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s is open read-only", db.path)
	}
	return db.retry(func() error {
		tx, err := db.sql.Begin()
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// ensureQueue applies the on-demand schema steps up to the queue to a
// file opened at an older version.
func (db *DB) ensureQueue() error { return db.ensureSchema(queueVersion) }

// hasQueue reports whether the file has the queue table yet.
func (db *DB) hasQueue() (bool, error) { return db.hasSchema(queueVersion) }
