package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Ablation is one expanded ablation matrix.
type Ablation struct {
	ID         int64
	Name       string
	MatrixJSON string
	Created    time.Time
}

// AblationMember ties one run hash of an ablation to its arm and seed.
type AblationMember struct {
	AblationID int64
	RunHash    string
	Arm        string
	Seed       int64
}

// PutAblation records an ablation matrix and returns its id; the same name
// and matrix recorded again return the existing id.
func (db *DB) PutAblation(name, matrixJSON string) (int64, error) {
	if name == "" {
		return 0, errors.New("registry: put ablation: empty name")
	}
	if !json.Valid([]byte(matrixJSON)) {
		return 0, fmt.Errorf("registry: put ablation %s: the matrix is not valid JSON", name)
	}
	var id int64
	err := db.write(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO ablations (name, matrix_json, created) VALUES (?, ?, ?)
			ON CONFLICT (name, matrix_json) DO NOTHING`, name, matrixJSON, formatTime(now())); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT id FROM ablations WHERE name = ? AND matrix_json = ?`, name, matrixJSON).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("registry: put ablation %s: %w", name, err)
	}
	return id, nil
}

// AddAblationMember records that runHash is arm (with seed) of the
// ablation. Adding the same member again is a no-op; adding the hash again
// with a different arm or seed is an error.
func (db *DB) AddAblationMember(ablationID int64, runHash, arm string, seed int64) error {
	if err := checkHash(runHash); err != nil {
		return fmt.Errorf("registry: add member to ablation %d: %w", ablationID, err)
	}
	err := db.write(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO ablation_members (ablation_id, run_hash, arm, seed) VALUES (?, ?, ?, ?)
			ON CONFLICT (ablation_id, run_hash) DO NOTHING`, ablationID, runHash, arm, seed); err != nil {
			return foreignKey(err, "ablation")
		}
		var oldArm string
		var oldSeed int64
		if err := tx.QueryRow(`SELECT arm, seed FROM ablation_members WHERE ablation_id = ? AND run_hash = ?`,
			ablationID, runHash).Scan(&oldArm, &oldSeed); err != nil {
			return err
		}
		if oldArm != arm || oldSeed != seed {
			return fmt.Errorf("already a member as arm %q seed %d, not arm %q seed %d", oldArm, oldSeed, arm, seed)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: add %s to ablation %d: %w", runHash, ablationID, err)
	}
	return nil
}

// AblationMembers returns the members of an ablation ordered by arm, seed.
func (db *DB) AblationMembers(ablationID int64) ([]AblationMember, error) {
	var ms []AblationMember
	err := db.retry(func() error {
		ms = ms[:0]
		rows, err := db.sql.Query(`SELECT ablation_id, run_hash, arm, seed FROM ablation_members
			WHERE ablation_id = ? ORDER BY arm, seed, run_hash`, ablationID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m AblationMember
			if err := rows.Scan(&m.AblationID, &m.RunHash, &m.Arm, &m.Seed); err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: members of ablation %d: %w", ablationID, err)
	}
	return ms, nil
}

// Ablations returns every recorded ablation, oldest first.
func (db *DB) Ablations() ([]Ablation, error) {
	var as []Ablation
	err := db.retry(func() error {
		as = as[:0]
		rows, err := db.sql.Query(`SELECT id, name, matrix_json, created FROM ablations ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a Ablation
			var created sql.NullString
			if err := rows.Scan(&a.ID, &a.Name, &a.MatrixJSON, &created); err != nil {
				return err
			}
			if a.Created, err = parseTime(created); err != nil {
				return err
			}
			as = append(as, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list ablations: %w", err)
	}
	return as, nil
}
