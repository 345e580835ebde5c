package registry

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Ablation is one expanded ablation matrix.
type Ablation struct {
	ID         int64
	Name       string
	MatrixJSON string
	DefHash    string // AblationDef.Hash of the recorded definition
	Created    time.Time
}

// AblationMember ties one run hash of an ablation to its arm and seed.
type AblationMember struct {
	AblationID int64
	RunHash    string
	Arm        string
	Seed       int64
}

// AblationDef is the fully resolved identity of an ablation matrix: every
// member (arm, seed and run hash, the hash covering base preset, overrides
// and data), the tasks with their document limit, the metrics and the
// baseline arm. Two records with the same definition are the same matrix;
// the same name with another definition is another matrix.
type AblationDef struct {
	Name     string
	Baseline string // as the matrix file names it ("" = its first arm)
	Metrics  []string
	Tasks    []string
	Limit    int
	Members  []AblationMember
}

// Hash is the sha256 of the definition's canonical JSON (members, tasks and
// metrics sorted, so order of expansion does not matter).
func (d AblationDef) Hash() string {
	type member struct {
		Arm  string `json:"arm"`
		Seed int64  `json:"seed"`
		Hash string `json:"hash"`
	}
	ms := make([]member, len(d.Members))
	for i, m := range d.Members {
		ms[i] = member{m.Arm, m.Seed, m.RunHash}
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Arm != ms[j].Arm {
			return ms[i].Arm < ms[j].Arm
		}
		if ms[i].Seed != ms[j].Seed {
			return ms[i].Seed < ms[j].Seed
		}
		return ms[i].Hash < ms[j].Hash
	})
	sorted := func(xs []string) []string {
		out := append([]string{}, xs...)
		sort.Strings(out)
		return out
	}
	js, _ := json.Marshal(struct {
		Name     string   `json:"name"`
		Baseline string   `json:"baseline"`
		Metrics  []string `json:"metrics"`
		Tasks    []string `json:"tasks"`
		Limit    int      `json:"limit"`
		Members  []member `json:"members"`
	}{d.Name, d.Baseline, sorted(d.Metrics), sorted(d.Tasks), d.Limit, ms})
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:])
}

// PutAblation records an ablation with its members in one transaction and
// returns its id. specJSON is the matrix as written by its caller (for
// display); the identity is def.Hash(). Recording the same definition
// again returns the existing id; a member recorded twice with different
// arms or seeds is an error.
func (db *DB) PutAblation(def AblationDef, specJSON string) (int64, error) {
	if def.Name == "" {
		return 0, errors.New("registry: put ablation: empty name")
	}
	if !json.Valid([]byte(specJSON)) {
		return 0, fmt.Errorf("registry: put ablation %s: the matrix is not valid JSON", def.Name)
	}
	seen := map[string]AblationMember{}
	for _, m := range def.Members {
		if err := checkHash(m.RunHash); err != nil {
			return 0, fmt.Errorf("registry: put ablation %s: member %s seed %d: %w", def.Name, m.Arm, m.Seed, err)
		}
		if o, dup := seen[m.RunHash]; dup && (o.Arm != m.Arm || o.Seed != m.Seed) {
			return 0, fmt.Errorf("registry: put ablation %s: run %s is both arm %q seed %d and arm %q seed %d",
				def.Name, m.RunHash[:12], o.Arm, o.Seed, m.Arm, m.Seed)
		}
		seen[m.RunHash] = m
	}
	dh := def.Hash()
	var id int64
	err := db.write(func(tx *sql.Tx) error {
		err := tx.QueryRow(`SELECT id FROM ablations WHERE def_hash = ? ORDER BY id LIMIT 1`, dh).Scan(&id)
		if err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.Exec(`INSERT INTO ablations (name, matrix_json, created, def_hash) VALUES (?, ?, ?, ?)`,
			def.Name, specJSON, formatTime(now()), dh)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, m := range seen {
			if _, err := tx.Exec(`INSERT INTO ablation_members (ablation_id, run_hash, arm, seed) VALUES (?, ?, ?, ?)`,
				id, m.RunHash, m.Arm, m.Seed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("registry: put ablation %s: %w", def.Name, err)
	}
	return id, nil
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
		rows, err := db.sql.Query(`SELECT id, name, matrix_json, created, def_hash FROM ablations ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a Ablation
			var created sql.NullString
			if err := rows.Scan(&a.ID, &a.Name, &a.MatrixJSON, &created, &a.DefHash); err != nil {
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
