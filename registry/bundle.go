package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// RunBundle is a training run as it moves between registries: the config
// of Hash, every attempt of Hash, and every eval run whose parent is Hash
// with the eval configs.
type RunBundle struct {
	Hash string
	// Config is the canonical JSON stored under Hash.
	Config string
	// EvalConfigs holds the canonical JSON of every eval run's hash.
	EvalConfigs map[string]string
	// Runs lists the attempts of Hash, then the eval runs, each group in
	// (hash, attempt) order.
	Runs []BundleRun
}

// BundleRun is one recorded run with its rows. Run.ID is the run's id in
// the registry it was read from; ImportRun ignores it.
type BundleRun struct {
	Run
	Metrics     []Metric         // by name, then step
	TaskResults []TaskResult     // by task, then metric
	Artifacts   []BundleArtifact // by path
	// ItemScores are an eval run's per-document scores, by task, filter
	// and metric (absent in bundles of registries without them).
	ItemScores []ItemScores `json:",omitempty"`
}

// BundleArtifact is one artifact row of a run with its recording time.
type BundleArtifact struct {
	Kind, Path, SHA256 string
	Bytes              int64
	Created            time.Time
}

// ImportStats says what ImportRun added to the registry.
type ImportStats struct {
	// ConfigsAdded counts new configs (training and eval).
	ConfigsAdded int
	// RunsAdded counts new runs; RunsPresent those already recorded with
	// exactly the bundled content, which are left as they are.
	RunsAdded, RunsPresent int
	// Rows added with the new runs.
	Metrics, TaskResults, Artifacts int
}

// ErrConflict is matched (errors.Is) by ImportRun errors about a config or
// run that is already recorded with different content.
var ErrConflict = errors.New("conflicts with the recorded content")

// conflictError is an ErrConflict with its own message.
type conflictError struct{ msg string }

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Is(target error) bool { return target == ErrConflict }

func conflict(format string, args ...any) error {
	return &conflictError{fmt.Sprintf(format, args...)}
}

// FormatTime writes t in the registry's stored text form: fixed-width UTC
// with nanoseconds, as bundles carry times.
func FormatTime(t time.Time) string { return formatTime(t) }

// ParseTime reads an RFC 3339 time such as FormatTime writes; "" is the
// zero time.
func ParseTime(s string) (time.Time, error) {
	return parseTime(sql.NullString{String: s, Valid: true})
}

