package registry

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/c-bata/goptuna"
)

// studyStorage implements goptuna.Storage on the registry's study tables.
// Trial numbers are assigned inside the BEGIN IMMEDIATE transaction that
// creates the trial, so several processes can share one study.
type studyStorage struct{ db *DB }

var _ goptuna.Storage = studyStorage{}

// StudyStorage returns a goptuna storage backed by this registry; pass it
// to goptuna.CreateStudy with goptuna.StudyOptionStorage.
func (db *DB) StudyStorage() goptuna.Storage { return studyStorage{db: db} }

// LinkTrialRun records which run (config hash) evaluated a trial.
func (db *DB) LinkTrialRun(trialID int, runHash string) error {
	if err := checkHash(runHash); err != nil {
		return fmt.Errorf("registry: link trial %d: %w", trialID, err)
	}
	return db.updateTrial("link", trialID, `UPDATE trials SET run_hash = ? WHERE trial_id = ?`, runHash, trialID)
}

// TrialRunHash returns the run hash linked to a trial ("" when none is).
func (db *DB) TrialRunHash(trialID int) (string, error) {
	var h string
	err := db.retry(func() error {
		return db.sql.QueryRow(`SELECT run_hash FROM trials WHERE trial_id = ?`, trialID).Scan(&h)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("registry: trial %d: %w", trialID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("registry: trial %d: %w", trialID, err)
	}
	return h, nil
}

func (db *DB) updateTrial(what string, trialID int, query string, args ...any) error {
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
		return fmt.Errorf("registry: %s trial %d: %w", what, trialID, err)
	}
	return nil
}

// CreateNewStudy creates a study; an empty name gets a generated one.
func (s studyStorage) CreateNewStudy(name string) (int, error) {
	if name == "" {
		name = goptuna.DefaultStudyNamePrefix + s.db.uuid()
	}
	var id int64
	err := s.db.write(func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM studies WHERE study_name = ?`, name).Scan(&exists); err != nil {
			return err
		}
		if exists > 0 {
			return errors.New("a study with this name already exists; load it instead (goptuna.StudyOptionLoadIfExists)")
		}
		res, err := tx.Exec(`INSERT INTO studies (study_name, direction, created) VALUES (?, 'minimize', ?)`, name, formatTime(now()))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("registry: create study %q: %w", name, err)
	}
	return int(id), nil
}

// DeleteStudy deletes a study with all its trials.
func (s studyStorage) DeleteStudy(studyID int) error {
	return s.studyUpdate(studyID, `DELETE FROM studies WHERE study_id = ?`, studyID)
}

// SetStudyDirection sets whether the study minimises or maximises.
func (s studyStorage) SetStudyDirection(studyID int, direction goptuna.StudyDirection) error {
	if direction != goptuna.StudyDirectionMinimize && direction != goptuna.StudyDirectionMaximize {
		return fmt.Errorf("registry: study %d: unknown direction %q (valid: minimize, maximize)", studyID, direction)
	}
	return s.studyUpdate(studyID, `UPDATE studies SET direction = ? WHERE study_id = ?`, string(direction), studyID)
}

func (s studyStorage) studyUpdate(studyID int, query string, args ...any) error {
	err := s.db.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		return nil
	})
	if errors.Is(err, goptuna.ErrInvalidStudyID) {
		return goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return fmt.Errorf("registry: study %d: %w", studyID, err)
	}
	return nil
}

// SetStudyUserAttr sets a user attribute of the study.
func (s studyStorage) SetStudyUserAttr(studyID int, key, value string) error {
	return s.setStudyAttr("study_user_attributes", studyID, key, value)
}

// SetStudySystemAttr sets a system attribute of the study.
func (s studyStorage) SetStudySystemAttr(studyID int, key, value string) error {
	return s.setStudyAttr("study_system_attributes", studyID, key, value)
}

func (s studyStorage) setStudyAttr(table string, studyID int, key, value string) error {
	err := s.db.write(func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO `+table+` (study_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (study_id, key) DO UPDATE SET value = excluded.value`, studyID, key, value)
		return err
	})
	if err != nil {
		if errors.Is(foreignKey(err, "study"), ErrNotFound) {
			return goptuna.ErrInvalidStudyID
		}
		return fmt.Errorf("registry: set attribute %s of study %d: %w", key, studyID, err)
	}
	return nil
}

