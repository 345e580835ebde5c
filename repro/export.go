package repro

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// ExportOptions are the choices of Export.
type ExportOptions struct {
	// WithCheckpoint adds the final checkpoint file of the latest done
	// attempt to the bundle.
	WithCheckpoint bool
}

// Export writes the training run hash as a bundle to w: its config, every
// attempt, every eval run whose parent it is, and with o.WithCheckpoint the
// final checkpoint. root resolves relative artifact paths. The bundle's
// bytes depend only on the registry content.
func Export(db *registry.DB, root, hash string, w io.Writer, o ExportOptions) (*Manifest, error) {
	cfg, err := db.Config(hash)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	runs, err := exportRuns(db, hash)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	if len(runs.Runs) == 0 {
		return nil, fmt.Errorf("export %s: the registry has a config but no run for this hash", short(hash))
	}
	runsJSON, err := json.MarshalIndent(runs, "", " ")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	m := &Manifest{Format: BundleFormat, Version: BundleVersion, Hash: hash, Files: []BundleFile{
		fileEntry(configName, []byte(cfg)), fileEntry(runsName, runsJSON),
	}}
	ckptPath := ""
	if o.WithCheckpoint {
		var f BundleFile
		if ckptPath, f, m.Checkpoint, err = finalCheckpoint(db, root, hash); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
		m.Files = append(m.Files, f)
	}
	manifest, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		b    []byte
	}{{manifestName, manifest}, {configName, []byte(cfg)}, {runsName, runsJSON}} {
		if err := writeEntry(tw, f.name, int64(len(f.b)), bytes.NewReader(f.b)); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
	}
	if ckptPath != "" {
		if err := copyCheckpoint(tw, ckptPath, m.Files[len(m.Files)-1]); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	return m, nil
}

func fileEntry(name string, b []byte) BundleFile {
	return BundleFile{Name: name, SHA256: sha256Hex(b), Bytes: int64(len(b))}
}

// writeEntry writes one regular file with a fixed header (no times, no
// owners), so equal content gives equal bundles.
func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("write %s: %d bytes, expected %d (file changed while exporting?)", name, n, size)
	}
	return nil
}

// copyCheckpoint streams the checkpoint into the bundle, checking that it
// still has the content hashed for the manifest.
func copyCheckpoint(tw *tar.Writer, path string, f BundleFile) error {
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	if err := writeEntry(tw, f.Name, f.Bytes, io.TeeReader(in, h)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("checkpoint %s changed while exporting", path)
	}
	return nil
}

