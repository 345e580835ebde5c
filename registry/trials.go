package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/c-bata/goptuna"
)

var trialStateNames = map[goptuna.TrialState]string{
	goptuna.TrialStateRunning:  "running",
	goptuna.TrialStateComplete: "complete",
	goptuna.TrialStatePruned:   "pruned",
	goptuna.TrialStateFail:     "fail",
	goptuna.TrialStateWaiting:  "waiting",
}

func stateName(s goptuna.TrialState) (string, error) {
	n, ok := trialStateNames[s]
	if !ok {
		return "", fmt.Errorf("unknown trial state %d", s)
	}
	return n, nil
}

func parseState(name string) (goptuna.TrialState, error) {
	for s, n := range trialStateNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown stored trial state %q", name)
}

// CreateNewTrial adds a running trial; its number counts the study's
// earlier trials and is assigned under the write lock.
func (s studyStorage) CreateNewTrial(studyID int) (int, error) {
	var id int
	err := s.db.write(func(tx *sql.Tx) error {
		var err error
		id, err = insertTrial(tx, studyID, "running", 0, formatTime(now()), nil)
		return err
	})
	if errors.Is(err, goptuna.ErrInvalidStudyID) {
		return -1, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return -1, fmt.Errorf("registry: create trial in study %d: %w", studyID, err)
	}
	return id, nil
}

