package registry

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
)

// runDirPattern finds the runs/<64-hex hash>/ part of an artifact path.
var runDirPattern = regexp.MustCompile(`(^|/)(runs/[0-9a-f]{64}/.*)$`)

// RootRelative turns an artifact path as older harness versions stored it
// (relative to the working directory, or absolute) into the form stored
// now: relative to the project root, starting at runs/<hash>/. A path with
// no run directory in it is returned unchanged.
func RootRelative(p string) string {
	slash := filepath.ToSlash(p)
	if m := runDirPattern.FindStringSubmatch(slash); m != nil {
		return filepath.FromSlash(m[2])
	}
	return p
}

// migrate2 rewrites artifact paths relative to the project root and gives
// every recorded ablation its definition hash.
func migrate2(tx *sql.Tx) error {
	type art struct {
		id   int64
		path string
	}
	var arts []art
	rows, err := tx.Query(`SELECT id, path FROM artifacts`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a art
		if err := rows.Scan(&a.id, &a.path); err != nil {
			rows.Close()
			return err
		}
		arts = append(arts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range arts {
		if p := RootRelative(a.path); p != a.path {
			// A run that recorded the same file under two spellings keeps one row.
			if _, err := tx.Exec(`UPDATE OR REPLACE artifacts SET path = ? WHERE id = ?`, p, a.id); err != nil {
				return fmt.Errorf("artifact %d: %w", a.id, err)
			}
		}
	}

	type abl struct {
		id         int64
		name, spec string
	}
	var abls []abl
	rows, err = tx.Query(`SELECT id, name, matrix_json FROM ablations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a abl
		if err := rows.Scan(&a.id, &a.name, &a.spec); err != nil {
			rows.Close()
			return err
		}
		abls = append(abls, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range abls {
		def, err := defFromStored(tx, a.id, a.name, a.spec)
		if err != nil {
			return fmt.Errorf("ablation %d (%s): %w", a.id, a.name, err)
		}
		if _, err := tx.Exec(`UPDATE ablations SET def_hash = ? WHERE id = ?`, def.Hash(), a.id); err != nil {
			return err
		}
	}
	return nil
}

// defFromStored rebuilds an ablation's definition from its stored matrix
// JSON (as the experiment package wrote it) and its member rows.
func defFromStored(q querier, id int64, name, spec string) (AblationDef, error) {
	var stored struct {
		Matrix struct {
			Baseline string
			Metrics  []string
			Tasks    []string
			Limit    int
		} `json:"matrix"`
	}
	if err := json.Unmarshal([]byte(spec), &stored); err != nil {
		return AblationDef{}, fmt.Errorf("stored matrix unreadable: %w", err)
	}
	def := AblationDef{Name: name, Baseline: stored.Matrix.Baseline, Metrics: stored.Matrix.Metrics,
		Tasks: stored.Matrix.Tasks, Limit: stored.Matrix.Limit}
	err := eachRow(q, `SELECT run_hash, arm, seed FROM ablation_members WHERE ablation_id = ?`, id, func(s scanner) error {
		var m AblationMember
		if err := s.Scan(&m.RunHash, &m.Arm, &m.Seed); err != nil {
			return err
		}
		def.Members = append(def.Members, m)
		return nil
	})
	return def, err
}

// isRunDirName reports whether s is a 64-hex run hash (lower case).
func isRunDirName(s string) bool { return isSHA256(s) }