// finalCheckpoint finds the final checkpoint of the latest done attempt and
// checks that the file still has the recorded sha256.
func finalCheckpoint(db *registry.DB, root, hash string) (string, BundleFile, *BundleCheckpoint, error) {
	run, err := db.DoneRun(hash)
	if err != nil {
		return "", BundleFile{}, nil, fmt.Errorf("a checkpoint can only be bundled from a done attempt: %w", err)
	}
	var res train.Result
	if err := json.Unmarshal([]byte(run.SummaryJSON), &res); err != nil || res.CheckpointSHA == "" {
		return "", BundleFile{}, nil, fmt.Errorf("attempt %d records no final checkpoint in its summary", run.Attempt)
	}
	arts, err := db.Artifacts(run.ID)
	if err != nil {
		return "", BundleFile{}, nil, err
	}
	path := ""
	for _, a := range arts {
		if a.Kind == "checkpoint" && a.SHA256 == res.CheckpointSHA {
			path = a.Path
		}
	}
	if path == "" {
		return "", BundleFile{}, nil, fmt.Errorf("attempt %d records no checkpoint artifact with sha256 %s", run.Attempt, short(res.CheckpointSHA))
	}
	if !filepath.IsAbs(path) {
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join(root, path)
		}
	}
	sum, size, err := hashFile(path)
	if err != nil {
		return "", BundleFile{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if sum != res.CheckpointSHA {
		return "", BundleFile{}, nil, fmt.Errorf("checkpoint %s has sha256 %s, the registry records %s: the file changed", path, short(sum), short(res.CheckpointSHA))
	}
	f := BundleFile{Name: ckptDir + filepath.Base(path), SHA256: sum, Bytes: size}
	return path, f, &BundleCheckpoint{File: f.Name, Attempt: run.Attempt, SHA256: sum}, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// exportRuns reads every run of hash and every eval run whose parent is
// hash, in (hash, attempt) order, with their rows.
func exportRuns(db *registry.DB, hash string) (*bundleRuns, error) {
	q := db.SQL()
	out := &bundleRuns{EvalConfigs: map[string]string{}}
	rows, err := q.Query(`SELECT id, hash, attempt, kind, status, name, parent_hash, created, started, finished,
		heartbeat, code_version, code_dirty, go_version, os, cpu, threads, kernel_set, error, summary_json
		FROM runs WHERE hash = ?1 OR (kind = 'eval' AND parent_hash = ?1)
		ORDER BY hash = ?1 DESC, hash, attempt`, hash)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var r runRecord
		var id int64
		var started, finished, heartbeat sql.NullString
		if err := rows.Scan(&id, &r.Hash, &r.Attempt, &r.Kind, &r.Status, &r.Name, &r.ParentHash, &r.Created,
			&started, &finished, &heartbeat, &r.CodeVersion, &r.CodeDirty, &r.GoVersion, &r.OS, &r.CPU,
			&r.Threads, &r.KernelSet, &r.Error, &r.SummaryJSON); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read runs: %w", err)
		}
		r.Started, r.Finished, r.Heartbeat = nullString(started), nullString(finished), nullString(heartbeat)
		out.Runs = append(out.Runs, r)
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	for i := range out.Runs {
		r := &out.Runs[i]
		if r.Hash != hash {
			if _, ok := out.EvalConfigs[r.Hash]; !ok {
				js, err := db.Config(r.Hash)
				if err != nil {
					return nil, fmt.Errorf("eval run %s: %w", short(r.Hash), err)
				}
				out.EvalConfigs[r.Hash] = js
			}
		}
		if err := readRows(q, ids[i], r); err != nil {
			return nil, fmt.Errorf("run %s attempt %d: %w", short(r.Hash), r.Attempt, err)
		}
	}
	return out, nil
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func nullFloat(v sql.NullFloat64) jsonFloat {
	if !v.Valid {
		return jsonFloat(math.NaN())
	}
	return jsonFloat(v.Float64)
}

// readRows fills in a run's metrics, task results and artifacts.
func readRows(q *sql.DB, id int64, r *runRecord) error {
	r.Metrics, r.TaskResults, r.Artifacts = []metricRecord{}, []taskRecord{}, []artifactRecord{}
	rows, err := q.Query(`SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name, step`, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		var m metricRecord
		var v sql.NullFloat64
		if err := rows.Scan(&m.Name, &m.Step, &v); err != nil {
			rows.Close()
			return err
		}
		m.Value = nullFloat(v)
		r.Metrics = append(r.Metrics, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(`SELECT task, metric, value, stderr, n FROM task_results WHERE run_id = ? ORDER BY task, metric`, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		var t taskRecord
		var v, se sql.NullFloat64
		if err := rows.Scan(&t.Task, &t.Metric, &v, &se, &t.N); err != nil {
			rows.Close()
			return err
		}
		t.Value, t.Stderr = nullFloat(v), nullFloat(se)
		r.TaskResults = append(r.TaskResults, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(`SELECT kind, path, sha256, bytes, created FROM artifacts WHERE run_id = ? ORDER BY path`, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a artifactRecord
		if err := rows.Scan(&a.Kind, &a.Path, &a.SHA256, &a.Bytes, &a.Created); err != nil {
			return err
		}
		r.Artifacts = append(r.Artifacts, a)
	}
	return rows.Err()
}
