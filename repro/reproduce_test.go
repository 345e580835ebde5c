package repro

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

func countRuns(t *testing.T, db *registry.DB, hash string) int {
	t.Helper()
	var n int
	if err := rawDB(t, db).QueryRow(`SELECT COUNT(*) FROM runs WHERE hash = ?`, hash).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func reportText(r *Report) string {
	var sb strings.Builder
	_ = r.WriteText(&sb, true)
	return sb.String()
}

func TestReproduceBitIdentical(t *testing.T) {
	s := sharedRun(t)
	scratchParent := t.TempDir()
	r, err := Reproduce(context.Background(), s.env, s.res.Hash, Options{ScratchParent: scratchParent})
	if err != nil {
		t.Fatalf("reproduce: %v", err)
	}
	if ents, _ := os.ReadDir(scratchParent); len(ents) != 0 {
		t.Errorf("scratch directory left behind: %v", ents)
	}
	text := reportText(r)
	if !r.Identical() || r.Verdict() != "bit identical" {
		t.Fatalf("reproduction differs:\n%s", text)
	}
	if !strings.Contains(text, "result: bit identical") {
		t.Errorf("report text lacks the verdict:\n%s", text)
	}
	// By default only mismatches are listed, with the counts.
	var brief strings.Builder
	if err := r.WriteText(&brief, false); err != nil {
		t.Fatal(err)
	}
	wantCount := fmt.Sprintf("%d checks: %d identical, 0 differ,", len(r.Checks), len(r.Checks)-countStatus(r, Skipped))
	if d := brief.String(); !strings.Contains(d, wantCount) || strings.Contains(d, "metric loss") || strings.Count(d, "\n") > strings.Count(text, "\n")/2 {
		t.Errorf("default report should list only non-matching checks and %q:\n%s", wantCount, d)
	}
	want := map[string]Status{
		"metric loss": Identical, "metric grad_norm": Identical, "metric lr": Identical, "metric val_loss": Identical,
		"metric tokens_per_sec": Skipped, "checkpoint sha256": Identical, "summary val_bpb": Identical,
		"task blimp_anaphor_gender_agreement acc [eval " + short(s.eval.Hash) + "]": Identical,
	}
	got := map[string]Check{}
	for _, c := range r.Checks {
		got[c.Name] = c
	}
	for name, st := range want {
		c, ok := got[name]
		if !ok || c.Status != st || c.Compared < 1 {
			t.Errorf("check %q = %+v (present %v), want status %s with values compared", name, c, ok, st)
		}
	}
	if got["metric loss"].Compared != 4 {
		t.Errorf("loss series compared %d points, want 4 (16 steps, logged every 4)", got["metric loss"].Compared)
	}
	if n := countRuns(t, s.env.DB, s.res.Hash); n != 1 {
		t.Errorf("the reviewer's registry has %d attempts after reproducing in scratch, want 1", n)
	}
	if r.ScratchDir != "" {
		t.Errorf("scratch dir %q reported without Keep", r.ScratchDir)
	}
}

func TestReproduceKeepAndNewAttempt(t *testing.T) {
	c := microConfig(t, projectRoot)
	env := newEnv(t, tempRoot(t, c))
	res := trainMicro(t, env, c)
	r, err := Reproduce(context.Background(), env, res.Hash, Options{NewAttempt: true, Keep: true, SkipEval: true, ScratchParent: t.TempDir()})
	if err != nil {
		t.Fatalf("reproduce: %v", err)
	}
	if !r.Identical() {
		t.Fatalf("new attempt differs:\n%s", reportText(r))
	}
	if n := countRuns(t, env.DB, res.Hash); n != 2 {
		t.Errorf("registry has %d attempts after a new-attempt reproduction, want 2", n)
	}
	if r.RerunID == res.RunID || r.RerunRegistry != env.DB.Path() {
		t.Errorf("rerun recorded as run %d in %s; want a new run in %s", r.RerunID, r.RerunRegistry, env.DB.Path())
	}
	if st, err := os.Stat(r.ScratchDir); err != nil || !st.IsDir() {
		t.Errorf("Keep: scratch dir %q not kept: %v", r.ScratchDir, err)
	}
}

// TestReproduceReportsMismatch edits the record after training and checks
// that the report names the first divergent step and metric.
func TestReproduceReportsMismatch(t *testing.T) {
	cases := []struct {
		name       string
		edit       func(t *testing.T, env *experiment.Env, hash string, runID int64)
		wantStep   int64
		wantMetric string
		config     bool // the edit breaks the config's hash
	}{
		{
			name: "learning rate edited in the stored config",
			edit: func(t *testing.T, env *experiment.Env, hash string, _ int64) {
				js, err := env.DB.Config(hash)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(js), &m); err != nil {
					t.Fatal(err)
				}
				lr := m["train"].(map[string]any)["lr"].(float64)
				old := `"lr":` + formatFloat(lr)
				if !strings.Contains(js, old) {
					t.Fatalf("canonical JSON lacks %s", old)
				}
				execSQL(t, env.DB, `UPDATE configs SET json = ? WHERE hash = ?`, strings.Replace(js, old, `"lr":`+formatFloat(lr*3), 1), hash)
			},
			// Logging starts at step 4; the first series by name there is grad_norm.
			wantStep: 4, wantMetric: "grad_norm", config: true,
		},
		{
			name: "loss edited at step 12",
			edit: func(t *testing.T, env *experiment.Env, _ string, runID int64) {
				execSQL(t, env.DB, `UPDATE metrics SET value = value + 0.5 WHERE run_id = ? AND name = 'loss' AND step = 12`, runID)
			},
			wantStep: 12, wantMetric: "loss",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := microConfig(t, projectRoot)
			env := newEnv(t, tempRoot(t, c))
			res := trainMicro(t, env, c)
			recorded, err := env.DB.Metrics(res.RunID, tc.wantMetric)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(t, env, res.Hash, res.RunID)
			edited, err := env.DB.Metrics(res.RunID, tc.wantMetric)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Reproduce(context.Background(), env, res.Hash, Options{SkipEval: true})
			if err != nil {
				t.Fatalf("reproduce: %v", err)
			}
			text := reportText(r)
			if r.Identical() {
				t.Fatalf("edited record reported identical:\n%s", text)
			}
			d, ok := r.FirstDivergence()
			if !ok || d.Step != tc.wantStep || d.Metric != tc.wantMetric {
				t.Fatalf("first divergence %+v, want step %d metric %s:\n%s", d, tc.wantStep, tc.wantMetric, text)
			}
			var recVal, origVal string
			for i, m := range edited {
				if m.Step == tc.wantStep {
					recVal, origVal = formatFloat(m.Value), formatFloat(recorded[i].Value)
				}
			}
			if d.Recorded != recVal {
				t.Errorf("divergence records %s, the registry holds %s", d.Recorded, recVal)
			}
			if !tc.config && d.Reproduced != origVal {
				t.Errorf("reproduced value %s, want the value before the edit %s", d.Reproduced, origVal)
			}
			if d.Reproduced == d.Recorded {
				t.Errorf("divergence with equal values %s", d.Recorded)
			}
			if (r.ConfigProblem != "") != tc.config {
				t.Errorf("config problem %q, want one: %v", r.ConfigProblem, tc.config)
			}
			if !strings.Contains(r.Verdict(), "MISMATCH") || !strings.Contains(text, tc.wantMetric) {
				t.Errorf("verdict %q / report lacks the metric:\n%s", r.Verdict(), text)
			}
		})
	}
}

