package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The run lifecycle: every kind of run (train, eval, bench, hpo trial)
// goes through Start → (Heartbeat, LogMetrics, PutArtifact, SetSummary …)
// → Finish. Start takes the hash's lease, so one process at a time runs a
// hash; Finish ends the attempt as done, failed or pruned exactly once and
// gives the lease back.

// LeaseHeartbeat is how often a started attempt stamps its lease and run.
const LeaseHeartbeat = 10 * time.Second

// DefaultStaleAfter is the heartbeat age after which a lease whose owner
// cannot be checked (another host) is taken over.
const DefaultStaleAfter = 2 * time.Minute

// ErrAlreadyDone is returned by Start when the hash already has a done run
// and StartOptions.Force is not set.
var ErrAlreadyDone = errors.New("already done")

// ErrLeaseLost is returned by an attempt's writes after another process
// took its lease over (this one was thought dead).
var ErrLeaseLost = errors.New("lease lost")

// LeaseError says which live process holds a hash.
type LeaseError struct {
	Hash      string
	RunID     int64
	Host      string
	PID       int
	Heartbeat time.Time
}

func (e *LeaseError) Error() string {
	return fmt.Sprintf("run %s is in progress in process %d on host %s (run id %d, last heartbeat %s ago); wait for it to finish, or stop that process — a dead owner's lease is taken over automatically",
		short(e.Hash), e.PID, e.Host, e.RunID, time.Since(e.Heartbeat).Round(time.Second))
}

// StartOptions are the choices of Start.
type StartOptions struct {
	// Resume reopens the latest attempt of the hash when it is not done
	// (its metrics and checkpoints continue); otherwise a new attempt
	// begins.
	Resume bool
	// Force starts an attempt even when the hash already has a done run.
	Force bool
	// Root is the project root; artifact paths are stored relative to it.
	Root string
	// StaleAfter overrides DefaultStaleAfter.
	StaleAfter time.Duration
	// Wait is how long to wait for a live owner's lease before giving up
	// with a *LeaseError (0: give up at once).
	Wait time.Duration
}

// Attempt is a run this process is executing: its registry row and the
// lease on its hash. Its methods are safe for concurrent use.
type Attempt struct {
	db    *DB
	Run   *Run
	root  string
	token string

	mu       sync.Mutex
	finished bool
	stop     chan struct{}
	stopped  chan struct{}
}

var (
	hostOnce sync.Once
	hostName string
)

func thisHost() string {
	hostOnce.Do(func() {
		hostName, _ = os.Hostname()
		if hostName == "" {
			hostName = "unknown"
		}
	})
	return hostName
}

