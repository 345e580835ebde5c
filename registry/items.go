package registry

import (
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
)

// ItemScores are one eval run's per-document values of one task metric
// (under one answer filter), in doc_id order, with a digest of the
// documents they score: two runs' values pair item by item when their
// digests are equal.
type ItemScores struct {
	Task   string
	Filter string
	Metric string
	// DocDigest is the hex sha256 identifying the scored documents in
	// order (computed by the evaluator from the documents' hashes).
	DocDigest string
	Values    []float64
}

// maxItemValues bounds one row (far above any shipped task's size).
const maxItemValues = 1 << 24

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func checkItemScores(s ItemScores) error {
	switch {
	case s.Task == "":
		return errors.New("item scores: empty task name")
	case s.Metric == "":
		return fmt.Errorf("item scores of %s: empty metric name", s.Task)
	case len(s.Values) == 0:
		return fmt.Errorf("item scores of %s/%s: no values", s.Task, s.Metric)
	case len(s.Values) > maxItemValues:
		return fmt.Errorf("item scores of %s/%s: %d values, at most %d", s.Task, s.Metric, len(s.Values), maxItemValues)
	case !hexDigest.MatchString(s.DocDigest):
		return fmt.Errorf("item scores of %s/%s: document digest %q is not 64 lowercase hex digits", s.Task, s.Metric, s.DocDigest)
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("item scores of %s/%s: value %d is %v, must be finite", s.Task, s.Metric, i, v)
		}
	}
	return nil
}

// encodeItemValues packs values as little-endian float64 bits, gzipped
// (deterministic: no name or time in the header).
func encodeItemValues(vs []float64) ([]byte, error) {
	raw := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeItemValues(blob []byte, n int) ([]float64, error) {
	if n <= 0 || n > maxItemValues {
		return nil, fmt.Errorf("%d values recorded, want 1..%d", n, maxItemValues)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, int64(8*n)+1))
	if err != nil {
		return nil, err
	}
	if len(raw) != 8*n {
		return nil, fmt.Errorf("%d bytes of values, want %d for %d documents", len(raw), 8*n, n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out, nil
}

// PutItemScores records the attempt's per-document scores. A (task,
// filter, metric) already recorded for the run is refused, never
// replaced.
func (a *Attempt) PutItemScores(ss []ItemScores) error {
	if len(ss) == 0 {
		return nil
	}
	for _, s := range ss {
		if err := checkItemScores(s); err != nil {
			return fmt.Errorf("registry: run %s: %w", short(a.Run.Hash), err)
		}
	}
	if err := a.db.ensureSchema(itemsVersion); err != nil {
		return err
	}
	return a.owned("put item scores of", func(tx *sql.Tx) error { return putItemScores(tx, a.Run.ID, ss) })
}

func putItemScores(tx *sql.Tx, runID int64, ss []ItemScores) error {
	for _, s := range ss {
		blob, err := encodeItemValues(s.Values)
		if err != nil {
			return fmt.Errorf("item scores of %s/%s: %w", s.Task, s.Metric, err)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM item_scores WHERE run_id = ? AND task = ? AND filter = ? AND metric = ?`,
			runID, s.Task, s.Filter, s.Metric).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("item scores of %s/%s (filter %q) are already recorded for run %d", s.Task, s.Metric, s.Filter, runID)
		}
		if _, err := tx.Exec(`INSERT INTO item_scores (run_id, task, filter, metric, docs, doc_digest, vals) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			runID, s.Task, s.Filter, s.Metric, len(s.Values), s.DocDigest, blob); err != nil {
			return err
		}
	}
	return nil
}

// ItemScores returns a run's recorded per-document scores ordered by
// task, filter and metric; none for a run (or a registry) without them.
func (db *DB) ItemScores(runID int64) ([]ItemScores, error) {
	ok, err := db.hasSchema(itemsVersion)
	if err != nil || !ok {
		return nil, err
	}
	var out []ItemScores
	err = db.snapshot(func(q querier) error {
		var err error
		out, err = itemScoresIn(q, runID)
		return err
	})
	return out, err
}

// itemScoresIn reads a run's item scores through q, ordered by task,
// filter and metric.
func itemScoresIn(q querier, runID int64) ([]ItemScores, error) {
	var out []ItemScores
	err := eachRow(q, `SELECT task, filter, metric, docs, doc_digest, vals FROM item_scores WHERE run_id = ?`, runID, func(r scanner) error {
		var s ItemScores
		var n int
		var blob []byte
		if err := r.Scan(&s.Task, &s.Filter, &s.Metric, &n, &s.DocDigest, &blob); err != nil {
			return err
		}
		vs, err := decodeItemValues(blob, n)
		if err != nil {
			return fmt.Errorf("registry: item scores of run %d, %s/%s: %w", runID, s.Task, s.Metric, err)
		}
		s.Values = vs
		out = append(out, s)
		return nil
	})
	sortItemScores(out)
	return out, err
}

// sortItemScores orders rows by task, filter and metric (byte order, the
// same on every backend).
func sortItemScores(ss []ItemScores) {
	sort.Slice(ss, func(i, j int) bool {
		x, y := ss[i], ss[j]
		return x.Task < y.Task || x.Task == y.Task && (x.Filter < y.Filter || x.Filter == y.Filter && x.Metric < y.Metric)
	})
}