func TestReproduceDataChanged(t *testing.T) {
	c := microConfig(t, projectRoot)
	root := tempRoot(t, c)
	env := newEnv(t, root)
	res := trainMicro(t, env, c)
	src := filepath.Join(root, c.Data.Sources[0].Path)
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Reproduce(context.Background(), env, res.Hash, Options{})
	if err != nil {
		t.Fatalf("reproduce: %v", err)
	}
	if r.Identical() || len(r.DataMismatches) != 1 || len(r.Checks) != 0 {
		t.Fatalf("want one data mismatch and nothing re-run, got %+v", r)
	}
	m := r.DataMismatches[0]
	if m.Key != "data.sources[0]" || m.Name != c.Data.Sources[0].Name || m.Recorded != c.Data.Sources[0].Fingerprint ||
		m.Current == "" || m.Current == m.Recorded {
		t.Errorf("mismatch %+v does not name the changed source", m)
	}
	if v := r.Verdict(); !strings.Contains(v, "data changed") || !strings.Contains(v, m.Name) {
		t.Errorf("verdict %q does not name the changed source", v)
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	r, err = Reproduce(context.Background(), env, res.Hash, Options{})
	if err != nil || len(r.DataMismatches) != 1 || r.DataMismatches[0].Err == "" {
		t.Fatalf("missing data file: report %+v, err %v; want a mismatch with the reason", r, err)
	}
}

func TestReproduceRefuses(t *testing.T) {
	s := sharedRun(t)
	cases := []struct{ name, hash, want string }{
		{"eval run", s.eval.Hash, "eval run"},
		{"unknown hash", strings.Repeat("ab", 32), "no run with this hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reproduce(context.Background(), s.env, tc.hash, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func execSQL(t *testing.T, db *registry.DB, q string, args ...any) {
	t.Helper()
	res, err := rawDB(t, db).Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", q, n)
	}
}

func countStatus(r *Report, st Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == st {
			n++
		}
	}
	return n
}