// pidAlive reports whether a process with pid exists on this host.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Start begins (or, with Resume, reopens) an attempt of info.Hash under
// the hash's lease. A hash held by a live process gives a *LeaseError; a
// lease whose owner died (same host, process gone) or whose heartbeat is
// older than StaleAfter is taken over and its unfinished run marked
// failed. A hash with a done run gives ErrAlreadyDone unless o.Force.
func (db *DB) Start(info RunInfo, o StartOptions) (*Attempt, error) {
	if err := checkHash(info.Hash); err != nil {
		return nil, fmt.Errorf("registry: start run: %w", err)
	}
	if !slices.Contains(kinds, info.Kind) {
		return nil, fmt.Errorf("registry: start run %s: unknown kind %q (valid: %s)", short(info.Hash), info.Kind, strings.Join(kinds, ", "))
	}
	if info.Threads < 0 {
		return nil, fmt.Errorf("registry: start run %s: negative thread count %d", short(info.Hash), info.Threads)
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	deadline := time.Now().Add(o.Wait)
	for {
		a, err := db.tryStart(info, o)
		var le *LeaseError
		if errors.As(err, &le) && time.Now().Before(deadline) {
			time.Sleep(min(time.Second, time.Until(deadline)))
			continue
		}
		if err != nil {
			return nil, err
		}
		a.stop, a.stopped = make(chan struct{}), make(chan struct{})
		go a.beat()
		return a, nil
	}
}

func (db *DB) tryStart(info RunInfo, o StartOptions) (*Attempt, error) {
	env := db.environment()
	token := fmt.Sprintf("%s/%d/%d", thisHost(), os.Getpid(), db.jitterToken())
	var run *Run
	err := db.write(func(tx *sql.Tx) error {
		t := now()
		ts := formatTime(t)
		// The lease.
		var l struct {
			runID     sql.NullInt64
			host      string
			pid       int
			heartbeat sql.NullString
		}
		err := tx.QueryRow(`SELECT run_id, host, pid, heartbeat FROM leases WHERE hash = ?`, info.Hash).
			Scan(&l.runID, &l.host, &l.pid, &l.heartbeat)
		switch {
		case err == nil:
			hb, perr := parseTime(l.heartbeat)
			if perr != nil {
				return perr
			}
			dead := (l.host == thisHost() && !pidAlive(l.pid)) || t.Sub(hb) > o.StaleAfter
			if !dead {
				return &LeaseError{Hash: info.Hash, RunID: l.runID.Int64, Host: l.host, PID: l.pid, Heartbeat: hb}
			}
			if l.runID.Valid {
				msg := fmt.Sprintf("stale: its process (%d on %s) died; last heartbeat %s", l.pid, l.host, hb.Format(time.RFC3339))
				if _, err := tx.Exec(`UPDATE runs SET status = 'failed', error = ?, finished = ? WHERE id = ? AND status = 'running'`,
					msg, ts, l.runID.Int64); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(`DELETE FROM leases WHERE hash = ?`, info.Hash); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// Done already?
		if !o.Force {
			var id int64
			err := tx.QueryRow(`SELECT id FROM runs WHERE hash = ? AND status = 'done' LIMIT 1`, info.Hash).Scan(&id)
			if err == nil {
				return fmt.Errorf("run %s: %w (run id %d)", short(info.Hash), ErrAlreadyDone, id)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// Reopen or begin.
		if o.Resume {
			r, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs WHERE hash = ? ORDER BY attempt DESC LIMIT 1`, info.Hash))
			switch {
			case err == nil && r.Status != StatusDone:
				// Training kinds share config hashes (a train run resumed as an
				// ablation arm); eval and bench runs only resume as themselves.
				if r.Kind != info.Kind && !(trainingKind(r.Kind) && trainingKind(info.Kind)) {
					return fmt.Errorf("run %s is of kind %s and cannot be resumed as %s", short(info.Hash), r.Kind, info.Kind)
				}
				if _, err := tx.Exec(`UPDATE runs SET status = 'running', error = '', finished = NULL, heartbeat = ? WHERE id = ?`, ts, r.ID); err != nil {
					return err
				}
				r.Status, r.Error, r.Finished = StatusRunning, "", time.Time{}
				run = r
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if run == nil {
			var attempt int
			if err := tx.QueryRow(`SELECT COALESCE(MAX(attempt), 0) + 1 FROM runs WHERE hash = ?`, info.Hash).Scan(&attempt); err != nil {
				return err
			}
			res, err := tx.Exec(`INSERT INTO runs (hash, attempt, kind, status, name, parent_hash,
				created, started, heartbeat, code_version, code_dirty, go_version, os, cpu, threads, kernel_set, code_diff)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				info.Hash, attempt, info.Kind, StatusRunning, info.Name, info.ParentHash,
				ts, ts, ts, env.CodeVersion, env.CodeDirty, env.GoVersion, env.OS, env.CPU, info.Threads, info.KernelSet, env.CodeDiff)
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if run, err = scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs WHERE id = ?`, id)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(`INSERT INTO leases (hash, run_id, token, host, pid, acquired, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			info.Hash, run.ID, token, thisHost(), os.Getpid(), ts, ts)
		return err
	})
	if err != nil {
		var le *LeaseError
		if errors.As(err, &le) || errors.Is(err, ErrAlreadyDone) {
			return nil, err
		}
		return nil, fmt.Errorf("registry: start run %s: %w", short(info.Hash), err)
	}
	return &Attempt{db: db, Run: run, root: o.Root, token: token}, nil
}

func (db *DB) jitterToken() uint64 {
	db.jitterMu.Lock()
	defer db.jitterMu.Unlock()
	return db.jitter.Uint64()
}

// beat stamps the lease and the run every LeaseHeartbeat until Finish.
func (a *Attempt) beat() {
	defer close(a.stopped)
	tk := time.NewTicker(LeaseHeartbeat)
	defer tk.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tk.C:
			_ = a.Heartbeat()
		}
	}
}

// Heartbeat stamps the lease and the run as alive now. It fails with
// ErrLeaseLost when another process has taken the lease over.
func (a *Attempt) Heartbeat() error {
	ts := formatTime(now())
	err := a.db.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE leases SET heartbeat = ? WHERE hash = ? AND token = ?`, ts, a.Run.Hash, a.token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLeaseLost
		}
		_, err = tx.Exec(`UPDATE runs SET heartbeat = ? WHERE id = ?`, ts, a.Run.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("registry: heartbeat of run %s: %w", short(a.Run.Hash), err)
	}
	return nil
}

// owned runs fn in a write transaction after checking that this attempt
// still holds its lease and has not finished.
func (a *Attempt) owned(what string, fn func(tx *sql.Tx) error) error {
	a.mu.Lock()
	fin := a.finished
	a.mu.Unlock()
	if fin {
		return fmt.Errorf("registry: %s run %s: the attempt has already finished", what, short(a.Run.Hash))
	}
	err := a.db.write(func(tx *sql.Tx) error {
		if err := a.holdsLease(tx); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return fmt.Errorf("registry: %s run %s: %w", what, short(a.Run.Hash), err)
	}
	return nil
}

// holdsLease fails with ErrLeaseLost unless the hash's lease is still this
// attempt's.
func (a *Attempt) holdsLease(tx *sql.Tx) error {
	var tok string
	err := tx.QueryRow(`SELECT token FROM leases WHERE hash = ?`, a.Run.Hash).Scan(&tok)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && tok != a.token) {
		return ErrLeaseLost
	}
	return err
}

// LogMetrics records metric values of the attempt.
func (a *Attempt) LogMetrics(ms []Metric) error {
	return a.owned("log metrics of", func(tx *sql.Tx) error { return logMetrics(tx, a.Run.ID, ms) })
}

// PutTaskResults records the attempt's task metrics.
func (a *Attempt) PutTaskResults(rs []TaskResult) error {
	return a.owned("put task results of", func(tx *sql.Tx) error { return putTaskResults(tx, a.Run.ID, rs) })
}

// SetSummary stores the attempt's summary JSON.
func (a *Attempt) SetSummary(summaryJSON string) error {
	if err := checkSummary(summaryJSON); err != nil {
		return fmt.Errorf("registry: set summary of run %s: %w", short(a.Run.Hash), err)
	}
	return a.owned("set summary of", func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE runs SET summary_json = ? WHERE id = ?`, summaryJSON, a.Run.ID)
		return err
	})
}

