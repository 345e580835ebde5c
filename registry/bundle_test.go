package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// SQL returns the underlying database handle, for tests that inspect or
// damage the file directly.
func (db *DB) SQL() *sql.DB { return db.sql }

// bundleFixture records in db a training run (a failed and a done attempt)
// with an eval run, plus an unrelated run, and returns the training hash
// and the eval hash.
func bundleFixture(t *testing.T, db *DB) (string, string) {
	t.Helper()
	h, e, other := hashOf("train"), hashOf("eval"), hashOf("other")
	for _, c := range []struct{ h, js string }{{h, `{"model":"tiny"}`}, {e, `{"eval":"blimp"}`}, {other, `{}`}} {
		if err := db.PutConfig(c.h, c.js); err != nil {
			t.Fatal(err)
		}
	}
	begin := func(hash, kind, parent string) *Run {
		r, err := db.BeginRun(RunInfo{Hash: hash, Kind: kind, ParentHash: parent, Name: "n-" + kind, Threads: 2, KernelSet: "go"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	failed := begin(h, KindTrain, "")
	must(db.LogMetrics(failed.ID, []Metric{{Step: 1, Name: "train_loss", Value: math.NaN()}}))
	must(db.FinishRun(failed.ID, StatusFailed, "diverged"))
	done := begin(h, KindTrain, "")
	must(db.LogMetrics(done.ID, []Metric{
		{Step: 1, Name: "train_loss", Value: 3.5}, {Step: 2, Name: "train_loss", Value: 1.0 / 3},
		{Step: 2, Name: "val_bpb", Value: math.Inf(1)}, {Step: 3, Name: "val_bpb", Value: math.Inf(-1)},
		{Step: 4, Name: "val_bpb", Value: math.SmallestNonzeroFloat64},
	}))
	must(db.PutArtifact(Artifact{RunID: done.ID, Kind: "checkpoint", Path: "runs/" + h + "/ckpt-000000002.safetensors", SHA256: hashOf("ckpt"), Bytes: 123}))
	must(db.PutArtifact(Artifact{RunID: done.ID, Kind: "log", Path: "runs/" + h + "/log.jsonl", SHA256: hashOf("log"), Bytes: 7}))
	must(db.SetSummary(done.ID, `{"val_bpb":1.25}`))
	must(db.FinishRun(done.ID, StatusDone, ""))
	_, err := db.sql.Exec(`UPDATE runs SET code_diff = ? WHERE id = ?`, hashOf("diff"), done.ID)
	must(err)
	ev := begin(e, KindEval, h)
	must(db.PutTaskResults(ev.ID, []TaskResult{{Task: "blimp", Metric: "acc", Value: 0.75, Stderr: math.NaN(), N: 8}, {Task: "blimp", Metric: "acc_norm", Value: 0.5, Stderr: 0.1, N: 8}}))
	must(db.FinishRun(ev.ID, StatusDone, ""))
	o := begin(other, KindTrain, "")
	must(db.LogMetrics(o.ID, []Metric{{Step: 1, Name: "train_loss", Value: 9}}))
	return h, e
}

// tableDump renders every row of the run tables without row ids.
func tableDump(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT hash, json FROM configs ORDER BY hash`,
		`SELECT ` + strings.Join(importColumns, ", ") + ` FROM runs ORDER BY hash, attempt`,
		`SELECT r.hash, r.attempt, m.name, m.step, m.value FROM metrics m JOIN runs r ON r.id = m.run_id ORDER BY 1, 2, 3, 4`,
		`SELECT r.hash, r.attempt, x.task, x.metric, x.value, x.stderr, x.n FROM task_results x JOIN runs r ON r.id = x.run_id ORDER BY 1, 2, 3, 4`,
		`SELECT r.hash, r.attempt, a.kind, a.path, a.sha256, a.bytes, a.created FROM artifacts a JOIN runs r ON r.id = a.run_id ORDER BY 1, 2, 4`,
	} {
		rows, err := db.sql.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%v\n", vals)
		}
		rows.Close()
	}
	return b.String()
}

// bundleText renders a bundle without the source row ids.
func bundleText(b *RunBundle) string {
	c := *b
	c.Runs = slices.Clone(b.Runs)
	for i := range c.Runs {
		c.Runs[i].ID = 0
	}
	return fmt.Sprintf("%+v", c)
}

func TestExportImportRunRoundTrip(t *testing.T) {
	src := openTemp(t)
	h, e := bundleFixture(t, src)
	b, err := src.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range b.Runs {
		got = append(got, fmt.Sprintf("%s/%d/%s", r.Hash[:4], r.Attempt, r.Status))
	}
	if want := []string{h[:4] + "/1/failed", h[:4] + "/2/done", e[:4] + "/1/done"}; !slices.Equal(got, want) {
		t.Fatalf("exported runs %v, want %v", got, want)
	}
	if b.Config != `{"model":"tiny"}` || len(b.EvalConfigs) != 1 || b.EvalConfigs[e] != `{"eval":"blimp"}` {
		t.Errorf("configs %q %v", b.Config, b.EvalConfigs)
	}
	if n := len(b.Runs[1].Metrics); n != 5 || len(b.Runs[1].Artifacts) != 2 || len(b.Runs[2].TaskResults) != 2 {
		t.Errorf("done attempt has %d metrics, %d artifacts; eval run %d task results", n, len(b.Runs[1].Artifacts), len(b.Runs[2].TaskResults))
	}
	if v := b.Runs[0].Metrics[0].Value; !math.IsNaN(v) {
		t.Errorf("NaN metric exported as %v", v)
	}

	dst := openTemp(t)
	st, err := dst.ImportRun(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportStats{ConfigsAdded: 2, RunsAdded: 3, Metrics: 6, TaskResults: 2, Artifacts: 2}); *st != want {
		t.Errorf("import stats %+v, want %+v", *st, want)
	}
	again, err := dst.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := bundleText(again), bundleText(b); g != w {
		t.Errorf("re-export differs:\n got %s\nwant %s", g, w)
	}

	// Importing again adds nothing and changes nothing.
	before := tableDump(t, dst)
	st, err = dst.ImportRun(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportStats{RunsPresent: 3}); *st != want {
		t.Errorf("second import stats %+v, want %+v", *st, want)
	}
	if after := tableDump(t, dst); after != before {
		t.Errorf("second import changed the registry:\n%s\nvs\n%s", before, after)
	}
	// A bundle listing its rows in another order is the same content.
	shuffled := *b
	shuffled.Runs = slices.Clone(b.Runs)
	r := &shuffled.Runs[1]
	r.Metrics = slices.Clone(r.Metrics)
	slices.Reverse(r.Metrics)
	r.Artifacts = slices.Clone(r.Artifacts)
	slices.Reverse(r.Artifacts)
	if _, err := dst.ImportRun(&shuffled); err != nil {
		t.Errorf("reordered bundle: %v", err)
	}
}

func TestExportRunFromReadOnlyHandle(t *testing.T) {
	db := openTemp(t)
	h, _ := bundleFixture(t, db)
	want, err := db.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	ro := mustOpenRO(t, db.Path())
	defer ro.Close()
	got, err := ro.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	if bundleText(got) != bundleText(want) {
		t.Errorf("read-only export differs")
	}
}

func TestExportRunNotFound(t *testing.T) {
	db := openTemp(t)
	h, _ := bundleFixture(t, db)
	lonely := hashOf("config without runs")
	if err := db.PutConfig(lonely, `{}`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, hash, want string }{
		{"unknown hash", hashOf("nothing"), "not found"},
		{"config but no run", lonely, "no run"},
		{"hash prefix", h[:10], "not found"},
		{"empty hash", "", "empty hash"},
	} {
		_, err := db.ExportRun(c.hash)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if c.hash != "" && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v does not wrap ErrNotFound", c.name, err)
		}
	}
}

// cloneBundle copies b deeply enough for a test to change any row.
func cloneBundle(b *RunBundle) *RunBundle {
	c := *b
	c.EvalConfigs = map[string]string{}
	for k, v := range b.EvalConfigs {
		c.EvalConfigs[k] = v
	}
	c.Runs = slices.Clone(b.Runs)
	for i := range c.Runs {
		c.Runs[i].Metrics = slices.Clone(c.Runs[i].Metrics)
		c.Runs[i].TaskResults = slices.Clone(c.Runs[i].TaskResults)
		c.Runs[i].Artifacts = slices.Clone(c.Runs[i].Artifacts)
	}
	return &c
}

func TestImportRunRefusesConflicts(t *testing.T) {
	src := openTemp(t)
	h, e := bundleFixture(t, src)
	b, err := src.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, db *DB) // prepares the target registry
		edit  func(b *RunBundle)         // changes the bundle imported after setup
		want  string
	}{
		{"a local attempt holds the attempt number", func(t *testing.T, db *DB) {
			if err := db.PutConfig(h, b.Config); err != nil {
				t.Fatal(err)
			}
			if _, err := db.BeginRun(RunInfo{Hash: h, Kind: KindTrain}); err != nil {
				t.Fatal(err)
			}
		}, nil, "attempt 1 is already recorded with different content (status: recorded \"running\", bundle \"failed\")"},
		{"config recorded with other JSON", func(t *testing.T, db *DB) {
			if err := db.PutConfig(e, `{"eval":"other"}`); err != nil {
				t.Fatal(err)
			}
		}, nil, "conflicting config"},
		{"a metric changed", nil, func(b *RunBundle) { b.Runs[1].Metrics[1].Value = 7 }, "metric train_loss at step 2"},
		{"a NaN metric became a number", nil, func(b *RunBundle) { b.Runs[0].Metrics[0].Value = 0 }, "metric train_loss at step 1"},
		{"a metric point added", nil, func(b *RunBundle) {
			b.Runs[1].Metrics = append(b.Runs[1].Metrics, Metric{Step: 9, Name: "train_loss", Value: 1})
		}, "5 metric points recorded, 6 in the bundle"},
		{"an artifact moved", nil, func(b *RunBundle) { b.Runs[1].Artifacts[0].Path = "elsewhere.safetensors" }, "artifact"},
		{"a task result's stderr changed", nil, func(b *RunBundle) { b.Runs[2].TaskResults[0].Stderr = 0.2 }, "task result blimp/acc"},
		{"the summary changed", nil, func(b *RunBundle) { b.Runs[1].SummaryJSON = `{"val_bpb":1}` }, "summary_json"},
		{"the finish time changed", nil, func(b *RunBundle) { b.Runs[1].Finished = b.Runs[1].Finished.Add(time.Nanosecond) }, "finished"},
		{"the code diff changed", nil, func(b *RunBundle) { b.Runs[1].CodeDiff = "" }, "code_diff"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openTemp(t)
			if c.setup != nil {
				c.setup(t, db)
			} else if _, err := db.ImportRun(b); err != nil {
				t.Fatal(err)
			}
			before := tableDump(t, db)
			imp := b
			if c.edit != nil {
				imp = cloneBundle(b)
				c.edit(imp)
			}
			_, err := db.ImportRun(imp)
			if err == nil || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want an ErrConflict mentioning %q", err, c.want)
			}
			if after := tableDump(t, db); after != before {
				t.Errorf("refused import changed the registry:\n%s\nvs\n%s", before, after)
			}
		})
	}
}

func TestImportRunRefusesInvalid(t *testing.T) {
	src := openTemp(t)
	h, e := bundleFixture(t, src)
	b, err := src.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(b *RunBundle)
		want string
	}{
		{"empty hash", func(b *RunBundle) { b.Hash = "" }, "empty hash"},
		{"config not JSON", func(b *RunBundle) { b.Config = "{" }, "not valid JSON"},
		{"eval config not JSON", func(b *RunBundle) { b.EvalConfigs[e] = "nope" }, "not valid JSON"},
		{"eval config with a glob hash", func(b *RunBundle) { b.EvalConfigs["a*"] = "{}" }, "glob"},
		{"eval run without its config", func(b *RunBundle) { delete(b.EvalConfigs, e) }, "without its config"},
		{"foreign run", func(b *RunBundle) { b.Runs[2].ParentHash = hashOf("x") }, "belongs neither"},
		{"attempt 0", func(b *RunBundle) { b.Runs[0].Attempt = 0 }, "below 1"},
		{"duplicate attempt", func(b *RunBundle) { b.Runs[1].Attempt = 1 }, "appears twice"},
		{"unknown kind", func(b *RunBundle) { b.Runs[0].Kind = "magic" }, "unknown kind"},
		{"unknown status", func(b *RunBundle) { b.Runs[0].Status = "lost" }, "unknown status"},
		{"no creation time", func(b *RunBundle) { b.Runs[0].Created = time.Time{} }, "no creation time"},
		{"year 10000", func(b *RunBundle) { b.Runs[0].Finished = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "years 0 to 9999"},
		{"negative threads", func(b *RunBundle) { b.Runs[0].Threads = -1 }, "negative thread"},
		{"summary not JSON", func(b *RunBundle) { b.Runs[1].SummaryJSON = "{" }, "summary"},
		{"metric without a name", func(b *RunBundle) { b.Runs[1].Metrics[0].Name = "" }, "empty name"},
		{"metric twice", func(b *RunBundle) { b.Runs[1].Metrics[1] = b.Runs[1].Metrics[0] }, "appears twice"},
		{"task result without a metric", func(b *RunBundle) { b.Runs[2].TaskResults[0].Metric = "" }, "needs both"},
		{"task result twice", func(b *RunBundle) { b.Runs[2].TaskResults[1] = b.Runs[2].TaskResults[0] }, "appears twice"},
		{"task result negative n", func(b *RunBundle) { b.Runs[2].TaskResults[0].N = -1 }, "negative n"},
		{"artifact bad sha256", func(b *RunBundle) { b.Runs[1].Artifacts[0].SHA256 = "abc" }, "sha256"},
		{"artifact negative size", func(b *RunBundle) { b.Runs[1].Artifacts[0].Bytes = -1 }, "negative size"},
		{"artifact without a path", func(b *RunBundle) { b.Runs[1].Artifacts[0].Path = "" }, "kind and a path"},
		{"artifact path twice, different files", func(b *RunBundle) {
			b.Runs[1].Artifacts[1].Path = b.Runs[1].Artifacts[0].Path
		}, "appears twice with different content"},
		{"artifact without a time", func(b *RunBundle) { b.Runs[1].Artifacts[0].Created = time.Time{} }, "no creation time"},
		{"artifact path leaving the root", func(b *RunBundle) { b.Runs[1].Artifacts[0].Path = "../../etc/passwd" }, "leaves the project root"},
		{"artifact path climbing out of a run directory", func(b *RunBundle) { b.Runs[1].Artifacts[0].Path = "runs/" + h + "/../../../x" }, "leaves the project root"},
		{"two spellings of one path, different files", func(b *RunBundle) {
			a := b.Runs[1].Artifacts[0]
			a.Path, a.SHA256 = "/old/machine/project/"+a.Path, hashOf("other")
			b.Runs[1].Artifacts = append(b.Runs[1].Artifacts, a)
		}, "appears twice with different content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openTemp(t)
			imp := cloneBundle(b)
			c.edit(imp)
			_, err := db.ImportRun(imp)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one mentioning %q", err, c.want)
			}
			if d := tableDump(t, db); d != "" {
				t.Errorf("refused import wrote rows:\n%s", d)
			}
		})
	}
	if _, err := openTemp(t).ImportRun(nil); err == nil {
		t.Error("nil bundle accepted")
	}
}

func TestTimeTextRoundTrip(t *testing.T) {
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("x", 3600))
	s := FormatTime(ts)
	if s != "2024-02-29T22:59:58.123456789Z" {
		t.Errorf("FormatTime = %s", s)
	}
	back, err := ParseTime(s)
	if err != nil || !back.Equal(ts) {
		t.Errorf("ParseTime(%s) = %v, %v", s, back, err)
	}
	if z, err := ParseTime(""); err != nil || !z.IsZero() {
		t.Errorf(`ParseTime("") = %v, %v`, z, err)
	}
	if _, err := ParseTime("yesterday"); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Errorf("ParseTime(yesterday): %v", err)
	}
}

// Bundles written by older harness versions carry the exporting machine's
// artifact paths; they are stored relative to the project root, as the
// schema 2 migration stores old rows.
func TestImportRunStoresRootRelativePaths(t *testing.T) {
	src := openTemp(t)
	h, _ := bundleFixture(t, src)
	b, err := src.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	old := cloneBundle(b)
	arts := old.Runs[1].Artifacts
	rel := arts[0].Path
	arts[0].Path = "/home/someone/project/" + rel
	// The same file recorded earlier under a working-directory spelling.
	early := arts[0]
	early.Path, early.Created = "./"+rel, early.Created.Add(-time.Hour)
	old.Runs[1].Artifacts = append(arts, early)
	if err := old.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	db := openTemp(t)
	st, err := db.ImportRun(old)
	if err != nil {
		t.Fatal(err)
	}
	if st.Artifacts != 2 {
		t.Errorf("%d artifacts recorded, want 2 (the two spellings are one file)", st.Artifacts)
	}
	got, err := db.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := bundleText(got), bundleText(b); g != w {
		t.Errorf("stored rows differ from the source's:\n got %s\nwant %s", g, w)
	}
	if old.Runs[1].Artifacts[0].Path != "/home/someone/project/"+rel {
		t.Errorf("ImportRun changed the caller's bundle")
	}
	// Importing the old bundle again, or the new one, is a no-op.
	for _, imp := range []*RunBundle{old, b} {
		st, err := db.ImportRun(imp)
		if err != nil || st.RunsPresent != 3 || st.RunsAdded != 0 {
			t.Errorf("re-import: %+v, %v", st, err)
		}
	}
}
