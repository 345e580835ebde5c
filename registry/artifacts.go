package registry

import (
	"database/sql"
	"fmt"
	"strings"
)

// Artifact is a file a run produced (checkpoint, export, report), identified
// by its SHA-256 content hash.
type Artifact struct {
	RunID              int64
	Kind, Path, SHA256 string
	Bytes              int64
}

// PutArtifact records a file of a run. Recording the same run and path
// again replaces the entry (a resumed run rewrites its checkpoint). The
// path should be relative to the project root (see Attempt.PutArtifact).
func (db *DB) PutArtifact(a Artifact) error {
	if err := checkArtifact(a); err != nil {
		return err
	}
	err := db.write(func(tx *sql.Tx) error { return putArtifact(tx, a) })
	if err != nil {
		return fmt.Errorf("registry: put artifact %s of run %d: %w", a.Path, a.RunID, foreignKey(err, "run"))
	}
	return nil
}

func checkArtifact(a Artifact) error {
	if a.Kind == "" || a.Path == "" {
		return fmt.Errorf("registry: put artifact of run %d: kind and path are required (got kind %q, path %q)", a.RunID, a.Kind, a.Path)
	}
	if !isSHA256(a.SHA256) {
		return fmt.Errorf("registry: put artifact %s: sha256 %q is not 64 lowercase hex digits", a.Path, a.SHA256)
	}
	if a.Bytes < 0 {
		return fmt.Errorf("registry: put artifact %s: negative size %d", a.Path, a.Bytes)
	}
	return nil
}

func putArtifact(tx *sql.Tx, a Artifact) error {
	_, err := tx.Exec(`INSERT INTO artifacts (run_id, kind, path, sha256, bytes, created) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, path) DO UPDATE SET kind = excluded.kind, sha256 = excluded.sha256,
		bytes = excluded.bytes, created = excluded.created`,
		a.RunID, a.Kind, a.Path, a.SHA256, a.Bytes, formatTime(now()))
	return err
}

// Artifacts returns the files of a run ordered by path.
func (db *DB) Artifacts(runID int64) ([]Artifact, error) {
	as, err := db.artifacts(`WHERE run_id = ? ORDER BY path`, runID)
	if err != nil {
		return nil, fmt.Errorf("registry: artifacts of run %d: %w", runID, err)
	}
	return as, nil
}

// AllArtifacts returns every recorded file ordered by run and path, for
// garbage collection and verification.
func (db *DB) AllArtifacts() ([]Artifact, error) {
	as, err := db.artifacts(`ORDER BY run_id, path`)
	if err != nil {
		return nil, fmt.Errorf("registry: all artifacts: %w", err)
	}
	return as, nil
}

func (db *DB) artifacts(tail string, args ...any) ([]Artifact, error) {
	var as []Artifact
	err := db.retry(func() error {
		as = as[:0]
		rows, err := db.sql.Query(`SELECT run_id, kind, path, sha256, bytes FROM artifacts `+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a Artifact
			if err := rows.Scan(&a.RunID, &a.Kind, &a.Path, &a.SHA256, &a.Bytes); err != nil {
				return err
			}
			as = append(as, a)
		}
		return rows.Err()
	})
	return as, err
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