// PutArtifact records a file the attempt wrote, with its sha256 and size;
// path may be absolute or relative to the working directory and must lie
// under the project root, relative to which it is stored.
func (a *Attempt) PutArtifact(kind, path, sha string, size int64) error {
	rel, err := RelToRoot(a.root, path)
	if err != nil {
		return fmt.Errorf("registry: artifact of run %s: %w", short(a.Run.Hash), err)
	}
	art := Artifact{RunID: a.Run.ID, Kind: kind, Path: rel, SHA256: sha, Bytes: size}
	if err := checkArtifact(art); err != nil {
		return err
	}
	return a.owned("put artifact of", func(tx *sql.Tx) error { return putArtifact(tx, art) })
}

// Artifacts lists the attempt's recorded files.
func (a *Attempt) Artifacts() ([]Artifact, error) { return a.db.Artifacts(a.Run.ID) }

// RunID is the attempt's run row id.
func (a *Attempt) RunID() int64 { return a.Run.ID }

// Root is the project root the attempt's artifact paths are relative to.
func (a *Attempt) Root() string { return a.root }

// Finish ends the attempt as done, failed or pruned with an error text
// (empty for done) and releases the lease. Only the first call has an
// effect; later calls return nil.
func (a *Attempt) Finish(status, errText string) error {
	if !slices.Contains(finalStatuses, status) {
		return fmt.Errorf("registry: finish run %s: status %q is not final (valid: %s)", short(a.Run.Hash), status, strings.Join(finalStatuses, ", "))
	}
	a.mu.Lock()
	if a.finished {
		a.mu.Unlock()
		return nil
	}
	a.finished = true
	a.mu.Unlock()
	a.stopBeat()
	ts := formatTime(now())
	err := a.db.write(func(tx *sql.Tx) error {
		if err := a.holdsLease(tx); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE runs SET status = ?, error = ?, finished = ?, heartbeat = ? WHERE id = ?`,
			status, errText, ts, ts, a.Run.ID); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM leases WHERE hash = ? AND token = ?`, a.Run.Hash, a.token)
		return err
	})
	if err != nil {
		return fmt.Errorf("registry: finish run %s as %s: %w", short(a.Run.Hash), status, err)
	}
	a.Run.Status, a.Run.Error = status, errText
	return nil
}

