package registry

import (
	"database/sql"
	"errors"
	"fmt"
)

// Metric is one value of a named series at a step.
type Metric struct {
	Step  int64
	Name  string
	Value float64
}

// TaskResult is one evaluation number: a task's metric with its standard
// error and the number of examples behind it.
type TaskResult struct {
	Task, Metric  string
	Value, Stderr float64
	N             int
}

// LogMetrics stores ms in one transaction. A (name, step) already recorded
// for the run is overwritten, so a resumed run never duplicates points.
func (db *DB) LogMetrics(runID int64, ms []Metric) error {
	err := db.write(func(tx *sql.Tx) error { return logMetrics(tx, runID, ms) })
	if err != nil {
		return fmt.Errorf("registry: log metrics of run %d: %w", runID, foreignKey(err, "run"))
	}
	return nil
}

func logMetrics(tx *sql.Tx, runID int64, ms []Metric) error {
	for _, m := range ms {
		if m.Name == "" {
			return fmt.Errorf("metric at step %d has an empty name", m.Step)
		}
	}
	stmt, err := tx.Prepare(`INSERT OR REPLACE INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, m := range ms {
		if _, err := stmt.Exec(runID, m.Name, m.Step, nullFloat(m.Value)); err != nil {
			return fmt.Errorf("metric %s at step %d: %w", m.Name, m.Step, err)
		}
	}
	return nil
}

// Metrics returns the series name of the run in step order.
func (db *DB) Metrics(runID int64, name string) ([]Metric, error) {
	var ms []Metric
	err := db.retry(func() error {
		ms = ms[:0]
		rows, err := db.sql.Query(`SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step`, runID, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m := Metric{Name: name}
			var v sql.NullFloat64
			if err := rows.Scan(&m.Step, &v); err != nil {
				return err
			}
			m.Value = fromNull(v)
			ms = append(ms, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: metric %s of run %d: %w", name, runID, err)
	}
	return ms, nil
}

// MetricNames returns the names of the run's metric series, sorted.
func (db *DB) MetricNames(runID int64) ([]string, error) {
	var names []string
	err := db.retry(func() error {
		names = names[:0]
		rows, err := db.sql.Query(`SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: metric names of run %d: %w", runID, err)
	}
	return names, nil
}

// LastMetric returns the point of the series with the highest step.
func (db *DB) LastMetric(runID int64, name string) (Metric, error) {
	m := Metric{Name: name}
	var v sql.NullFloat64
	err := db.retry(func() error {
		return db.sql.QueryRow(`SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step DESC LIMIT 1`,
			runID, name).Scan(&m.Step, &v)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Metric{}, fmt.Errorf("registry: last %s of run %d: %w", name, runID, ErrNotFound)
	}
	if err != nil {
		return Metric{}, fmt.Errorf("registry: last %s of run %d: %w", name, runID, err)
	}
	m.Value = fromNull(v)
	return m, nil
}

// PutTaskResults stores evaluation results in one transaction; a (task,
// metric) already recorded for the run is overwritten.
func (db *DB) PutTaskResults(runID int64, rs []TaskResult) error {
	err := db.write(func(tx *sql.Tx) error { return putTaskResults(tx, runID, rs) })
	if err != nil {
		return fmt.Errorf("registry: put task results of run %d: %w", runID, foreignKey(err, "run"))
	}
	return nil
}

func putTaskResults(tx *sql.Tx, runID int64, rs []TaskResult) error {
	for _, r := range rs {
		if r.Task == "" || r.Metric == "" {
			return fmt.Errorf("result %+v needs both a task and a metric name", r)
		}
		if r.N < 0 {
			return fmt.Errorf("%s/%s has negative n %d", r.Task, r.Metric, r.N)
		}
	}
	stmt, err := tx.Prepare(`INSERT OR REPLACE INTO task_results (run_id, task, metric, value, stderr, n) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rs {
		if _, err := stmt.Exec(runID, r.Task, r.Metric, nullFloat(r.Value), nullFloat(r.Stderr), r.N); err != nil {
			return fmt.Errorf("%s/%s: %w", r.Task, r.Metric, err)
		}
	}
	return nil
}

// TaskResults returns the run's evaluation results ordered by task, metric.
func (db *DB) TaskResults(runID int64) ([]TaskResult, error) {
	var rs []TaskResult
	err := db.retry(func() error {
		rs = rs[:0]
		rows, err := db.sql.Query(`SELECT task, metric, value, stderr, n FROM task_results WHERE run_id = ? ORDER BY task, metric`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r TaskResult
			var v, se sql.NullFloat64
			if err := rows.Scan(&r.Task, &r.Metric, &v, &se, &r.N); err != nil {
				return err
			}
			r.Value, r.Stderr = fromNull(v), fromNull(se)
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("registry: task results of run %d: %w", runID, err)
	}
	return rs, nil
}
