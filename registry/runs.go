package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Run kinds.
const (
	KindTrain       = "train"
	KindEval        = "eval"
	KindHPOTrial    = "hpo-trial"
	KindAblationArm = "ablation-arm"
	KindBench       = "bench"
)

// Run statuses.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusPruned  = "pruned"
)

var (
	kinds         = []string{KindTrain, KindEval, KindHPOTrial, KindAblationArm, KindBench}
	statuses      = []string{StatusQueued, StatusRunning, StatusDone, StatusFailed, StatusPruned}
	finalStatuses = []string{StatusDone, StatusFailed, StatusPruned}
)

// RunInfo is what a caller says about a run it is starting; BeginRun adds
// the attempt number, times and environment.
type RunInfo struct {
	Hash, Kind, Name, ParentHash string
	Threads                      int
	KernelSet                    string
}

// Run is one attempt at one config hash.
type Run struct {
	ID                                    int64
	Hash                                  string
	Attempt                               int
	Kind, Status, Name, ParentHash        string
	Created, Started, Finished, Heartbeat time.Time
	CodeVersion                           string
	CodeDirty                             bool
	CodeDiff                              string // sha256 of `git diff HEAD` when dirty
	GoVersion, OS, CPU                    string
	Threads                               int
	KernelSet, Error, SummaryJSON         string
}

// RunFilter selects runs; empty fields match everything and Limit ≤ 0 means
// no limit.
type RunFilter struct {
	Status, Kind string
	Limit        int
}

const runColumns = `id, hash, attempt, kind, status, name, parent_hash, created, started,
	finished, heartbeat, code_version, code_dirty, go_version, os, cpu, threads,
	kernel_set, error, summary_json, code_diff`