// Fail finishes the attempt with status (failed or pruned) and err's text,
// and returns err joined with any error of recording it.
func (a *Attempt) Fail(status string, err error) error {
	if ferr := a.Finish(status, err.Error()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// Abandon stops the heartbeat and gives the lease back without finishing
// the run, which stays "running" as if its process had died (tests and
// deliberate stops that leave a resumable run).
func (a *Attempt) Abandon() error {
	a.mu.Lock()
	if a.finished {
		a.mu.Unlock()
		return nil
	}
	a.finished = true
	a.mu.Unlock()
	a.stopBeat()
	return a.db.write(func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM leases WHERE hash = ? AND token = ?`, a.Run.Hash, a.token)
		return err
	})
}

func (a *Attempt) stopBeat() {
	if a.stop != nil {
		close(a.stop)
		<-a.stopped
	}
}

// Lease describes who holds a hash.
type Lease struct {
	Hash      string
	RunID     int64
	Host      string
	PID       int
	Acquired  time.Time
	Heartbeat time.Time
}

// Leases lists the held leases.
func (db *DB) Leases() ([]Lease, error) {
	var out []Lease
	err := db.snapshot(func(q querier) error {
		out = out[:0]
		rows, err := q.QueryContext(context.Background(), `SELECT hash, run_id, host, pid, acquired, heartbeat FROM leases ORDER BY hash`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l Lease
			var run sql.NullInt64
			var acq, hb sql.NullString
			if err := rows.Scan(&l.Hash, &run, &l.Host, &l.PID, &acq, &hb); err != nil {
				return err
			}
			l.RunID = run.Int64
			if l.Acquired, err = parseTime(acq); err != nil {
				return err
			}
			if l.Heartbeat, err = parseTime(hb); err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list leases: %w", err)
	}
	return out, nil
}

// RelToRoot returns p relative to root (both cleaned to absolute paths),
// or an error when p lies outside root.
func RelToRoot(root, p string) (string, error) {
	if root == "" {
		root = "."
	}
	ar, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	ap, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(ar, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("artifact %s lies outside the project root %s", p, ar)
	}
	return rel, nil
}

// ArtifactPath returns where a recorded artifact lives: its stored path
// joined to the project root (an absolute path from an old record stays
// as it is).
func ArtifactPath(root string, a Artifact) string {
	if filepath.IsAbs(a.Path) {
		return a.Path
	}
	if root == "" {
		root = "."
	}
	return filepath.Join(root, a.Path)
}

func trainingKind(k string) bool {
	return k == KindTrain || k == KindAblationArm || k == KindHPOTrial
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
