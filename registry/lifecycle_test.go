package registry

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// childLease starts an attempt of the shared hash, says whether it got the
// lease on stdout ("got <run id>" or "busy: <message>"), and holds it until
// killed or for 20 s.
func childLease(path string) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := db.Start(RunInfo{Hash: sharedHash(), Kind: KindTrain}, StartOptions{Resume: true})
	var le *LeaseError
	if errors.As(err, &le) {
		fmt.Printf("busy: %v\n", err)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Printf("got %d\n", a.Run.ID)
	time.Sleep(20 * time.Second)
	return a.Finish(StatusDone, "")
}

func startLeaseChild(t *testing.T, dbPath string) (func() string, func()) {
	t.Helper()
	cmd, stderr := startChild(t, "lease", dbPath, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	line := func() string {
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "got ") || strings.HasPrefix(l, "busy: ") {
				return l
			}
		}
		t.Fatalf("lease child said nothing; stderr: %s", stderr)
		return ""
	}
	kill := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	t.Cleanup(kill)
	return line, kill
}

// Two processes on one hash: one trains, the other is refused with the
// owner named; once the owner is killed (SIGKILL), its lease is taken over
// and its run marked failed.
func TestLeaseOneProcessPerHash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	db := mustOpen(t, path)
	first, killFirst := startLeaseChild(t, path)
	got := first()
	if !strings.HasPrefix(got, "got ") {
		t.Fatalf("first process: %q", got)
	}
	second, _ := startLeaseChild(t, path)
	if l := second(); !strings.HasPrefix(l, "busy: ") || !strings.Contains(l, "in progress in process") {
		t.Fatalf("second process on a leased hash: %q", l)
	}
	// This process too.
	_, err := db.Start(RunInfo{Hash: sharedHash(), Kind: KindTrain}, StartOptions{})
	var le *LeaseError
	if !errors.As(err, &le) || le.PID <= 0 || le.Host == "" {
		t.Fatalf("Start on a leased hash: %v", err)
	}
	killFirst()
	a, err := db.Start(RunInfo{Hash: sharedHash(), Kind: KindTrain}, StartOptions{Resume: true})
	if err != nil {
		t.Fatalf("Start after the owner was killed: %v", err)
	}
	var id int64
	fmt.Sscanf(got, "got %d", &id)
	if a.Run.ID != id {
		t.Errorf("resume took run %d, want the dead owner's run %d", a.Run.ID, id)
	}
	if err := a.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	runs, _ := db.Runs(RunFilter{})
	if len(runs) != 1 || runs[0].Status != StatusDone || runs[0].Attempt != 1 {
		t.Errorf("runs after takeover %+v, want one done attempt", runs)
	}
	if ls, _ := db.Leases(); len(ls) != 0 {
		t.Errorf("leases left after finish: %+v", ls)
	}
}

