package registry

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigRoundTrip(t *testing.T) {
	db := openTemp(t)
	h := hashOf(`{"d_model":64}`)
	if err := db.PutConfig(h, `{"d_model":64}`); err != nil {
		t.Fatal(err)
	}
	if err := db.PutConfig(h, `{"d_model":64}`); err != nil {
		t.Fatalf("idempotent PutConfig: %v", err)
	}
	if js := mustConfig(t, db, h); js != `{"d_model":64}` {
		t.Fatalf("Config = %q", js)
	}
	for _, tc := range []struct{ name, hash, json, want string }{
		{"different JSON", h, `{"d_model":65}`, "different JSON"},
		{"invalid JSON", hashOf("x"), `{"d_model":`, "not valid JSON"},
		{"empty hash", "", `{}`, "empty hash"},
	} {
		if err := db.PutConfig(tc.hash, tc.json); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: PutConfig error = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := db.Config(hashOf("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Config(missing) = %v, want ErrNotFound", err)
	}
}

func TestRunLifecycle(t *testing.T) {
	db := openTemp(t)
	h := hashOf("run")
	before := time.Now().Add(-time.Second)
	r1, err := db.BeginRun(RunInfo{Hash: h, Kind: KindTrain, Name: "tiny", ParentHash: hashOf("p"), Threads: 2, KernelSet: "generic"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Attempt != 1 || r1.Status != StatusRunning || r1.Started.Before(before) || r1.Heartbeat != r1.Started {
		t.Fatalf("first run = %+v", r1)
	}
	if r1.GoVersion == "" || r1.OS == "" || r1.CPU == "" || r1.CodeVersion == "" {
		t.Fatalf("environment not filled in: %+v", r1)
	}
	if r1.CodeVersion != "unknown" && (len(r1.CodeVersion) != 40 || strings.Trim(r1.CodeVersion, "0123456789abcdef") != "") {
		t.Fatalf("code version %q is neither a commit id nor \"unknown\"", r1.CodeVersion)
	}
	got, err := db.RunByID(r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *r1 {
		t.Fatalf("RunByID = %+v\nwant      %+v", got, r1)
	}
	if _, err := db.DoneRun(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DoneRun before finish = %v, want ErrNotFound", err)
	}
	if err := db.SetSummary(r1.ID, `{"loss":1.5}`); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(r1.ID, StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	r2, err := db.BeginRun(RunInfo{Hash: h, Kind: KindTrain})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Attempt != 2 {
		t.Fatalf("second attempt = %d, want 2", r2.Attempt)
	}
	if err := db.FinishRun(r2.ID, StatusFailed, "NaN loss at step 7"); err != nil {
		t.Fatal(err)
	}
	latest, err := db.LatestRun(h)
	if err != nil || latest.ID != r2.ID || latest.Status != StatusFailed || latest.Error != "NaN loss at step 7" || latest.Finished.IsZero() {
		t.Fatalf("LatestRun = %+v, %v", latest, err)
	}
	done, err := db.DoneRun(h)
	if err != nil || done.ID != r1.ID || done.SummaryJSON != `{"loss":1.5}` {
		t.Fatalf("DoneRun = %+v, %v", done, err)
	}

	time.Sleep(2 * time.Millisecond)
	if err := db.ReopenRun(r2.ID); err != nil {
		t.Fatal(err)
	}
	re, _ := db.RunByID(r2.ID)
	if re.Status != StatusRunning || re.Error != "" || !re.Finished.IsZero() || !re.Heartbeat.After(r2.Heartbeat) {
		t.Fatalf("reopened run = %+v", re)
	}
	time.Sleep(2 * time.Millisecond)
	if err := db.Heartbeat(r2.ID); err != nil {
		t.Fatal(err)
	}
	hb, _ := db.RunByID(r2.ID)
	if !hb.Heartbeat.After(re.Heartbeat) {
		t.Fatalf("heartbeat did not advance: %v then %v", re.Heartbeat, hb.Heartbeat)
	}

	errCases := []struct {
		name string
		err  error
		want string
	}{
		{"unknown kind", second(db.BeginRun(RunInfo{Hash: h, Kind: "training"})), `unknown kind "training"`},
		{"empty hash", second(db.BeginRun(RunInfo{Kind: KindEval})), "empty hash"},
		{"non-final status", db.FinishRun(r2.ID, StatusQueued, ""), `status "queued" is not final`},
		{"missing run finish", db.FinishRun(9999, StatusDone, ""), ErrNotFound.Error()},
		{"missing run heartbeat", db.Heartbeat(9999), ErrNotFound.Error()},
		{"missing run reopen", db.ReopenRun(9999), ErrNotFound.Error()},
		{"bad summary", db.SetSummary(r1.ID, "{"), "not valid JSON"},
		{"missing run by id", second(db.RunByID(9999)), ErrNotFound.Error()},
		{"missing latest", second(db.LatestRun(hashOf("none"))), ErrNotFound.Error()},
	}
	for _, tc := range errCases {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestRunsFilter(t *testing.T) {
	db := openTemp(t)
	var ids []int64
	for i, kind := range []string{KindTrain, KindEval, KindTrain, KindBench, KindHPOTrial, KindAblationArm} {
		r, err := db.BeginRun(RunInfo{Hash: hashOf(string(rune('a' + i))), Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := db.FinishRun(ids[0], StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ids[4], StatusPruned, ""); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f    RunFilter
		want []int64
	}{
		{RunFilter{}, []int64{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{RunFilter{Kind: KindTrain}, []int64{ids[2], ids[0]}},
		{RunFilter{Status: StatusRunning}, []int64{ids[5], ids[3], ids[2], ids[1]}},
		{RunFilter{Status: StatusRunning, Kind: KindTrain}, []int64{ids[2]}},
		{RunFilter{Status: StatusPruned}, []int64{ids[4]}},
		{RunFilter{Limit: 2}, []int64{ids[5], ids[4]}},
		{RunFilter{Status: StatusQueued}, nil},
	}
	for _, tc := range cases {
		runs, err := db.Runs(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Runs(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := db.Runs(RunFilter{Status: "finished"}); err == nil || !strings.Contains(err.Error(), "valid: queued") {
		t.Errorf("bad status filter error = %v", err)
	}
}

func TestResolvePrefix(t *testing.T) {
	db := openTemp(t)
	pad := func(p string) string { return p + strings.Repeat("0", 64-len(p)) }
	a, b, c, runOnly := pad("abcdef01"), pad("abcdef02"), pad("12345678"), pad("fedc")
	for _, h := range []string{a, b, c} {
		if err := db.PutConfig(h, `{}`); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{c, runOnly} { // c is both a config and a run
		if _, err := db.BeginRun(RunInfo{Hash: h, Kind: KindEval}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		prefix, want string
		wantErr      error
		errText      string
	}{
		{"abcdef01", a, nil, ""},
		{"ABCDEF02", b, nil, ""},
		{"1234", c, nil, ""},
		{"fedc", runOnly, nil, ""},
		{a, a, nil, ""},
		{"abcdef0", "", ErrAmbiguousPrefix, a + ", " + b},
		{"abcd", "", ErrAmbiguousPrefix, "give more digits"},
		{"9999", "", ErrNotFound, `"9999"`},
		{"abc", "", nil, "at least 4 hex digits"},
		{"wxyz", "", nil, "not hexadecimal"},
	}
	for _, tc := range cases {
		got, err := db.ResolvePrefix(tc.prefix)
		switch {
		case tc.want != "":
			if err != nil || got != tc.want {
				t.Errorf("ResolvePrefix(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
			}
		case err == nil:
			t.Errorf("ResolvePrefix(%q) = %q, want an error", tc.prefix, got)
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("ResolvePrefix(%q) error = %v, want %v", tc.prefix, err, tc.wantErr)
		case !strings.Contains(err.Error(), tc.errText):
			t.Errorf("ResolvePrefix(%q) error = %v, want it to mention %q", tc.prefix, err, tc.errText)
		}
	}
}

func TestMetricsRoundTrip(t *testing.T) {
	db := openTemp(t)
	r, err := db.BeginRun(RunInfo{Hash: hashOf("m"), Kind: KindTrain})
	if err != nil {
		t.Fatal(err)
	}
	ms := []Metric{
		{Step: 2, Name: "loss", Value: 2.5},
		{Step: 0, Name: "loss", Value: 4.25},
		{Step: 1, Name: "loss", Value: math.NaN()},
		{Step: 1, Name: "lr", Value: 1e-3},
		{Step: 3, Name: "loss", Value: math.Inf(1)},
	}
	if err := db.LogMetrics(r.ID, ms); err != nil {
		t.Fatal(err)
	}
	// A resumed run rewrites step 2 and adds step 4: no duplicates.
	if err := db.LogMetrics(r.ID, []Metric{{Step: 2, Name: "loss", Value: 2.0}, {Step: 4, Name: "loss", Value: 1.0}}); err != nil {
		t.Fatal(err)
	}
	loss, err := db.Metrics(r.ID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := []int64{0, 1, 2, 3, 4}
	wantVals := []float64{4.25, math.NaN(), 2.0, math.Inf(1), 1.0}
	if len(loss) != len(wantSteps) {
		t.Fatalf("loss series = %+v", loss)
	}
	for i, m := range loss {
		same := m.Value == wantVals[i] || (math.IsNaN(m.Value) && math.IsNaN(wantVals[i]))
		if m.Step != wantSteps[i] || m.Name != "loss" || !same {
			t.Errorf("loss[%d] = %+v, want step %d value %v", i, m, wantSteps[i], wantVals[i])
		}
	}
	names, err := db.MetricNames(r.ID)
	if err != nil || !slices.Equal(names, []string{"loss", "lr"}) {
		t.Fatalf("MetricNames = %v, %v", names, err)
	}
	last, err := db.LastMetric(r.ID, "loss")
	if err != nil || last != (Metric{Step: 4, Name: "loss", Value: 1.0}) {
		t.Fatalf("LastMetric = %+v, %v", last, err)
	}
	if _, err := db.LastMetric(r.ID, "acc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LastMetric(acc) = %v, want ErrNotFound", err)
	}
	if err := db.LogMetrics(9999, []Metric{{Name: "loss"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LogMetrics on a missing run = %v, want ErrNotFound", err)
	}
	if err := db.LogMetrics(r.ID, []Metric{{Step: 5, Name: "ok"}, {Step: 5, Name: ""}}); err == nil {
		t.Fatal("empty metric name accepted")
	}
	if names, _ := db.MetricNames(r.ID); len(names) != 2 {
		t.Fatalf("a rejected batch left rows behind: %v", names)
	}
}

func TestTaskResultsRoundTrip(t *testing.T) {
	db := openTemp(t)
	r, err := db.BeginRun(RunInfo{Hash: hashOf("eval"), Kind: KindEval})
	if err != nil {
		t.Fatal(err)
	}
	in := []TaskResult{
		{Task: "piqa", Metric: "acc_norm", Value: 0.61, Stderr: 0.011, N: 1838},
		{Task: "arc_easy", Metric: "acc", Value: 0.42, Stderr: 0.01, N: 2376},
		{Task: "piqa", Metric: "acc", Value: 0.6, Stderr: 0.0114, N: 1838},
	}
	if err := db.PutTaskResults(r.ID, in); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTaskResults(r.ID, []TaskResult{{Task: "piqa", Metric: "acc", Value: 0.62, Stderr: 0.0113, N: 1838}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.TaskResults(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []TaskResult{in[1], {Task: "piqa", Metric: "acc", Value: 0.62, Stderr: 0.0113, N: 1838}, in[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("TaskResults = %+v\nwant %+v", got, want)
	}
	if err := db.PutTaskResults(r.ID, []TaskResult{{Task: "piqa"}}); err == nil {
		t.Fatal("a result without a metric name was accepted")
	}
}

func TestArtifactsRoundTrip(t *testing.T) {
	db := openTemp(t)
	r1, _ := db.BeginRun(RunInfo{Hash: hashOf("a1"), Kind: KindTrain})
	r2, _ := db.BeginRun(RunInfo{Hash: hashOf("a2"), Kind: KindTrain})
	ck := Artifact{RunID: r1.ID, Kind: "checkpoint", Path: "runs/a1/ckpt.bin", SHA256: hashOf("v1"), Bytes: 1024}
	for _, a := range []Artifact{
		ck,
		{RunID: r1.ID, Kind: "gguf", Path: "runs/a1/model.gguf", SHA256: hashOf("g"), Bytes: 77},
		{RunID: r2.ID, Kind: "checkpoint", Path: "runs/a2/ckpt.bin", SHA256: hashOf("v2"), Bytes: 5},
	} {
		if err := db.PutArtifact(a); err != nil {
			t.Fatal(err)
		}
	}
	ck.SHA256, ck.Bytes = hashOf("v1b"), 2048 // rewritten checkpoint replaces the entry
	if err := db.PutArtifact(ck); err != nil {
		t.Fatal(err)
	}
	as, err := db.Artifacts(r1.ID)
	if err != nil || len(as) != 2 || as[0] != ck || as[1].Kind != "gguf" {
		t.Fatalf("Artifacts = %+v, %v", as, err)
	}
	all, err := db.AllArtifacts()
	if err != nil || len(all) != 3 || all[2].RunID != r2.ID {
		t.Fatalf("AllArtifacts = %+v, %v", all, err)
	}
	for _, bad := range []Artifact{
		{RunID: r1.ID, Kind: "x", Path: "p", SHA256: "abc", Bytes: 1},
		{RunID: r1.ID, Kind: "", Path: "p", SHA256: hashOf("x"), Bytes: 1},
		{RunID: r1.ID, Kind: "x", Path: "p", SHA256: hashOf("x"), Bytes: -1},
	} {
		if err := db.PutArtifact(bad); err == nil {
			t.Errorf("PutArtifact(%+v) accepted", bad)
		}
	}
	if err := db.PutArtifact(Artifact{RunID: 999, Kind: "x", Path: "p", SHA256: hashOf("x")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("artifact of a missing run: %v, want ErrNotFound", err)
	}
}

func TestAblationsRoundTrip(t *testing.T) {
	db := openTemp(t)
	matrix := `{"arms":{"subln":[true,false]},"seeds":[1,2]}`
	members := []AblationMember{
		{0, hashOf("on-1"), "subln=true", 1},
		{0, hashOf("off-1"), "subln=false", 1},
		{0, hashOf("on-2"), "subln=true", 2},
	}
	def := AblationDef{Name: "subln", Baseline: "subln=true", Metrics: []string{"val_bpb"}, Tasks: []string{"piqa", "blimp"}, Limit: 50, Members: members}
	id, err := db.PutAblation(def, matrix)
	if err != nil {
		t.Fatal(err)
	}
	// The same definition in another order is the same record.
	shuffled := def
	shuffled.Members = []AblationMember{members[2], members[0], members[1]}
	shuffled.Tasks = []string{"blimp", "piqa"}
	again, err := db.PutAblation(shuffled, matrix)
	if err != nil || again != id {
		t.Fatalf("PutAblation again = %d, %v; want %d", again, err, id)
	}
	// Every part of the definition is part of its identity.
	for name, change := range map[string]func(d *AblationDef){
		"limit":   func(d *AblationDef) { d.Limit = 0 },
		"tasks":   func(d *AblationDef) { d.Tasks = []string{"piqa"} },
		"members": func(d *AblationDef) { d.Members = members[:2] },
		"seed": func(d *AblationDef) {
			d.Members = []AblationMember{members[0], members[1], {0, hashOf("on-2"), "subln=true", 3}}
		},
		"baseline": func(d *AblationDef) { d.Baseline = "subln=false" },
		"metrics":  func(d *AblationDef) { d.Metrics = []string{"val_loss"} },
	} {
		d := def
		change(&d)
		if d.Hash() == def.Hash() {
			t.Errorf("changing the %s keeps the definition hash", name)
		}
	}
	other := def
	other.Members = members[:1]
	oid, err := db.PutAblation(other, matrix)
	if err != nil || oid == id {
		t.Fatalf("a different definition with the same name and matrix JSON got id %d (%v)", oid, err)
	}
	bad := def
	bad.Members = append([]AblationMember{{0, hashOf("on-1"), "subln=false", 1}}, members...)
	if _, err := db.PutAblation(bad, matrix); err == nil || !strings.Contains(err.Error(), "is both arm") {
		t.Fatalf("conflicting member: %v", err)
	}
	got, err := db.AblationMembers(id)
	want := []AblationMember{members[1], members[0], members[2]}
	for i := range want {
		want[i].AblationID = id
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("AblationMembers = %+v, %v\nwant %+v", got, err, want)
	}
	abl, err := db.Ablations()
	if err != nil || len(abl) != 2 || abl[0].ID != id || abl[0].Name != "subln" || abl[0].MatrixJSON != matrix || abl[0].Created.IsZero() || abl[0].DefHash != def.Hash() {
		t.Fatalf("Ablations = %+v, %v", abl, err)
	}
	if _, err := db.PutAblation(AblationDef{Name: "x"}, "{"); err == nil {
		t.Fatal("invalid matrix JSON accepted")
	}
}

func TestMarkStale(t *testing.T) {
	db := openTemp(t)
	old, _ := db.BeginRun(RunInfo{Hash: hashOf("old"), Kind: KindTrain})
	fresh, _ := db.BeginRun(RunInfo{Hash: hashOf("fresh"), Kind: KindTrain})
	doneOld, _ := db.BeginRun(RunInfo{Hash: hashOf("done"), Kind: KindTrain})
	if err := db.FinishRun(doneOld.ID, StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec(`UPDATE runs SET heartbeat = '2020-01-02T03:04:05.000000000Z' WHERE id IN (?, ?)`, old.ID, doneOld.ID); err != nil {
		t.Fatal(err)
	}
	n, err := db.MarkStale(time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("MarkStale = %d, %v; want 1", n, err)
	}
	got, _ := db.RunByID(old.ID)
	if got.Status != StatusFailed || got.Error != "stale: no heartbeat since 2020-01-02T03:04:05Z (process died?)" || got.Finished.IsZero() {
		t.Fatalf("stale run = %+v", got)
	}
	for _, id := range []int64{fresh.ID, doneOld.ID} {
		r, _ := db.RunByID(id)
		if r.Error != "" {
			t.Fatalf("run %d was touched: %+v", id, r)
		}
	}
	if n, err := db.MarkStale(time.Hour); err != nil || n != 0 {
		t.Fatalf("second MarkStale = %d, %v; want 0", n, err)
	}
	if _, err := db.MarkStale(-time.Second); err == nil {
		t.Fatal("negative age accepted")
	}
}
