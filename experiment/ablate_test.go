package experiment

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/registry"
)

const testMatrix = `
name: test-subln
description: SubLN on/off on micro with a tiny budget
base: micro
seeds: [1, 2]
set: {train.tokens: 2048, train.eval_every: 4, train.eval_tokens: 512, train.sample_tokens: 4}
axes:
  - key: quant.subln
    values: [true, false]
    labels: [subln, no-subln]
baseline: subln
tasks: [tinystories_bpb]
limit: 3
`

func testEnv(t *testing.T, dbPath, cache string) *Env {
	t.Helper()
	db, err := registry.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root := testRoot(t)
	return &Env{Root: root, DB: db, Threads: 2, CacheDir: cache}
}

// TestAblateKillAndResume runs a 2×2 matrix in a child process, kills it
// with SIGKILL once the first member is done, then runs the matrix again:
// every member ends done exactly once, finished members are not redone,
// and a third invocation reuses everything.
func TestAblateKillAndResume(t *testing.T) {
	if os.Getenv("ABLATE_CHILD") != "" {
		return
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "registry.db")
	cache := filepath.Join(dir, "cache")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAblateChild$")
	cmd.Env = append(os.Environ(), "ABLATE_CHILD=1", "ABLATE_DB="+dbPath, "ABLATE_CACHE="+cache, "TEST_ROOT="+testRoot(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	killed := false
	deadline := time.Now().Add(4 * time.Minute)
	for !killed && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("child finished before it could be killed: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if n := countDone(t, dbPath, "ablation-arm"); n >= 1 {
			cmd.Process.Kill()
			<-done
			killed = true
		}
	}
	if !killed {
		cmd.Process.Kill()
		t.Fatal("no member finished in time")
	}
	doneBefore := doneHashes(t, dbPath)

	env := testEnv(t, dbPath, cache)
	m, err := ablations.Parse("test.yaml", []byte(testMatrix))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := env.Ablate(context.Background(), m, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Failed(); len(f) > 0 {
		t.Fatalf("failed members: %v", f[0].Err)
	}
	for _, a := range rep.Members {
		if doneBefore[a.Hash] && !a.Train.Reused {
			t.Errorf("member %s seed %d was done before the kill but trained again", a.Arm, a.Seed)
		}
	}
	// Exactly one done training attempt per member and no duplicate membership rows.
	sdb, _ := sql.Open("sqlite3", dbPath)
	defer sdb.Close()
	var dupDone, members int
	sdb.QueryRow(`SELECT COUNT(*) FROM (SELECT hash FROM runs WHERE kind='ablation-arm' AND status='done' GROUP BY hash HAVING COUNT(*) > 1)`).Scan(&dupDone)
	sdb.QueryRow(`SELECT COUNT(*) FROM ablation_members`).Scan(&members)
	if dupDone != 0 || members != 4 {
		t.Errorf("duplicate done attempts: %d, membership rows: %d (want 0, 4)", dupDone, members)
	}
	if got := countDone(t, dbPath, "ablation-arm"); got != 4 {
		t.Errorf("%d done members, want 4", got)
	}
	// The summary has both arms, the baseline without a delta, the other with one.
	var sawDelta, sawBase bool
	for _, s := range rep.Summary {
		if s.Metric != "val_bpb" {
			continue
		}
		if s.Est.N != 2 {
			t.Errorf("arm %s: %d seeds in the estimate", s.Arm, s.Est.N)
		}
		sawBase = sawBase || (s.Arm == "subln" && s.Delta == nil)
		sawDelta = sawDelta || (s.Arm == "no-subln" && s.Delta != nil)
	}
	if !sawBase || !sawDelta {
		t.Errorf("summary lacks the baseline or the paired delta: %+v", rep.Summary)
	}
	// A third run reuses every member and gives the same summary values.
	again, err := env.Ablate(context.Background(), m, nil, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Reused != 4 {
		t.Errorf("third invocation reused %d of 4", again.Reused)
	}
	for i := range rep.Summary {
		if rep.Summary[i].Est.Mean != again.Summary[i].Est.Mean {
			t.Errorf("summary %s/%s changed on reuse", rep.Summary[i].Arm, rep.Summary[i].Metric)
		}
	}
}

// TestAblateChild is the child process of TestAblateKillAndResume.
func TestAblateChild(t *testing.T) {
	if os.Getenv("ABLATE_CHILD") == "" {
		t.Skip("child process only")
	}
	env := testEnv(t, os.Getenv("ABLATE_DB"), os.Getenv("ABLATE_CACHE"))
	m, err := ablations.Parse("test.yaml", []byte(testMatrix))
	if err != nil {
		t.Fatal(err)
	}
	env.Ablate(context.Background(), m, nil, 1, nil)
}

func countDone(t *testing.T, dbPath, kind string) int {
	t.Helper()
	if _, err := os.Stat(dbPath); err != nil {
		return 0
	}
	sdb, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return 0
	}
	defer sdb.Close()
	var n int
	if err := sdb.QueryRow(`SELECT COUNT(DISTINCT hash) FROM runs WHERE kind=? AND status='done'`, kind).Scan(&n); err != nil && !strings.Contains(err.Error(), "no such table") {
		return 0
	}
	return n
}

func doneHashes(t *testing.T, dbPath string) map[string]bool {
	t.Helper()
	sdb, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, err := sdb.Query(`SELECT hash FROM runs WHERE kind='ablation-arm' AND status='done'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		rows.Scan(&h)
		out[h] = true
	}
	return out
}
