package registry

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func itemFixture() []ItemScores {
	acc := make([]float64, 1000)
	for i := range acc {
		acc[i] = float64(i % 3 % 2)
	}
	return []ItemScores{
		{Task: "piqa", Filter: "none", Metric: "acc", DocDigest: hashOf("piqa docs"), Values: []float64{1, 0, 1}},
		{Task: "blimp_anaphor", Filter: "none", Metric: "acc", DocDigest: hashOf("blimp docs"), Values: acc},
		{Task: "lambada", Filter: "none", Metric: "ppl", DocDigest: hashOf("lambada docs"), Values: []float64{1.5, math.SmallestNonzeroFloat64, -0.0, 1e300}},
	}
}

// Item scores round-trip bit for bit through an attempt, are ordered by
// task, filter and metric, and are never replaced.
func TestItemScoresRoundTrip(t *testing.T) {
	db := openTemp(t)
	h := hashOf("eval run")
	if err := db.PutConfig(h, `{}`); err != nil {
		t.Fatal(err)
	}
	att, err := db.Start(RunInfo{Hash: h, Kind: KindEval}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := itemFixture()
	if err := att.PutItemScores(in); err != nil {
		t.Fatal(err)
	}
	if err := att.PutItemScores(in[:1]); err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Errorf("second put of piqa/acc: %v, want an 'already recorded' error", err)
	}
	if err := att.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.ItemScores(att.RunID())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(in)
	sortItemScores(want)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Task != w.Task || g.Filter != w.Filter || g.Metric != w.Metric || g.DocDigest != w.DocDigest || len(g.Values) != len(w.Values) {
			t.Fatalf("row %d: %+v, want %+v", i, g, w)
		}
		for k := range w.Values {
			if math.Float64bits(g.Values[k]) != math.Float64bits(w.Values[k]) {
				t.Fatalf("%s value %d: %v, want %v (bits)", w.Task, k, g.Values[k], w.Values[k])
			}
		}
	}
	// The 0/1 column compresses: far below 8 bytes per document.
	var size int
	if err := db.sql.QueryRow(`SELECT length(vals) FROM item_scores WHERE task = 'blimp_anaphor'`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size > 1000 {
		t.Errorf("1000 0/1 values stored in %d bytes", size)
	}
	if none, err := db.ItemScores(att.RunID() + 100); err != nil || len(none) != 0 {
		t.Errorf("a run without item scores: %v %v", none, err)
	}
}

func TestItemScoresRefusesInvalid(t *testing.T) {
	db := openTemp(t)
	h := hashOf("eval run")
	if err := db.PutConfig(h, `{}`); err != nil {
		t.Fatal(err)
	}
	att, err := db.Start(RunInfo{Hash: h, Kind: KindEval}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ok := ItemScores{Task: "piqa", Filter: "none", Metric: "acc", DocDigest: hashOf("d"), Values: []float64{1}}
	for _, c := range []struct {
		name string
		edit func(*ItemScores)
		want string
	}{
		{"no task", func(s *ItemScores) { s.Task = "" }, "empty task"},
		{"no metric", func(s *ItemScores) { s.Metric = "" }, "empty metric"},
		{"no values", func(s *ItemScores) { s.Values = nil }, "no values"},
		{"bad digest", func(s *ItemScores) { s.DocDigest = "abc" }, "64 lowercase hex"},
		{"NaN", func(s *ItemScores) { s.Values = []float64{math.NaN()} }, "must be finite"},
		{"Inf", func(s *ItemScores) { s.Values = []float64{0, math.Inf(-1)} }, "must be finite"},
	} {
		s := ok
		c.edit(&s)
		if err := att.PutItemScores([]ItemScores{s}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if got, err := db.ItemScores(att.RunID()); err != nil || len(got) != 0 {
		t.Errorf("refused rows were recorded: %v %v", got, err)
	}
}

// A file at schema 2 (the committed registry's version) reads as having no
// item scores without being migrated; the first eval that records them
// adds the table. Bundles carry item scores, and an import compares them.
func TestItemScoresOnDemandAndBundles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := mustOpen(t, path)
	if _, err := db.sql.Exec(`DROP TABLE item_scores; DROP TABLE queue; PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro := mustOpenRO(t, path)
	if got, err := ro.ItemScores(1); err != nil || got != nil {
		t.Fatalf("item scores of a schema-2 file: %v %v", got, err)
	}
	ro.Close()

	db = mustOpen(t, path)
	defer db.Close()
	h, e := bundleFixture(t, db)
	var v int
	if err := db.sql.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("before item scores: user_version %d (%v), want 2", v, err)
	}
	b0, err := db.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b0.Runs {
		if r.ItemScores != nil {
			t.Errorf("schema-2 export has item scores for %s", r.Hash[:8])
		}
	}
	att, err := db.Start(RunInfo{Hash: e, Kind: KindEval, ParentHash: h}, StartOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := att.PutItemScores(itemFixture()); err != nil {
		t.Fatal(err)
	}
	if err := att.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.sql.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != itemsVersion {
		t.Fatalf("after item scores: user_version %d (%v), want %d", v, err, itemsVersion)
	}
	b, err := db.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, r := range b.Runs {
		n += len(r.ItemScores)
	}
	if n != 3 {
		t.Fatalf("bundle has %d item score rows, want 3", n)
	}

	// Into a fresh schema-2 registry: the import adds the table and rows.
	p2 := filepath.Join(t.TempDir(), "dst.db")
	dst := mustOpen(t, p2)
	defer dst.Close()
	if _, err := dst.sql.Exec(`DROP TABLE item_scores; DROP TABLE queue; PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.ImportRun(b); err != nil {
		t.Fatal(err)
	}
	again, err := dst.ExportRun(h)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := bundleText(again), bundleText(b); g != w {
		t.Errorf("re-export differs:\n got %s\nwant %s", g, w)
	}
	// The same bundle again is present; one with a changed item value is a
	// conflict, and nothing is replaced.
	if st, err := dst.ImportRun(b); err != nil || st.RunsAdded != 0 {
		t.Fatalf("second import: %+v %v", st, err)
	}
	bad := *b
	bad.Runs = slices.Clone(b.Runs)
	for i := range bad.Runs {
		if len(bad.Runs[i].ItemScores) > 0 {
			is := slices.Clone(bad.Runs[i].ItemScores)
			is[0].Values = slices.Clone(is[0].Values)
			is[0].Values[0] += 1
			bad.Runs[i].ItemScores = is
		}
	}
	if _, err := dst.ImportRun(&bad); err == nil || !strings.Contains(err.Error(), "item scores") {
		t.Errorf("changed item value: %v, want a conflict naming the item scores", err)
	}
}
