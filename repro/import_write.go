package repro

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/registry"
)

// ImportResult says what Import added to the registry.
type ImportResult struct {
	Hash string
	// ConfigsAdded counts new configs (training and eval).
	ConfigsAdded int
	// RunsAdded counts new runs; RunsPresent those already recorded (same
	// hash, kind and creation time), which are left as they are.
	RunsAdded, RunsPresent int
	// Rows added with the new runs.
	Metrics, TaskResults, Artifacts int
	// Checkpoint is the local path of the bundled checkpoint ("" if none).
	Checkpoint string
}

// Import validates the bundle at bundlePath and records its configs and runs
// in db. Importing the same bundle twice adds nothing; a config already
// stored under the same hash with different JSON is refused, and so is a
// corrupt bundle (wrapping ErrCorruptBundle), both leaving the registry
// untouched. A run whose attempt number is taken by another run of the
// same hash is added as the next attempt. A bundled checkpoint is copied to
// <root>/runs/<hash>/ and recorded as the artifact of its run under that
// path.
func Import(db *registry.DB, root, bundlePath string) (*ImportResult, error) {
	runsDir := filepath.Join(root, "runs")
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	tmp, err := os.MkdirTemp(runsDir, ".import-*")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	defer os.RemoveAll(tmp)
	b, err := readBundle(bundlePath, tmp)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	res := &ImportResult{Hash: b.manifest.Hash}
	if b.ckpt != "" {
		if res.Checkpoint, err = placeCheckpoint(b, root); err != nil {
			return nil, fmt.Errorf("import %s: %w", bundlePath, err)
		}
	}
	if err := writeBundle(db, b, res); err != nil {
		return nil, fmt.Errorf("import %s into %s: %w", bundlePath, db.Path(), err)
	}
	return res, nil
}