// BeginRun records a new attempt of info.Hash (attempt = previous highest +
// 1) with status running, started and heartbeat now, and the environment
// detected from git, the Go runtime and /proc/cpuinfo. It is the raw row
// operation (test fixtures); a run that executes goes through Start, which
// also takes the hash's lease and finishes the attempt exactly once.
func (db *DB) BeginRun(info RunInfo) (*Run, error) {
	if err := checkHash(info.Hash); err != nil {
		return nil, fmt.Errorf("registry: begin run: %w", err)
	}
	if !slices.Contains(kinds, info.Kind) {
		return nil, fmt.Errorf("registry: begin run %s: unknown kind %q (valid: %s)", info.Hash, info.Kind, strings.Join(kinds, ", "))
	}
	if info.Threads < 0 {
		return nil, fmt.Errorf("registry: begin run %s: negative thread count %d", info.Hash, info.Threads)
	}
	env := db.environment()
	var run *Run
	err := db.write(func(tx *sql.Tx) error {
		var attempt int
		if err := tx.QueryRow(`SELECT COALESCE(MAX(attempt), 0) + 1 FROM runs WHERE hash = ?`, info.Hash).Scan(&attempt); err != nil {
			return err
		}
		t := now()
		ts := formatTime(t)
		res, err := tx.Exec(`INSERT INTO runs (hash, attempt, kind, status, name, parent_hash,
			created, started, heartbeat, code_version, code_dirty, go_version, os, cpu, threads, kernel_set)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			info.Hash, attempt, info.Kind, StatusRunning, info.Name, info.ParentHash,
			ts, ts, ts, env.CodeVersion, env.CodeDirty, env.GoVersion, env.OS, env.CPU, info.Threads, info.KernelSet)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		t, _ = time.Parse(time.RFC3339Nano, ts) // the stored precision
		run = &Run{
			ID: id, Hash: info.Hash, Attempt: attempt, Kind: info.Kind, Status: StatusRunning,
			Name: info.Name, ParentHash: info.ParentHash, Created: t, Started: t, Heartbeat: t,
			CodeVersion: env.CodeVersion, CodeDirty: env.CodeDirty, GoVersion: env.GoVersion,
			OS: env.OS, CPU: env.CPU, Threads: info.Threads, KernelSet: info.KernelSet,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: begin run %s: %w", info.Hash, err)
	}
	return run, nil
}

// Heartbeat stamps the run as alive now.
func (db *DB) Heartbeat(runID int64) error {
	return db.updateRun("heartbeat", runID, `UPDATE runs SET heartbeat = ? WHERE id = ?`, formatTime(now()), runID)
}

// ReopenRun marks a resumed run as running again: error cleared, finish
// time removed, heartbeat now.
func (db *DB) ReopenRun(runID int64) error {
	return db.updateRun("reopen", runID,
		`UPDATE runs SET status = 'running', error = '', finished = NULL, heartbeat = ? WHERE id = ?`,
		formatTime(now()), runID)
}

// FinishRun ends a run with status done, failed or pruned and an error text
// (empty for success).
func (db *DB) FinishRun(runID int64, status, errText string) error {
	if !slices.Contains(finalStatuses, status) {
		return fmt.Errorf("registry: finish run %d: status %q is not final (valid: %s)", runID, status, strings.Join(finalStatuses, ", "))
	}
	ts := formatTime(now())
	return db.updateRun("finish", runID,
		`UPDATE runs SET status = ?, error = ?, finished = ?, heartbeat = ? WHERE id = ?`,
		status, errText, ts, ts, runID)
}

// SetSummary stores the run's summary JSON (final metrics, paths, …).
func (db *DB) SetSummary(runID int64, summaryJSON string) error {
	if err := checkSummary(summaryJSON); err != nil {
		return fmt.Errorf("registry: set summary of run %d: %w", runID, err)
	}
	return db.updateRun("set summary of", runID, `UPDATE runs SET summary_json = ? WHERE id = ?`, summaryJSON, runID)
}

func checkSummary(js string) error {
	if js != "" && !json.Valid([]byte(js)) {
		return errors.New("the summary is not valid JSON")
	}
	return nil
}

func (db *DB) updateRun(what string, runID int64, query string, args ...any) error {
	err := db.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: %s run %d: %w", what, runID, err)
	}
	return nil
}

// LatestRun returns the highest attempt of hash.
func (db *DB) LatestRun(hash string) (*Run, error) {
	r, err := db.oneRun(`SELECT `+runColumns+` FROM runs WHERE hash = ? ORDER BY attempt DESC LIMIT 1`, hash)
	if err != nil {
		return nil, fmt.Errorf("registry: latest run of %s: %w", hash, err)
	}
	return r, nil
}

// DoneRun returns the latest attempt of hash that finished with status
// done, so callers can skip work already recorded.
func (db *DB) DoneRun(hash string) (*Run, error) {
	r, err := db.oneRun(`SELECT `+runColumns+` FROM runs WHERE hash = ? AND status = 'done' ORDER BY attempt DESC LIMIT 1`, hash)
	if err != nil {
		return nil, fmt.Errorf("registry: done run of %s: %w", hash, err)
	}
	return r, nil
}

// RunByID returns the run with the given id.
func (db *DB) RunByID(id int64) (*Run, error) {
	r, err := db.oneRun(`SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("registry: run %d: %w", id, err)
	}
	return r, nil
}

// Runs lists runs matching f, newest first.
func (db *DB) Runs(f RunFilter) ([]Run, error) {
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		return nil, fmt.Errorf("registry: list runs: unknown status %q (valid: %s)", f.Status, strings.Join(statuses, ", "))
	}
	if f.Kind != "" && !slices.Contains(kinds, f.Kind) {
		return nil, fmt.Errorf("registry: list runs: unknown kind %q (valid: %s)", f.Kind, strings.Join(kinds, ", "))
	}
	q := `SELECT ` + runColumns + ` FROM runs WHERE (?1 = '' OR status = ?1) AND (?2 = '' OR kind = ?2) ORDER BY id DESC`
	args := []any{f.Status, f.Kind}
	if f.Limit > 0 {
		q += ` LIMIT ?3`
		args = append(args, f.Limit)
	}
	var runs []Run
	err := db.retry(func() error {
		runs = runs[:0]
		rows, err := db.sql.Query(q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			runs = append(runs, *r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list runs: %w", err)
	}
	return runs, nil
}

// MarkStale fails every running run whose last heartbeat is older than
// olderThan and returns how many it marked.
func (db *DB) MarkStale(olderThan time.Duration) (int, error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("registry: mark stale: negative age %v", olderThan)
	}
	t := now()
	cutoff := formatTime(t.Add(-olderThan))
	var n int
	err := db.write(func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.Query(`SELECT id, COALESCE(heartbeat, started, created) AS hb FROM runs
			WHERE status = 'running' AND COALESCE(heartbeat, started, created) < ?`, cutoff)
		if err != nil {
			return err
		}
		type stale struct {
			id int64
			hb sql.NullString
		}
		var list []stale
		for rows.Next() {
			var s stale
			if err := rows.Scan(&s.id, &s.hb); err != nil {
				rows.Close()
				return err
			}
			list = append(list, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, s := range list {
			hb, err := parseTime(s.hb)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("stale: no heartbeat since %s (process died?)", hb.Format(time.RFC3339))
			if _, err := tx.Exec(`UPDATE runs SET status = 'failed', error = ?, finished = ? WHERE id = ? AND status = 'running'`,
				msg, formatTime(t), s.id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("registry: mark stale runs: %w", err)
	}
	return n, nil
}

func (db *DB) oneRun(query string, args ...any) (*Run, error) {
	var r *Run
	err := db.retry(func() error {
		var err error
		r, err = scanRun(db.sql.QueryRow(query, args...))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner) (*Run, error) {
	var r Run
	var created, started, finished, heartbeat sql.NullString
	err := s.Scan(&r.ID, &r.Hash, &r.Attempt, &r.Kind, &r.Status, &r.Name, &r.ParentHash,
		&created, &started, &finished, &heartbeat, &r.CodeVersion, &r.CodeDirty, &r.GoVersion,
		&r.OS, &r.CPU, &r.Threads, &r.KernelSet, &r.Error, &r.SummaryJSON, &r.CodeDiff)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&r.Created, created}, {&r.Started, started}, {&r.Finished, finished}, {&r.Heartbeat, heartbeat}} {
		if *p.dst, err = parseTime(p.src); err != nil {
			return nil, fmt.Errorf("run %d: %w", r.ID, err)
		}
	}
	return &r, nil
}