// CloneTrial adds a copy of base (state, value, params, intermediate values,
// attributes, times) to the study under a new number.
func (s studyStorage) CloneTrial(studyID int, base goptuna.FrozenTrial) (int, error) {
	state, err := stateName(base.State)
	if err != nil {
		return -1, fmt.Errorf("registry: clone trial into study %d: %w", studyID, err)
	}
	var id int
	err = s.db.write(func(tx *sql.Tx) error {
		var err error
		id, err = insertTrial(tx, studyID, state, base.Value, nullTime(base.DatetimeStart), nullTime(base.DatetimeComplete))
		if err != nil {
			return err
		}
		for name, v := range base.InternalParams {
			d, ok := base.Distributions[name]
			if !ok {
				return fmt.Errorf("parameter %q has no distribution", name)
			}
			if err := putParam(tx, id, name, v, d); err != nil {
				return err
			}
		}
		for step, v := range base.IntermediateValues {
			if _, err := tx.Exec(`INSERT INTO trial_values (trial_id, step, value) VALUES (?, ?, ?)`, id, step, nullFloat(v)); err != nil {
				return err
			}
		}
		for table, m := range map[string]map[string]string{
			"trial_user_attributes": base.UserAttrs, "trial_system_attributes": base.SystemAttrs,
		} {
			for k, v := range m {
				if _, err := tx.Exec(`INSERT INTO `+table+` (trial_id, key, value) VALUES (?, ?, ?)`, id, k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if errors.Is(err, goptuna.ErrInvalidStudyID) {
		return -1, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return -1, fmt.Errorf("registry: clone trial into study %d: %w", studyID, err)
	}
	return id, nil
}

func insertTrial(tx *sql.Tx, studyID int, state string, value float64, start, complete any) (int, error) {
	var number int
	var exists bool
	err := tx.QueryRow(`SELECT (SELECT COUNT(*) FROM trials WHERE study_id = ?1),
		EXISTS (SELECT 1 FROM studies WHERE study_id = ?1)`, studyID).Scan(&number, &exists)
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, goptuna.ErrInvalidStudyID
	}
	res, err := tx.Exec(`INSERT INTO trials (number, study_id, state, value, datetime_start, datetime_complete)
		VALUES (?, ?, ?, ?, ?, ?)`, number, studyID, state, nullFloat(value), start, complete)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	return int(id), err
}

func putParam(tx *sql.Tx, trialID int, name string, internal float64, dist any) error {
	if _, err := goptuna.ToExternalRepresentation(dist, internal); err != nil {
		return fmt.Errorf("parameter %q: %w", name, err)
	}
	js, err := goptuna.DistributionToJSON(dist)
	if err != nil {
		return fmt.Errorf("parameter %q: %w", name, err)
	}
	_, err = tx.Exec(`INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?, ?, ?, ?)
		ON CONFLICT (trial_id, param_name) DO UPDATE SET param_value = excluded.param_value,
		distribution_json = excluded.distribution_json`, trialID, name, nullFloat(internal), string(js))
	return err
}

// updatable returns ErrInvalidTrialID for an unknown trial and
// ErrTrialCannotBeUpdated for a finished one.
func updatable(tx *sql.Tx, trialID int) (goptuna.TrialState, error) {
	var name string
	err := tx.QueryRow(`SELECT state FROM trials WHERE trial_id = ?`, trialID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return 0, err
	}
	st, err := parseState(name)
	if err != nil {
		return 0, err
	}
	if st.IsFinished() {
		return st, goptuna.ErrTrialCannotBeUpdated
	}
	return st, nil
}

// trialWrite runs fn on an updatable trial and passes goptuna's sentinel
// errors through unwrapped, as goptuna compares them with ==.
func (s studyStorage) trialWrite(what string, trialID int, fn func(tx *sql.Tx, st goptuna.TrialState) error) error {
	err := s.db.write(func(tx *sql.Tx) error {
		st, err := updatable(tx, trialID)
		if err != nil {
			return err
		}
		return fn(tx, st)
	})
	for _, sentinel := range []error{goptuna.ErrInvalidTrialID, goptuna.ErrTrialCannotBeUpdated} {
		if errors.Is(err, sentinel) {
			return sentinel
		}
	}
	if err != nil {
		return fmt.Errorf("registry: %s of trial %d: %w", what, trialID, err)
	}
	return nil
}

// SetTrialValue sets the objective value of a running trial.
func (s studyStorage) SetTrialValue(trialID int, value float64) error {
	return s.trialWrite("set value", trialID, func(tx *sql.Tx, _ goptuna.TrialState) error {
		_, err := tx.Exec(`UPDATE trials SET value = ? WHERE trial_id = ?`, nullFloat(value), trialID)
		return err
	})
}

// SetTrialIntermediateValue records the value at step; a step already
// recorded is an error.
func (s studyStorage) SetTrialIntermediateValue(trialID, step int, value float64) error {
	return s.trialWrite(fmt.Sprintf("set intermediate value at step %d", step), trialID, func(tx *sql.Tx, _ goptuna.TrialState) error {
		var exists bool
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM trial_values WHERE trial_id = ? AND step = ?)`, trialID, step).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return errors.New("step value is already exist")
		}
		_, err := tx.Exec(`INSERT INTO trial_values (trial_id, step, value) VALUES (?, ?, ?)`, trialID, step, nullFloat(value))
		return err
	})
}

// SetTrialParam stores a sampled parameter: internal value and distribution.
func (s studyStorage) SetTrialParam(trialID int, name string, internal float64, dist any) error {
	return s.trialWrite("set parameter "+name, trialID, func(tx *sql.Tx, _ goptuna.TrialState) error {
		return putParam(tx, trialID, name, internal, dist)
	})
}

// SetTrialState moves a trial to state. A finished trial, or a change to
// the state it already has, yields ErrTrialCannotBeUpdated, so only one of
// several processes popping the same waiting trial wins it.
func (s studyStorage) SetTrialState(trialID int, state goptuna.TrialState) error {
	name, err := stateName(state)
	if err != nil {
		return fmt.Errorf("registry: set state of trial %d: %w", trialID, err)
	}
	return s.trialWrite("set state", trialID, func(tx *sql.Tx, cur goptuna.TrialState) error {
		if cur == state {
			return goptuna.ErrTrialCannotBeUpdated
		}
		var complete any
		if state.IsFinished() {
			complete = formatTime(now())
		}
		_, err := tx.Exec(`UPDATE trials SET state = ?, datetime_complete = ? WHERE trial_id = ?`, name, complete, trialID)
		return err
	})
}

// SetTrialUserAttr sets a user attribute of a running trial.
func (s studyStorage) SetTrialUserAttr(trialID int, key, value string) error {
	return s.setTrialAttr("trial_user_attributes", trialID, key, value)
}

// SetTrialSystemAttr sets a system attribute of a running trial.
func (s studyStorage) SetTrialSystemAttr(trialID int, key, value string) error {
	return s.setTrialAttr("trial_system_attributes", trialID, key, value)
}

func (s studyStorage) setTrialAttr(table string, trialID int, key, value string) error {
	return s.trialWrite("set attribute "+key, trialID, func(tx *sql.Tx, _ goptuna.TrialState) error {
		_, err := tx.Exec(`INSERT INTO `+table+` (trial_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value`, trialID, key, value)
		return err
	})
}

// GetTrialNumberFromID returns the trial's number within its study.
func (s studyStorage) GetTrialNumberFromID(trialID int) (int, error) {
	var n int
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT number FROM trials WHERE trial_id = ?`, trialID).Scan(&n)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("registry: number of trial %d: %w", trialID, err)
	}
	return n, nil
}

// GetTrialParam returns the internal value of a parameter.
func (s studyStorage) GetTrialParam(trialID int, name string) (float64, error) {
	var v sql.NullFloat64
	err := s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT param_value FROM trial_params WHERE trial_id = ? AND param_name = ?`, trialID, name).Scan(&v)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return -1, fmt.Errorf("registry: parameter %q of trial %d: %w", name, trialID, ErrNotFound)
	}
	if err != nil {
		return -1, fmt.Errorf("registry: parameter %q of trial %d: %w", name, trialID, err)
	}
	return fromNull(v), nil
}

// GetTrialParams returns the external parameter values of a trial.
func (s studyStorage) GetTrialParams(trialID int) (map[string]any, error) {
	t, err := s.GetTrial(trialID)
	if err != nil {
		return nil, err
	}
	return t.Params, nil
}

// GetTrialUserAttrs returns a trial's user attributes.
func (s studyStorage) GetTrialUserAttrs(trialID int) (map[string]string, error) {
	if _, err := s.GetTrialNumberFromID(trialID); err != nil {
		return nil, err
	}
	return s.db.attrs(`SELECT key, value FROM trial_user_attributes WHERE trial_id = ?`, trialID)
}

// GetTrialSystemAttrs returns a trial's system attributes.
func (s studyStorage) GetTrialSystemAttrs(trialID int) (map[string]string, error) {
	if _, err := s.GetTrialNumberFromID(trialID); err != nil {
		return nil, err
	}
	return s.db.attrs(`SELECT key, value FROM trial_system_attributes WHERE trial_id = ?`, trialID)
}

// GetTrial returns one trial with everything recorded about it.
func (s studyStorage) GetTrial(trialID int) (goptuna.FrozenTrial, error) {
	ts, err := s.db.loadTrials("t.trial_id = ?", trialID)
	if err != nil {
		return goptuna.FrozenTrial{}, fmt.Errorf("registry: trial %d: %w", trialID, err)
	}
	if len(ts) == 0 {
		return goptuna.FrozenTrial{}, goptuna.ErrInvalidTrialID
	}
	return ts[0], nil
}

// GetAllTrials returns the study's trials in number order.
func (s studyStorage) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	ts, err := s.db.loadTrials("t.study_id = ?", studyID)
	if err != nil {
		return nil, fmt.Errorf("registry: trials of study %d: %w", studyID, err)
	}
	return ts, nil
}

// GetBestTrial returns the complete trial with the best value (lowest
// number on ties); ErrNoCompletedTrials when none is complete.
func (s studyStorage) GetBestTrial(studyID int) (goptuna.FrozenTrial, error) {
	dir, err := s.GetStudyDirection(studyID)
	if err != nil {
		return goptuna.FrozenTrial{}, err
	}
	order := "ASC"
	if dir == goptuna.StudyDirectionMaximize {
		order = "DESC"
	}
	var id int
	err = s.db.retry(func() error {
		return s.db.sql.QueryRow(`SELECT trial_id FROM trials WHERE study_id = ? AND state = 'complete' AND value IS NOT NULL
			ORDER BY value `+order+`, number LIMIT 1`, studyID).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return goptuna.FrozenTrial{}, goptuna.ErrNoCompletedTrials
	}
	if err != nil {
		return goptuna.FrozenTrial{}, fmt.Errorf("registry: best trial of study %d: %w", studyID, err)
	}
	return s.GetTrial(id)
}

// loadTrials reads the trials matching where (over alias t) and all their
// parameters, values and attributes from one consistent snapshot.
func (db *DB) loadTrials(where string, arg any) ([]goptuna.FrozenTrial, error) {
	var out []goptuna.FrozenTrial
	err := db.snapshot(func(q querier) error {
		out = out[:0]
		byID := map[int]*goptuna.FrozenTrial{}
		rows, err := q.QueryContext(context.Background(), `SELECT trial_id, study_id, number, state, value, datetime_start, datetime_complete
			FROM trials t WHERE `+where+` ORDER BY number`, arg)
		if err != nil {
			return err
		}
		for rows.Next() {
			t := goptuna.FrozenTrial{
				IntermediateValues: map[int]float64{},
				InternalParams:     map[string]float64{},
				Params:             map[string]any{},
				Distributions:      map[string]any{},
				UserAttrs:          map[string]string{},
				SystemAttrs:        map[string]string{},
			}
			var state string
			var value sql.NullFloat64
			var start, complete sql.NullString
			if err := rows.Scan(&t.ID, &t.StudyID, &t.Number, &state, &value, &start, &complete); err != nil {
				rows.Close()
				return err
			}
			t.Value = fromNull(value)
			if t.State, err = parseState(state); err == nil {
				if t.DatetimeStart, err = parseTime(start); err == nil {
					t.DatetimeComplete, err = parseTime(complete)
				}
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("trial %d: %w", t.ID, err)
			}
			out = append(out, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			byID[out[i].ID] = &out[i]
		}
		join := ` JOIN trials t USING (trial_id) WHERE ` + where
		if err := eachRow(q, `SELECT x.trial_id, x.param_name, x.param_value, x.distribution_json FROM trial_params x`+join, arg,
			func(sc scanner) error {
				var id int
				var name, js string
				var v sql.NullFloat64
				if err := sc.Scan(&id, &name, &v, &js); err != nil {
					return err
				}
				t, ok := byID[id]
				if !ok {
					return nil
				}
				d, err := goptuna.JSONToDistribution([]byte(js))
				if err != nil {
					return fmt.Errorf("trial %d parameter %q: %w", id, name, err)
				}
				ext, err := goptuna.ToExternalRepresentation(d, fromNull(v))
				if err != nil {
					return fmt.Errorf("trial %d parameter %q: %w", id, name, err)
				}
				t.InternalParams[name], t.Distributions[name], t.Params[name] = fromNull(v), d, ext
				return nil
			}); err != nil {
			return err
		}
		if err := eachRow(q, `SELECT x.trial_id, x.step, x.value FROM trial_values x`+join, arg, func(sc scanner) error {
			var id, step int
			var v sql.NullFloat64
			if err := sc.Scan(&id, &step, &v); err != nil {
				return err
			}
			if t, ok := byID[id]; ok {
				t.IntermediateValues[step] = fromNull(v)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, a := range []struct {
			table string
			pick  func(*goptuna.FrozenTrial) map[string]string
		}{
			{"trial_user_attributes", func(t *goptuna.FrozenTrial) map[string]string { return t.UserAttrs }},
			{"trial_system_attributes", func(t *goptuna.FrozenTrial) map[string]string { return t.SystemAttrs }},
		} {
			if err := eachRow(q, `SELECT x.trial_id, x.key, x.value FROM `+a.table+` x`+join, arg, func(sc scanner) error {
				var id int
				var k, v string
				if err := sc.Scan(&id, &k, &v); err != nil {
					return err
				}
				if t, ok := byID[id]; ok {
					a.pick(t)[k] = v
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func eachRow(q querier, query string, arg any, fn func(scanner) error) error {
	rows, err := q.QueryContext(context.Background(), query, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// snapshot runs fn inside one deferred (read) transaction on a dedicated
// connection, so several queries see the same state without taking the
// write lock that BEGIN IMMEDIATE would.
func (db *DB) snapshot(fn func(q querier) error) error {
	return db.retry(func() error {
		ctx := context.Background()
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
			return err
		}
		if err := fn(conn); err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			return err
		}
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	})
}
