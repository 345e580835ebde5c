package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Child processes are this test binary re-executed with -test.run selecting
// TestChildProcess and these variables describing the work.
const (
	envChild = "REGISTRY_TEST_CHILD" // mode: runs, crash, study
	envDB    = "REGISTRY_TEST_DB"
	envIndex = "REGISTRY_TEST_INDEX"
)

const (
	childRuns       = 50 // runs per child in the concurrency test
	childMetrics    = 20 // metrics per run
	childSharedRuns = 10 // extra attempts per child on one shared hash
)

// TestChildProcess is the body of a child process; it does nothing in a
// normal test run.
func TestChildProcess(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("child process entry point")
	}
	index, _ := strconv.Atoi(os.Getenv(envIndex))
	var err error
	switch mode {
	case "runs":
		err = childWriteRuns(os.Getenv(envDB), index)
	case "crash":
		err = childWriteUntilKilled(os.Getenv(envDB))
	case "study":
		err = childOptimise(os.Getenv(envDB), index)
	case "lease":
		err = childLease(os.Getenv(envDB))
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child failed:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startChild starts a child process in mode with index.
func startChild(t *testing.T, mode, dbPath string, index int) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envDB+"="+dbPath, envIndex+"="+strconv.Itoa(index))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

func childRunHash(child, run int) string { return hashOf(fmt.Sprintf("child-%d-run-%d", child, run)) }

func sharedHash() string { return hashOf("shared") }

func metricValue(child, run, step int) float64 {
	return float64(child*100000+run*100+step) / 8
}

func childWriteRuns(path string, child int) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	for j := 0; j < childRuns; j++ {
		h := childRunHash(child, j)
		if err := db.PutConfig(h, fmt.Sprintf(`{"child":%d,"run":%d}`, child, j)); err != nil {
			return err
		}
		if err := writeOneRun(db, h, child, j); err != nil {
			return err
		}
		if j < childSharedRuns {
			r, err := db.BeginRun(RunInfo{Hash: sharedHash(), Kind: KindBench, Name: fmt.Sprint(child)})
			if err != nil {
				return err
			}
			if err := db.FinishRun(r.ID, StatusDone, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeOneRun(db *DB, h string, child, j int) (err error) {
	r, err := db.BeginRun(RunInfo{Hash: h, Kind: KindTrain, Threads: 1})
	if err != nil {
		return err
	}
	ms := make([]Metric, childMetrics)
	for k := range ms {
		ms[k] = Metric{Step: int64(k), Name: "loss", Value: metricValue(child, j, k)}
	}
	if err := db.LogMetrics(r.ID, ms); err != nil {
		return err
	}
	return db.FinishRun(r.ID, StatusDone, "")
}

func childWriteUntilKilled(path string) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	for j := 0; ; j++ {
		h := childRunHash(0, j)
		if err := writeOneRun(db, h, 0, j); err != nil {
			return err
		}
		r, err := db.LatestRun(h)
		if err != nil {
			return err
		}
		fmt.Printf("committed %d %d\n", r.ID, j)
	}
}

func TestMultiProcessWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const children = 4
	path := filepath.Join(t.TempDir(), "registry.db") // created by the children at once
	var wg sync.WaitGroup
	errs := make([]error, children)
	stderrs := make([]*bytes.Buffer, children)
	start := time.Now()
	for i := range children {
		cmd, stderr := startChild(t, "runs", path, i)
		stderrs[i] = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	wg.Wait()
	t.Logf("%d processes × %d runs × %d metrics in %v", children, childRuns, childMetrics, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, stderrs[i])
		}
	}

	db := mustOpen(t, path)
	defer db.Close()
	var nRuns, nMetrics, nConfigs int
	q := db.SQL()
	if err := q.QueryRow(`SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM metrics), (SELECT COUNT(*) FROM configs)`).
		Scan(&nRuns, &nMetrics, &nConfigs); err != nil {
		t.Fatal(err)
	}
	if want := children * (childRuns + childSharedRuns); nRuns != want {
		t.Errorf("runs = %d, want %d", nRuns, want)
	}
	if want := children * childRuns * childMetrics; nMetrics != want {
		t.Errorf("metrics = %d, want %d", nMetrics, want)
	}
	if nConfigs != children*childRuns {
		t.Errorf("configs = %d, want %d", nConfigs, children*childRuns)
	}
	for i := range children {
		for j := range childRuns {
			h := childRunHash(i, j)
			r, err := db.DoneRun(h)
			if err != nil || r.Attempt != 1 {
				t.Fatalf("run %d/%d: %+v, %v", i, j, r, err)
			}
			ms, err := db.Metrics(r.ID, "loss")
			if err != nil || len(ms) != childMetrics {
				t.Fatalf("run %d/%d metrics: %d, %v", i, j, len(ms), err)
			}
			for k, m := range ms {
				if m.Step != int64(k) || m.Value != metricValue(i, j, k) {
					t.Fatalf("run %d/%d metric %d = %+v", i, j, k, m)
				}
			}
		}
	}
	// Attempts on the shared hash were allocated under the write lock:
	// 1..N, each exactly once.
	rows, err := q.Query(`SELECT attempt FROM runs WHERE hash = ? ORDER BY attempt`, sharedHash())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := 1
	for rows.Next() {
		var a int
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		if a != want {
			t.Fatalf("shared attempts: got %d, want %d", a, want)
		}
		want++
	}
	if want-1 != children*childSharedRuns {
		t.Fatalf("shared attempts = %d, want %d", want-1, children*childSharedRuns)
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	cmd, stderr := startChild(t, "crash", path, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := map[int64]int{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "committed" {
			continue
		}
		id, _ := strconv.ParseInt(f[1], 10, 64)
		j, _ := strconv.Atoi(f[2])
		committed[id] = j
		if len(committed) == 40 && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v\n%s", werr, stderr)
	}
	if len(committed) < 40 {
		t.Fatalf("only %d commits reported", len(committed))
	}

	db := mustOpen(t, path)
	defer db.Close()
	var check string
	if err := db.SQL().QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	for id, j := range committed {
		r, err := db.RunByID(id)
		if err != nil || r.Status != StatusDone || r.Hash != childRunHash(0, j) {
			t.Fatalf("committed run %d: %+v, %v", id, r, err)
		}
		ms, err := db.Metrics(id, "loss")
		if err != nil || len(ms) != childMetrics {
			t.Fatalf("committed run %d has %d metrics (%v)", id, len(ms), err)
		}
	}
	// Transactions are all-or-nothing: no run has a partial metric batch.
	var partial int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM (SELECT run_id, COUNT(*) AS n FROM metrics GROUP BY run_id) WHERE n <> ?`,
		childMetrics).Scan(&partial); err != nil || partial != 0 {
		t.Fatalf("%d runs with a partial metric batch (%v)", partial, err)
	}
	var total int
	db.SQL().QueryRow(`SELECT COUNT(*) FROM runs`).Scan(&total)
	t.Logf("%d commits reported before SIGKILL, %d runs in the file", len(committed), total)
}