// GetStudyIDFromName returns the id of the named study.
func (s studyStorage) GetStudyIDFromName(name string) (int, error) {
	var id int
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT study_id FROM studies WHERE study_name = ?`, name).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return -1, fmt.Errorf("registry: study %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return -1, fmt.Errorf("registry: study %q: %w", name, err)
	}
	return id, nil
}

// GetStudyIDFromTrialID returns the study a trial belongs to.
func (s studyStorage) GetStudyIDFromTrialID(trialID int) (int, error) {
	var id int
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT study_id FROM trials WHERE trial_id = ?`, trialID).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("registry: study of trial %d: %w", trialID, err)
	}
	return id, nil
}

// GetStudyNameFromID returns the study's name.
func (s studyStorage) GetStudyNameFromID(studyID int) (string, error) {
	var name string
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT study_name FROM studies WHERE study_id = ?`, studyID).Scan(&name)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return "", fmt.Errorf("registry: name of study %d: %w", studyID, err)
	}
	return name, nil
}

// GetStudyDirection returns whether the study minimises or maximises.
func (s studyStorage) GetStudyDirection(studyID int) (goptuna.StudyDirection, error) {
	var d string
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT direction FROM studies WHERE study_id = ?`, studyID).Scan(&d)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return goptuna.StudyDirectionMinimize, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return goptuna.StudyDirectionMinimize, fmt.Errorf("registry: direction of study %d: %w", studyID, err)
	}
	return goptuna.StudyDirection(d), nil
}

// GetStudyUserAttrs returns the study's user attributes.
func (s studyStorage) GetStudyUserAttrs(studyID int) (map[string]string, error) {
	return s.db.attrs(`SELECT key, value FROM study_user_attributes WHERE study_id = ?`, studyID)
}

// GetStudySystemAttrs returns the study's system attributes.
func (s studyStorage) GetStudySystemAttrs(studyID int) (map[string]string, error) {
	return s.db.attrs(`SELECT key, value FROM study_system_attributes WHERE study_id = ?`, studyID)
}

// GetAllStudySummaries summarises every study: direction, best trial,
// attributes and the start of its earliest trial.
func (s studyStorage) GetAllStudySummaries() ([]goptuna.StudySummary, error) {
	type row struct {
		id        int
		name, dir string
		start     sql.NullString
	}
	var list []row
	err := s.db.retry(func() error {
		list = list[:0]
		rows, err := s.db.sql.Query(`SELECT s.study_id, s.study_name, s.direction,
			(SELECT MIN(datetime_start) FROM trials t WHERE t.study_id = s.study_id)
			FROM studies s ORDER BY s.study_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.name, &r.dir, &r.start); err != nil {
				return err
			}
			list = append(list, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: study summaries: %w", err)
	}
	out := make([]goptuna.StudySummary, 0, len(list))
	for _, r := range list {
		sum := goptuna.StudySummary{ID: r.id, Name: r.name, Direction: goptuna.StudyDirection(r.dir)}
		if sum.DatetimeStart, err = parseTime(r.start); err != nil {
			return nil, fmt.Errorf("registry: summary of study %q: %w", r.name, err)
		}
		best, err := s.GetBestTrial(r.id)
		switch {
		case err == nil:
			sum.BestTrial = best
		case !errors.Is(err, goptuna.ErrNoCompletedTrials):
			return nil, err
		}
		if sum.UserAttrs, err = s.GetStudyUserAttrs(r.id); err != nil {
			return nil, err
		}
		if sum.SystemAttrs, err = s.GetStudySystemAttrs(r.id); err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

func (db *DB) attrs(query string, id int) (map[string]string, error) {
	m := map[string]string{}
	err := db.retry(func() error {
		clear(m)
		rows, err := db.sql.Query(query, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			m[k] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: attributes of %d: %w", id, err)
	}
	return m, nil
}

// uuid returns a random version-4 UUID string for unnamed studies.
func (db *DB) uuid() string {
	db.jitterMu.Lock()
	hi, lo := db.jitter.Uint64(), db.jitter.Uint64()
	db.jitterMu.Unlock()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
