package experiment

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/registry"
)

// workerMatrix is testMatrix with members long enough (256 steps, a
// checkpoint every 16) to kill a worker inside one.
var workerMatrix = strings.Replace(testMatrix, "train.tokens: 2048, train.eval_every: 4",
	"train.tokens: 65536, train.eval_every: 64, train.checkpoint_every: 16", 1)

// TestWorkerKillAndTakeOver queues a 2×2 matrix, runs two worker
// processes on it and SIGKILLs the one inside a member that has recorded a
// checkpoint. The survivor takes the member over and resumes it: every
// member ends done exactly once (one attempt, one queue row), the killed
// member claimed twice, and its final checkpoint is bit-identical to the
// one an uninterrupted run of the same config writes.
func TestWorkerKillAndTakeOver(t *testing.T) {
	if os.Getenv("WORKER_CHILD") != "" {
		return
	}
	if testing.Short() {
		t.Skip("trains models in child processes")
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "registry.db")
	cache := filepath.Join(dir, "cache")
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(data, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	env := testEnv(t, dbPath, cache)
	env.Root, env.Threads = root, 1
	m, err := ablations.Parse("worker.yaml", []byte(workerMatrix))
	if err != nil {
		t.Fatal(err)
	}
	q, err := env.EnqueueAblation(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Stats.Added != 4 {
		t.Fatalf("enqueued %+v", q.Stats)
	}

	children := map[int]*exec.Cmd{}
	exited := make(chan int, 2)
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestWorkerChild$")
		cmd.Env = append(os.Environ(), "WORKER_CHILD=1", "WORKER_DB="+dbPath, "WORKER_CACHE="+cache, "TEST_ROOT="+root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[cmd.Process.Pid] = cmd
		go func() { cmd.Wait(); exited <- cmd.Process.Pid }()
	}
	defer func() {
		for _, c := range children {
			c.Process.Kill()
		}
	}()

	ro, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var killedPID int
	var killedKey string
	deadline := time.Now().Add(3 * time.Minute)
	for killedPID == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		err := ro.QueryRow(`SELECT q.pid, q.item_key FROM queue q
			JOIN runs r ON r.hash = q.item_key AND r.status = 'running'
			JOIN artifacts a ON a.run_id = r.id AND a.kind = 'checkpoint'
			WHERE q.state = 'claimed' LIMIT 1`).Scan(&killedPID, &killedKey)
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if killedPID != 0 && children[killedPID] == nil {
			t.Fatalf("item claimed by pid %d, not a child", killedPID)
		}
	}
	if killedPID == 0 {
		t.Fatal("no worker was inside a checkpointed member in time")
	}
	children[killedPID].Process.Kill()
	for i := 0; i < 2; i++ {
		select {
		case <-exited:
		case <-time.After(4 * time.Minute):
			t.Fatal("workers did not finish")
		}
	}
	if code := children[otherPID(children, killedPID)].ProcessState.ExitCode(); code != 0 {
		t.Fatalf("surviving worker exited with %d", code)
	}

	items, err := env.DB.QueueItems(q.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 4 {
		t.Fatalf("%d queue rows, want 4", len(items))
	}
	for _, it := range items {
		want := 1
		if it.Key == killedKey {
			want = 2
		}
		if it.State != registry.QueueDone || it.Attempts != want {
			t.Errorf("item %s: state %s after %d claims, want done after %d", it.Key[:12], it.State, it.Attempts, want)
		}
		runs, err := env.DB.Runs(registry.RunFilter{Kind: registry.KindAblationArm})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range runs {
			if r.Hash == it.Key {
				n++
				if r.Status != registry.StatusDone || r.Attempt != 1 {
					t.Errorf("member %s: run attempt %d is %s", it.Key[:12], r.Attempt, r.Status)
				}
			}
		}
		if n != 1 {
			t.Errorf("member %s has %d runs, want 1", it.Key[:12], n)
		}
	}

	// The killed member's final checkpoint equals an uninterrupted run's.
	got := finalCheckpoint(t, env.DB, killedKey)
	ref := testEnv(t, filepath.Join(dir, "serial.db"), cache)
	ref.Root = filepath.Join(dir, "serial-root")
	if err := os.MkdirAll(ref.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(ref.Root, "datasets")); err != nil {
		t.Fatal(err)
	}
	var p QueuedMember
	for _, it := range items {
		if it.Key == killedKey {
			if err := json.Unmarshal([]byte(it.Payload), &p); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg, err := ref.queuedConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ref.Train(context.Background(), cfg, TrainOptions{Kind: registry.KindAblationArm})
	if err != nil {
		t.Fatal(err)
	}
	if want := finalCheckpoint(t, ref.DB, killedKey); got != want || res.CheckpointSHA != want {
		t.Errorf("resumed member's final checkpoint %s, uninterrupted %s (result %s)", got, want, res.CheckpointSHA)
	}
}

// TestWorkerChild is a worker process of TestWorkerKillAndTakeOver.
func TestWorkerChild(t *testing.T) {
	if os.Getenv("WORKER_CHILD") == "" {
		t.Skip("child process only")
	}
	env := testEnv(t, os.Getenv("WORKER_DB"), os.Getenv("WORKER_CACHE"))
	env.Threads = 1
	w := &Worker{DB: env.DB, Name: "child-" + strconv.Itoa(os.Getpid()), Poll: 100 * time.Millisecond,
		Handlers: map[string]Handler{registry.QueueAblationMember: env.RunQueuedMember}, Log: os.Stderr}
	rep, err := w.Run(context.Background())
	if err != nil || rep.Failed > 0 {
		t.Fatalf("worker: %+v %v", rep, err)
	}
}

func otherPID(children map[int]*exec.Cmd, pid int) int {
	for p := range children {
		if p != pid {
			return p
		}
	}
	return 0
}

func finalCheckpoint(t *testing.T, db *registry.DB, hash string) string {
	t.Helper()
	run, err := db.DoneRun(hash)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := db.Artifacts(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	best, sha := "", ""
	for _, a := range arts {
		if a.Kind == "checkpoint" && a.Path > best {
			best, sha = a.Path, a.SHA256
		}
	}
	if sha == "" {
		t.Fatalf("run %s has no checkpoint", hash[:12])
	}
	return sha
}
