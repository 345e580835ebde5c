package registry

import (
	"database/sql"
	"fmt"
	"math"
	"time"
)

// timeLayout is fixed-width UTC with nanoseconds, so stored times sort and
// compare correctly as text and stay readable in the sqlite3 shell.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func now() time.Time { return time.Now().UTC() }

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s.String, err)
	}
	return t, nil
}

// nullFloat stores NaN explicitly as NULL (SQLite would do so anyway) and
// fromNull reads it back as NaN.
func nullFloat(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

func fromNull(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}