func TestAttemptLifecycle(t *testing.T) {
	db := openTemp(t)
	h := hashOf("life")
	a, err := db.Start(RunInfo{Hash: h, Kind: KindEval}, StartOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if ls, _ := db.Leases(); len(ls) != 1 || ls[0].RunID != a.Run.ID || ls[0].PID != os.Getpid() {
		t.Fatalf("leases %+v", ls)
	}
	if err := a.PutArtifact("results", filepath.Join(a.Root(), "runs", "x", "results.json"), hashOf("r"), 3); err != nil {
		t.Fatal(err)
	}
	if err := a.PutArtifact("results", "/elsewhere/results.json", hashOf("r"), 3); err == nil || !strings.Contains(err.Error(), "outside the project root") {
		t.Errorf("artifact outside the root: %v", err)
	}
	arts, _ := a.Artifacts()
	if len(arts) != 1 || arts[0].Path != filepath.Join("runs", "x", "results.json") {
		t.Errorf("artifacts %+v, want one stored relative to the root", arts)
	}
	if err := a.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(StatusFailed, "again"); err != nil {
		t.Errorf("a second Finish: %v", err)
	}
	if r, _ := db.LatestRun(h); r.Status != StatusDone || r.Error != "" {
		t.Errorf("a second Finish changed the run: %+v", r)
	}
	if err := a.LogMetrics([]Metric{{Name: "x", Step: 1, Value: 1}}); err == nil {
		t.Error("a finished attempt still writes")
	}
	if _, err := db.Start(RunInfo{Hash: h, Kind: KindEval}, StartOptions{}); !errors.Is(err, ErrAlreadyDone) {
		t.Errorf("Start on a done hash: %v, want ErrAlreadyDone", err)
	}
	b, err := db.Start(RunInfo{Hash: h, Kind: KindEval}, StartOptions{Force: true})
	if err != nil || b.Run.Attempt != 2 {
		t.Fatalf("forced Start: %+v, %v", b, err)
	}
	// A taken-over lease: the old owner's writes fail instead of mixing in.
	if _, err := db.sql.Exec(`UPDATE leases SET token = 'someone-else'`); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSummary("{}"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("write after losing the lease: %v, want ErrLeaseLost", err)
	}
	if err := b.Finish(StatusDone, ""); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("finish after losing the lease: %v, want ErrLeaseLost", err)
	}
	// A stale lease of another host is taken over after StaleAfter.
	h2 := hashOf("stale")
	old := formatTime(now().Add(-time.Hour))
	if _, err := db.sql.Exec(`INSERT INTO leases (hash, token, host, pid, acquired, heartbeat) VALUES (?, 't', 'other-host', 1, ?, ?)`, h2, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Start(RunInfo{Hash: h2, Kind: KindTrain}, StartOptions{StaleAfter: 2 * time.Hour}); err == nil {
		t.Error("a fresh lease of another host was taken over")
	}
	c, err := db.Start(RunInfo{Hash: h2, Kind: KindTrain}, StartOptions{StaleAfter: time.Minute})
	if err != nil {
		t.Fatalf("stale lease not taken over: %v", err)
	}
	_ = c.Abandon()
	if r, _ := db.LatestRun(h2); r.Status != StatusRunning {
		t.Errorf("abandoned attempt %s, want running", r.Status)
	}
	// Training kinds resume one another's attempts; an eval attempt is not
	// resumed as training.
	d, err := db.Start(RunInfo{Hash: h2, Kind: KindAblationArm}, StartOptions{Resume: true})
	if err != nil || d.Run.ID != c.Run.ID {
		t.Fatalf("resume as an ablation arm: %+v, %v; want run %d", d, err, c.Run.ID)
	}
	_ = d.Abandon()
	h3 := hashOf("eval-kind")
	e, err := db.Start(RunInfo{Hash: h3, Kind: KindEval}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Abandon()
	if _, err := db.Start(RunInfo{Hash: h3, Kind: KindTrain}, StartOptions{Resume: true}); err == nil || !strings.Contains(err.Error(), "is of kind eval") {
		t.Errorf("an eval attempt resumed as training: %v", err)
	}
}

func TestGC(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "proj")
	db := mustOpen(t, filepath.Join(base, "g.db"))
	other := mustOpen(t, filepath.Join(base, "other.db"))
	write := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	done, busy, foreign := hashOf("done"), hashOf("busy"), hashOf("foreign")
	// A done run, recorded with a relative spelling of the root.
	wd, _ := os.Getwd()
	relRoot, err := filepath.Rel(wd, root)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.Start(RunInfo{Hash: done, Kind: KindTrain}, StartOptions{Root: relRoot})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := write("runs/" + done + "/ckpt-000000010.safetensors")
	res := write("runs/" + done + "/results.json")
	stray := write("runs/" + done + "/ckpt-000000005.safetensors")
	for _, p := range []string{ckpt, res} {
		if err := a.PutArtifact("checkpoint", p, hashOf(p), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	// A run in progress with a half-written checkpoint.
	b, err := db.Start(RunInfo{Hash: busy, Kind: KindTrain}, StartOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abandon()
	tmp := write("runs/" + busy + "/ckpt-000000003.safetensors.tmp")
	// Another registry's run on the same root.
	c, err := other.Start(RunInfo{Hash: foreign, Kind: KindTrain}, StartOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	theirs := write("runs/" + foreign + "/ckpt-000000010.safetensors")
	if err := c.PutArtifact("checkpoint", theirs, hashOf("t"), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(StatusDone, ""); err != nil {
		t.Fatal(err)
	}

	for _, spelling := range []string{root, relRoot, root + "/./"} {
		rep, err := db.GC(spelling, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Deleted) != 1 || rep.Deleted[0] != stray || rep.Kept != 2 || len(rep.NotOwned) != 1 || len(rep.Busy) != 1 {
			t.Errorf("root %q: dry run %+v, want only %s", spelling, rep, stray)
		}
	}
	rep, err := db.GC(relRoot, false)
	if err != nil || len(rep.Deleted) != 1 {
		t.Fatalf("gc: %+v, %v", rep, err)
	}
	for p, want := range map[string]bool{ckpt: true, res: true, stray: false, tmp: true, theirs: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", p, err == nil, want)
		}
	}
	if ls, _ := db.Leases(); len(ls) != 1 || ls[0].Hash != busy {
		t.Errorf("gc left leases %+v", ls)
	}
}

func TestMigrationRewritesArtifactPaths(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"runs/" + h + "/ckpt-000000064.safetensors":        "runs/" + h + "/ckpt-000000064.safetensors",
		"groot2/runs/" + h + "/ckpt-000000064.safetensors": "runs/" + h + "/ckpt-000000064.safetensors",
		"/home/u/proj/runs/" + h + "/results.json":         "runs/" + h + "/results.json",
		"/a/runs/b/runs/" + h + "/x":                       "runs/" + h + "/x",
		"datasets/llama2c/stories260K.bin":                 "datasets/llama2c/stories260K.bin",
		"/abs/elsewhere.bin":                               "/abs/elsewhere.bin",
	} {
		if got := RootRelative(in); got != want {
			t.Errorf("RootRelative(%q) = %q, want %q", in, got, want)
		}
	}
}

// A schema-1 file (paths as typed, ablations by name and matrix JSON) is
// migrated in place: paths relative to the root, every ablation with its
// definition hash, members kept, foreign keys intact.
func TestMigrateFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := hashOf("one"), hashOf("two")
	ts := formatTime(now())
	stmts := []string{migrations[0].SQL,
		fmt.Sprintf(`INSERT INTO runs (id, hash, attempt, kind, status, created) VALUES (1, '%s', 1, 'train', 'done', '%s'), (2, '%s', 1, 'train', 'done', '%s')`, h1, ts, h2, ts),
		fmt.Sprintf(`INSERT INTO artifacts (run_id, kind, path, sha256, bytes, created) VALUES
			(1, 'checkpoint', 'groot2/runs/%s/ckpt-000000010.safetensors', '%s', 1, '%s'),
			(2, 'checkpoint', '/home/u/proj/runs/%s/ckpt-000000010.safetensors', '%s', 1, '%s')`, h1, h1, ts, h2, h2, ts),
		fmt.Sprintf(`INSERT INTO ablations (id, name, matrix_json, created) VALUES
			(1, 'subln', '{"matrix":{"Name":"subln","Tasks":["piqa"],"Limit":50,"Metrics":["val_bpb"]}}', '%s'),
			(2, 'subln', '{"matrix":{"Name":"subln","Tasks":["piqa"],"Limit":0,"Metrics":["val_bpb"]}}', '%s')`, ts, ts),
		fmt.Sprintf(`INSERT INTO ablation_members VALUES (1, '%s', 'on', 1), (1, '%s', 'off', 1), (2, '%s', 'on', 1)`, h1, h2, h1),
		`PRAGMA user_version = 1`,
	}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()
	db := mustOpen(t, path)
	arts, err := db.AllArtifacts()
	if err != nil || len(arts) != 2 || arts[0].Path != filepath.Join("runs", h1, "ckpt-000000010.safetensors") || arts[1].Path != filepath.Join("runs", h2, "ckpt-000000010.safetensors") {
		t.Errorf("migrated artifacts %+v (%v)", arts, err)
	}
	abl, err := db.Ablations()
	if err != nil || len(abl) != 2 || abl[0].DefHash == "" || abl[0].DefHash == abl[1].DefHash {
		t.Fatalf("migrated ablations %+v (%v)", abl, err)
	}
	want := AblationDef{Name: "subln", Metrics: []string{"val_bpb"}, Tasks: []string{"piqa"}, Limit: 50,
		Members: []AblationMember{{RunHash: h1, Arm: "on", Seed: 1}, {RunHash: h2, Arm: "off", Seed: 1}}}
	if abl[0].DefHash != want.Hash() {
		t.Errorf("migrated definition hash %s, want %s", abl[0].DefHash, want.Hash())
	}
	if ms, _ := db.AblationMembers(1); len(ms) != 2 {
		t.Errorf("members of ablation 1 after migration: %+v", ms)
	}
	var bad int
	if err := db.sql.QueryRow(`SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("foreign key violations after migration: %d (%v)", bad, err)
	}
}