// ExportRun reads the training run hash as a bundle, all from one
// consistent snapshot of the registry: its config, every attempt and every
// eval run whose parent it is, with their configs, metrics, task results
// and artifacts. A hash with no config or no run yields an error wrapping
// ErrNotFound.
func (db *DB) ExportRun(hash string) (*RunBundle, error) {
	if err := checkHash(hash); err != nil {
		return nil, fmt.Errorf("registry: export run: %w", err)
	}
	withItems, err := db.hasSchema(itemsVersion)
	if err != nil {
		return nil, fmt.Errorf("registry: export run %s: %w", hash, err)
	}
	var b *RunBundle
	err = db.snapshot(func(q querier) error {
		b = &RunBundle{Hash: hash, EvalConfigs: map[string]string{}}
		var err error
		if b.Config, err = configIn(q, hash); err != nil {
			return err
		}
		err = eachRow(q, `SELECT `+runColumns+` FROM runs WHERE hash = ?1 OR (kind = 'eval' AND parent_hash = ?1)
			ORDER BY hash = ?1 DESC, hash, attempt`, hash, func(s scanner) error {
			r, err := scanRun(s)
			if err != nil {
				return err
			}
			b.Runs = append(b.Runs, BundleRun{Run: *r})
			return nil
		})
		if err != nil {
			return err
		}
		if len(b.Runs) == 0 {
			return fmt.Errorf("the registry has a config but no run for this hash: %w", ErrNotFound)
		}
		for i := range b.Runs {
			r := &b.Runs[i]
			if r.Hash != hash {
				if _, ok := b.EvalConfigs[r.Hash]; !ok {
					js, err := configIn(q, r.Hash)
					if err != nil {
						return fmt.Errorf("eval run %s: %w", r.Hash, err)
					}
					b.EvalConfigs[r.Hash] = js
				}
			}
			if err := readRunRows(q, r, withItems); err != nil {
				return fmt.Errorf("run %s attempt %d: %w", r.Hash, r.Attempt, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: export run %s: %w", hash, err)
	}
	return b, nil
}

func configIn(q querier, hash string) (string, error) {
	js, found := "", false
	err := eachRow(q, `SELECT json FROM configs WHERE hash = ?`, hash, func(s scanner) error {
		found = true
		return s.Scan(&js)
	})
	if err == nil && !found {
		err = fmt.Errorf("config %s: %w", hash, ErrNotFound)
	}
	return js, err
}

// readRunRows fills in the metrics, task results and artifacts of r.ID,
// and its item scores when the registry has the table (withItems).
func readRunRows(q querier, r *BundleRun, withItems bool) error {
	r.ItemScores = nil
	if withItems {
		var err error
		if r.ItemScores, err = itemScoresIn(q, r.ID); err != nil {
			return fmt.Errorf("item scores: %w", err)
		}
	}
	r.Metrics, r.TaskResults, r.Artifacts = []Metric{}, []TaskResult{}, []BundleArtifact{}
	err := eachRow(q, `SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name, step`, r.ID, func(s scanner) error {
		var m Metric
		var v sql.NullFloat64
		if err := s.Scan(&m.Name, &m.Step, &v); err != nil {
			return err
		}
		m.Value = fromNull(v)
		r.Metrics = append(r.Metrics, m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	err = eachRow(q, `SELECT task, metric, value, stderr, n FROM task_results WHERE run_id = ? ORDER BY task, metric`, r.ID, func(s scanner) error {
		var t TaskResult
		var v, se sql.NullFloat64
		if err := s.Scan(&t.Task, &t.Metric, &v, &se, &t.N); err != nil {
			return err
		}
		t.Value, t.Stderr = fromNull(v), fromNull(se)
		r.TaskResults = append(r.TaskResults, t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("task results: %w", err)
	}
	err = eachRow(q, `SELECT kind, path, sha256, bytes, created FROM artifacts WHERE run_id = ? ORDER BY path`, r.ID, func(s scanner) error {
		var a BundleArtifact
		var created sql.NullString
		if err := s.Scan(&a.Kind, &a.Path, &a.SHA256, &a.Bytes, &created); err != nil {
			return err
		}
		var err error
		if a.Created, err = parseTime(created); err != nil {
			return fmt.Errorf("artifact %s: %w", a.Path, err)
		}
		r.Artifacts = append(r.Artifacts, a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	return nil
}

// ImportRun records a bundle in one transaction, retried while the
// database is busy. Artifact paths are stored relative to the project
// root, as RootRelative makes them (bundles from older harness versions
// carry the exporting machine's paths); a file recorded under two
// spellings of one path keeps one row. A config already stored under its
// hash must have the same JSON, and a run whose (hash, attempt) is already
// recorded must have exactly the bundled content (row, metrics, task
// results, artifacts): then it is left as it is. Anything else is refused
// with an error matching ErrConflict, and an invalid bundle (see Validate)
// is refused too; a refused import writes nothing. No recorded row is ever
// replaced or removed.
func (db *DB) ImportRun(b *RunBundle) (*ImportStats, error) {
	if b == nil {
		return nil, errors.New("registry: import run: no bundle")
	}
	b, err := b.normalized()
	if err == nil {
		err = b.validate()
	}
	if err != nil {
		return nil, fmt.Errorf("registry: import run %s: invalid bundle: %w", b.Hash, err)
	}
	withItems, err := db.hasSchema(itemsVersion)
	if err != nil {
		return nil, fmt.Errorf("registry: import run %s: %w", b.Hash, err)
	}
	for _, r := range b.Runs {
		if len(r.ItemScores) > 0 && !withItems {
			if err := db.ensureSchema(itemsVersion); err != nil {
				return nil, fmt.Errorf("registry: import run %s: %w", b.Hash, err)
			}
			withItems = true
		}
	}
	hashes := make([]string, 0, len(b.EvalConfigs)+1)
	hashes = append(hashes, b.Hash)
	for h := range b.EvalConfigs {
		if h != b.Hash {
			hashes = append(hashes, h)
		}
	}
	sort.Strings(hashes[1:])
	var st ImportStats
	err = db.write(func(tx *sql.Tx) error {
		st = ImportStats{}
		for _, h := range hashes {
			js := b.Config
			if h != b.Hash {
				js = b.EvalConfigs[h]
			}
			added, err := importConfig(tx, h, js)
			if err != nil {
				return err
			}
			if added {
				st.ConfigsAdded++
			}
		}
		for i := range b.Runs {
			if err := importRun(tx, &b.Runs[i], &st, withItems); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: import run %s into %s: %w", b.Hash, db.path, err)
	}
	return &st, nil
}

func importConfig(tx *sql.Tx, hash, js string) (bool, error) {
	var old string
	err := tx.QueryRow(`SELECT json FROM configs WHERE hash = ?`, hash).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.Exec(`INSERT INTO configs (hash, json, created) VALUES (?, ?, ?)`, hash, js, formatTime(now()))
		return err == nil, err
	case err != nil:
		return false, err
	case old != js:
		return false, conflict("config %s is already recorded with different JSON (%d vs %d bytes); refusing to import a conflicting config",
			hash, len(old), len(js))
	}
	return false, nil
}

// importRun adds r with its rows, or checks that the recorded run with its
// (hash, attempt) has exactly r's content.
func importRun(tx *sql.Tx, r *BundleRun, st *ImportStats, withItems bool) error {
	where := fmt.Sprintf("run %s attempt %d", r.Hash, r.Attempt)
	old, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs WHERE hash = ? AND attempt = ?`, r.Hash, r.Attempt))
	switch {
	case err == nil:
		rec := BundleRun{Run: *old}
		if err := readRunRows(tx, &rec, withItems); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if diff := runDiff(&rec, r); diff != "" {
			return conflict("%s is already recorded with different content (%s); refusing to replace it", where, diff)
		}
		st.RunsPresent++
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", where, err)
	}
	res, err := tx.Exec(`INSERT INTO runs (`+strings.Join(importColumns, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(importColumns)-1)+`)`,
		importValues(&r.Run)...)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	st.RunsAdded++
	for _, m := range r.Metrics {
		if _, err := tx.Exec(`INSERT INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)`, id, m.Name, m.Step, nullFloat(m.Value)); err != nil {
			return fmt.Errorf("%s: metric %s at step %d: %w", where, m.Name, m.Step, err)
		}
		st.Metrics++
	}
	for _, t := range r.TaskResults {
		if _, err := tx.Exec(`INSERT INTO task_results (run_id, task, metric, value, stderr, n) VALUES (?, ?, ?, ?, ?, ?)`,
			id, t.Task, t.Metric, nullFloat(t.Value), nullFloat(t.Stderr), t.N); err != nil {
			return fmt.Errorf("%s: task result %s/%s: %w", where, t.Task, t.Metric, err)
		}
		st.TaskResults++
	}
	for _, a := range r.Artifacts {
		if _, err := tx.Exec(`INSERT INTO artifacts (run_id, kind, path, sha256, bytes, created) VALUES (?, ?, ?, ?, ?, ?)`,
			id, a.Kind, a.Path, a.SHA256, a.Bytes, formatTime(a.Created)); err != nil {
			return fmt.Errorf("%s: artifact %s: %w", where, a.Path, err)
		}
		st.Artifacts++
	}
	if err := putItemScores(tx, id, r.ItemScores); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// importColumns are the runs columns ImportRun writes, in the order of
// importValues; the id is the importing registry's own.
var importColumns = []string{"hash", "attempt", "kind", "status", "name", "parent_hash", "created", "started", "finished",
	"heartbeat", "code_version", "code_dirty", "go_version", "os", "cpu", "threads", "kernel_set", "error", "summary_json",
	"code_diff"}

// importValues is a run's row as stored, in importColumns order.
func importValues(r *Run) []any {
	return []any{r.Hash, r.Attempt, r.Kind, r.Status, r.Name, r.ParentHash, nullTime(r.Created), nullTime(r.Started),
		nullTime(r.Finished), nullTime(r.Heartbeat), r.CodeVersion, r.CodeDirty, r.GoVersion, r.OS, r.CPU,
		r.Threads, r.KernelSet, r.Error, r.SummaryJSON, r.CodeDiff}
}

// runDiff describes the first difference between a recorded run and a
// bundled one ("" when they have the same content). Floats compare by
// value, NaN equal to NaN.
func runDiff(rec, b *BundleRun) string {
	rv, bv := importValues(&rec.Run), importValues(&b.Run)
	for i, c := range importColumns {
		if rv[i] != bv[i] {
			return fmt.Sprintf("%s: recorded %v, bundle %v", c, show(rv[i]), show(bv[i]))
		}
	}
	ms := slices.Clone(b.Metrics)
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].Name < ms[j].Name || ms[i].Name == ms[j].Name && ms[i].Step < ms[j].Step
	})
	if len(rec.Metrics) != len(ms) {
		return fmt.Sprintf("%d metric points recorded, %d in the bundle", len(rec.Metrics), len(ms))
	}
	for i, m := range rec.Metrics {
		if m.Name != ms[i].Name || m.Step != ms[i].Step || !sameFloat(m.Value, ms[i].Value) {
			return fmt.Sprintf("metric %s at step %d: recorded %v, bundle has %s at step %d = %v", m.Name, m.Step, m.Value, ms[i].Name, ms[i].Step, ms[i].Value)
		}
	}
	ts := slices.Clone(b.TaskResults)
	sort.Slice(ts, func(i, j int) bool {
		return ts[i].Task < ts[j].Task || ts[i].Task == ts[j].Task && ts[i].Metric < ts[j].Metric
	})
	if len(rec.TaskResults) != len(ts) {
		return fmt.Sprintf("%d task results recorded, %d in the bundle", len(rec.TaskResults), len(ts))
	}
	for i, t := range rec.TaskResults {
		u := ts[i]
		if t.Task != u.Task || t.Metric != u.Metric || !sameFloat(t.Value, u.Value) || !sameFloat(t.Stderr, u.Stderr) || t.N != u.N {
			return fmt.Sprintf("task result %s/%s: recorded %v ± %v (n=%d), bundle %s/%s %v ± %v (n=%d)",
				t.Task, t.Metric, t.Value, t.Stderr, t.N, u.Task, u.Metric, u.Value, u.Stderr, u.N)
		}
	}
	as := slices.Clone(b.Artifacts)
	sort.Slice(as, func(i, j int) bool { return as[i].Path < as[j].Path })
	if len(rec.Artifacts) != len(as) {
		return fmt.Sprintf("%d artifacts recorded, %d in the bundle", len(rec.Artifacts), len(as))
	}
	for i, a := range rec.Artifacts {
		u := as[i]
		if a.Kind != u.Kind || a.Path != u.Path || a.SHA256 != u.SHA256 || a.Bytes != u.Bytes || formatTime(a.Created) != formatTime(u.Created) {
			return fmt.Sprintf("artifact %s (%s, sha256 %s, %d bytes, created %s): bundle has %s (%s, sha256 %s, %d bytes, created %s)",
				a.Path, a.Kind, a.SHA256, a.Bytes, formatTime(a.Created), u.Path, u.Kind, u.SHA256, u.Bytes, formatTime(u.Created))
		}
	}
	is := slices.Clone(b.ItemScores)
	sortItemScores(is)
	if len(rec.ItemScores) != len(is) {
		return fmt.Sprintf("%d item score rows recorded, %d in the bundle", len(rec.ItemScores), len(is))
	}
	for i, t := range rec.ItemScores {
		u := is[i]
		if t.Task != u.Task || t.Filter != u.Filter || t.Metric != u.Metric || t.DocDigest != u.DocDigest || !slices.Equal(t.Values, u.Values) {
			return fmt.Sprintf("item scores %s/%s (filter %q): differ from the bundle's %s/%s (filter %q)", t.Task, t.Metric, t.Filter, u.Task, u.Metric, u.Filter)
		}
	}
	return ""
}

func show(v any) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// Validate checks everything ImportRun would write, without a registry:
// hashes, configs (valid JSON), that every run is an attempt of Hash or an
// eval run whose parent is Hash with its config present, every run's
// attempt, kind, status, times and summary, and that no run, metric point,
// task result or artifact path appears twice. ImportRun refuses a bundle
// that fails it before touching the registry.
func (b *RunBundle) Validate() error {
	if b == nil {
		return errors.New("invalid bundle: no bundle")
	}
	n, err := b.normalized()
	if err == nil {
		err = n.validate()
	}
	if err != nil {
		return fmt.Errorf("invalid bundle: %w", err)
	}
	return nil
}

// normalized is a copy of b with its artifact paths as ImportRun stores
// them: relative to the project root (RootRelative). Artifacts of a run
// that become the same path must be the same file (kind, sha256, size);
// the most recently recorded of them is kept, as the schema 2 migration
// does. b itself is not changed.
func (b *RunBundle) normalized() (*RunBundle, error) {
	c := *b
	c.Runs = slices.Clone(b.Runs)
	for i := range c.Runs {
		r := &c.Runs[i]
		arts := make([]BundleArtifact, 0, len(r.Artifacts))
		at := map[string]int{}
		for _, a := range r.Artifacts {
			a.Path = RootRelative(a.Path)
			k, dup := at[a.Path]
			if !dup {
				at[a.Path] = len(arts)
				arts = append(arts, a)
				continue
			}
			if o := arts[k]; o.Kind != a.Kind || o.SHA256 != a.SHA256 || o.Bytes != a.Bytes {
				return b, fmt.Errorf("run %s attempt %d: artifact %s appears twice with different content (%s %s, %d bytes vs %s %s, %d bytes)",
					r.Hash, r.Attempt, a.Path, o.Kind, o.SHA256, o.Bytes, a.Kind, a.SHA256, a.Bytes)
			}
			if a.Created.After(arts[k].Created) {
				arts[k] = a
			}
		}
		r.Artifacts = arts
	}
	return &c, nil
}

func (b *RunBundle) validate() error {
	if err := checkHash(b.Hash); err != nil {
		return err
	}
	if !json.Valid([]byte(b.Config)) {
		return fmt.Errorf("config %s is not valid JSON", b.Hash)
	}
	for h, js := range b.EvalConfigs {
		if err := checkHash(h); err != nil {
			return fmt.Errorf("eval config: %w", err)
		}
		if h == b.Hash && js != b.Config {
			return fmt.Errorf("eval config %s differs from the run's config of the same hash", h)
		}
		if !json.Valid([]byte(js)) {
			return fmt.Errorf("eval config %s is not valid JSON", h)
		}
	}
	type key struct {
		hash    string
		attempt int
	}
	seen := map[key]bool{}
	for i := range b.Runs {
		r := &b.Runs[i]
		if err := checkBundleRun(b, r); err != nil {
			return fmt.Errorf("run %s attempt %d: %w", r.Hash, r.Attempt, err)
		}
		k := key{r.Hash, r.Attempt}
		if seen[k] {
			return fmt.Errorf("run %s attempt %d appears twice", r.Hash, r.Attempt)
		}
		seen[k] = true
	}
	return nil
}

func checkBundleRun(b *RunBundle, r *BundleRun) error {
	if err := checkHash(r.Hash); err != nil {
		return err
	}
	switch {
	case r.Hash == b.Hash:
	case r.Kind == KindEval && r.ParentHash == b.Hash:
		if _, ok := b.EvalConfigs[r.Hash]; !ok {
			return errors.New("eval run without its config")
		}
	default:
		return fmt.Errorf("kind %s with parent %q belongs neither to %s nor to its eval runs", r.Kind, r.ParentHash, b.Hash)
	}
	if r.Attempt < 1 {
		return fmt.Errorf("attempt %d is below 1", r.Attempt)
	}
	if !slices.Contains(kinds, r.Kind) {
		return fmt.Errorf("unknown kind %q (valid: %s)", r.Kind, strings.Join(kinds, ", "))
	}
	if !slices.Contains(statuses, r.Status) {
		return fmt.Errorf("unknown status %q (valid: %s)", r.Status, strings.Join(statuses, ", "))
	}
	if r.Created.IsZero() {
		return errors.New("no creation time")
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"created", r.Created}, {"started", r.Started}, {"finished", r.Finished}, {"heartbeat", r.Heartbeat}} {
		if err := checkTime(t.t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if r.Threads < 0 {
		return fmt.Errorf("negative thread count %d", r.Threads)
	}
	if r.SummaryJSON != "" && !json.Valid([]byte(r.SummaryJSON)) {
		return errors.New("the summary is not valid JSON")
	}
	type mkey struct {
		name string
		step int64
	}
	seenM := map[mkey]bool{}
	for _, m := range r.Metrics {
		if m.Name == "" {
			return fmt.Errorf("metric at step %d has an empty name", m.Step)
		}
		if seenM[mkey{m.Name, m.Step}] {
			return fmt.Errorf("metric %s at step %d appears twice", m.Name, m.Step)
		}
		seenM[mkey{m.Name, m.Step}] = true
	}
	seenT := map[[2]string]bool{}
	for _, t := range r.TaskResults {
		if t.Task == "" || t.Metric == "" {
			return fmt.Errorf("task result %q/%q needs both a task and a metric name", t.Task, t.Metric)
		}
		if t.N < 0 {
			return fmt.Errorf("task result %s/%s has negative n %d", t.Task, t.Metric, t.N)
		}
		if seenT[[2]string{t.Task, t.Metric}] {
			return fmt.Errorf("task result %s/%s appears twice", t.Task, t.Metric)
		}
		seenT[[2]string{t.Task, t.Metric}] = true
	}
	seenI := map[[3]string]bool{}
	for _, it := range r.ItemScores {
		if err := checkItemScores(it); err != nil {
			return err
		}
		k := [3]string{it.Task, it.Filter, it.Metric}
		if seenI[k] {
			return fmt.Errorf("item scores %s/%s (filter %q) appear twice", it.Task, it.Metric, it.Filter)
		}
		seenI[k] = true
	}
	seenA := map[string]bool{}
	for _, a := range r.Artifacts {
		switch {
		case a.Kind == "" || a.Path == "":
			return fmt.Errorf("artifact needs a kind and a path (got kind %q, path %q)", a.Kind, a.Path)
		case !isSHA256(a.SHA256):
			return fmt.Errorf("artifact %s: sha256 %q is not 64 lowercase hex digits", a.Path, a.SHA256)
		case a.Bytes < 0:
			return fmt.Errorf("artifact %s: negative size %d", a.Path, a.Bytes)
		case !filepath.IsAbs(a.Path) && !filepath.IsLocal(a.Path):
			return fmt.Errorf("artifact path %q leaves the project root (want a path relative to it, or an absolute one)", a.Path)
		case a.Created.IsZero():
			return fmt.Errorf("artifact %s: no creation time", a.Path)
		case seenA[a.Path]:
			return fmt.Errorf("artifact %s appears twice", a.Path)
		}
		if err := checkTime(a.Created); err != nil {
			return fmt.Errorf("artifact %s: %w", a.Path, err)
		}
		seenA[a.Path] = true
	}
	return nil
}

// checkTime refuses times the stored text form cannot hold (years outside
// 0 to 9999).
func checkTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %v is outside the years 0 to 9999", t)
	}
	return nil
}