// placeCheckpoint moves the extracted checkpoint to runs/<hash>/, or checks
// that the file already there has the same content.
func placeCheckpoint(b *bundle, root string) (string, error) {
	base := strings.TrimPrefix(b.manifest.Checkpoint.File, ckptDir)
	dir := filepath.Join(root, "runs", b.manifest.Hash)
	dst := filepath.Join(dir, base)
	if _, err := os.Stat(dst); err == nil {
		sum, _, err := hashFile(dst)
		if err != nil {
			return "", err
		}
		if sum != b.manifest.Checkpoint.SHA256 {
			return "", fmt.Errorf("%s already exists with sha256 %s, the bundled checkpoint has %s; move it away to import", dst, short(sum), short(b.manifest.Checkpoint.SHA256))
		}
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(b.ckpt, dst); err != nil {
		return "", fmt.Errorf("place checkpoint: %w", err)
	}
	return dst, nil
}

// writeBundle records the bundle in one transaction.
func writeBundle(db *registry.DB, b *bundle, res *ImportResult) error {
	tx, err := db.SQL().Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	configs := map[string]string{b.manifest.Hash: b.config}
	for h, js := range b.runs.EvalConfigs {
		configs[h] = js
	}
	for h, js := range configs {
		added, err := putConfig(tx, h, js)
		if err != nil {
			return err
		}
		if added {
			res.ConfigsAdded++
		}
	}
	for i := range b.runs.Runs {
		r := &b.runs.Runs[i]
		local := ""
		if c := b.manifest.Checkpoint; c != nil && res.Checkpoint != "" && r.Hash == b.manifest.Hash && r.Attempt == c.Attempt {
			local = res.Checkpoint
		}
		if err := putRun(tx, r, local, b.manifest.Checkpoint, res); err != nil {
			return fmt.Errorf("run %s attempt %d: %w", short(r.Hash), r.Attempt, err)
		}
	}
	return tx.Commit()
}

func putConfig(tx *sql.Tx, hash, js string) (bool, error) {
	var old string
	err := tx.QueryRow(`SELECT json FROM configs WHERE hash = ?`, hash).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.Exec(`INSERT INTO configs (hash, json, created) VALUES (?, ?, ?)`,
			hash, js, time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
		return err == nil, err
	case err != nil:
		return false, err
	case old != js:
		return false, fmt.Errorf("config %s is already recorded with different JSON; refusing to import a conflicting config", short(hash))
	}
	return false, nil
}

// putRun adds one run with its rows unless a run with the same hash, kind
// and creation time is already recorded. local, when set, replaces the path
// of the bundled checkpoint's artifact.
func putRun(tx *sql.Tx, r *runRecord, local string, ckpt *BundleCheckpoint, res *ImportResult) error {
	var id int64
	err := tx.QueryRow(`SELECT id FROM runs WHERE hash = ? AND kind = ? AND created = ?`, r.Hash, r.Kind, r.Created).Scan(&id)
	switch {
	case err == nil:
		res.RunsPresent++
		if local != "" { // imported before without its checkpoint
			_, err = tx.Exec(`UPDATE artifacts SET path = ?1 WHERE run_id = ?2 AND kind = 'checkpoint' AND sha256 = ?3
				AND NOT EXISTS (SELECT 1 FROM artifacts WHERE run_id = ?2 AND path = ?1)`, local, id, ckpt.SHA256)
		}
		return err
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	attempt := r.Attempt
	var taken bool
	if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM runs WHERE hash = ? AND attempt = ?)`, r.Hash, attempt).Scan(&taken); err != nil {
		return err
	}
	if taken {
		if err := tx.QueryRow(`SELECT MAX(attempt) + 1 FROM runs WHERE hash = ?`, r.Hash).Scan(&attempt); err != nil {
			return err
		}
	}
	out, err := tx.Exec(`INSERT INTO runs (hash, attempt, kind, status, name, parent_hash, created, started, finished,
		heartbeat, code_version, code_dirty, go_version, os, cpu, threads, kernel_set, error, summary_json)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Hash, attempt, r.Kind, r.Status, r.Name, r.ParentHash, r.Created, r.Started, r.Finished, r.Heartbeat,
		r.CodeVersion, r.CodeDirty, r.GoVersion, r.OS, r.CPU, r.Threads, r.KernelSet, r.Error, r.SummaryJSON)
	if err != nil {
		return err
	}
	if id, err = out.LastInsertId(); err != nil {
		return err
	}
	res.RunsAdded++
	for _, m := range r.Metrics {
		if _, err := tx.Exec(`INSERT INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)`, id, m.Name, m.Step, sqlFloat(m.Value)); err != nil {
			return fmt.Errorf("metric %s at step %d: %w", m.Name, m.Step, err)
		}
		res.Metrics++
	}
	for _, t := range r.TaskResults {
		if _, err := tx.Exec(`INSERT INTO task_results (run_id, task, metric, value, stderr, n) VALUES (?, ?, ?, ?, ?, ?)`,
			id, t.Task, t.Metric, sqlFloat(t.Value), sqlFloat(t.Stderr), t.N); err != nil {
			return fmt.Errorf("task result %s/%s: %w", t.Task, t.Metric, err)
		}
		res.TaskResults++
	}
	for _, a := range r.Artifacts {
		path := a.Path
		if local != "" && a.Kind == "checkpoint" && a.SHA256 == ckpt.SHA256 {
			path = local
		}
		if _, err := tx.Exec(`INSERT INTO artifacts (run_id, kind, path, sha256, bytes, created) VALUES (?, ?, ?, ?, ?, ?)`,
			id, a.Kind, path, a.SHA256, a.Bytes, a.Created); err != nil {
			return fmt.Errorf("artifact %s: %w", path, err)
		}
		res.Artifacts++
	}
	return nil
}

// sqlFloat stores NaN as NULL, as the registry does.
func sqlFloat(f jsonFloat) any {
	if math.IsNaN(float64(f)) {
		return nil
	}
	return float64(f)
}
