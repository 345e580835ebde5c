package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/registry"
)

// TestLlama2CAboveChance: the imported stories260K model (the outside
// reference) scores clearly above chance on BLiMP, and its eval run is
// recorded and reused.
func TestLlama2CAboveChance(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates 1340 BLiMP pairs")
	}
	root := testRoot(t)
	lm, _, id, err := LoadLlama2C(filepath.Join(root, "datasets/llama2c/stories260K.bin"), filepath.Join(root, "datasets/llama2c/tok512.bin"), 2)
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := &Env{Root: root, DB: db, Threads: 2, CacheDir: t.TempDir()}
	req := EvalRequest{Model: id, Tasks: []string{"blimp"}, Shots: -1, Limit: 20}
	res, err := env.EvaluateWith(context.Background(), req, lm)
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := res.Results.Metric("blimp", "acc")
	if !ok {
		t.Fatalf("no blimp acc in %v", res.Results.Results["blimp"])
	}
	se, _ := res.Results.Metric("blimp", "acc_stderr")
	t.Logf("stories260K BLiMP acc = %.4f ± %.4f over %d pairs", acc, se, 67*20)
	if acc < 0.5+2.5*se {
		t.Errorf("BLiMP acc %.4f (stderr %.4f) is not clearly above chance", acc, se)
	}
	again, err := env.EvaluateWith(context.Background(), req, lm)
	if err != nil || !again.Reused {
		t.Fatalf("second identical eval not reused: %v", err)
	}
	if v, _ := again.Results.Metric("blimp", "acc"); v != acc {
		t.Errorf("reused result %v differs from %v", v, acc)
	}
}

// An interrupted evaluation is recorded as failed with the reason, its
// lease is given back, and nothing of it is reused; the results JSON of a
// finished one is a recorded artifact.
func TestEvalCancelledAndArtifacts(t *testing.T) {
	root := testRoot(t)
	lm, _, id, err := LoadLlama2C(filepath.Join(root, "datasets/llama2c/stories260K.bin"), filepath.Join(root, "datasets/llama2c/tok512.bin"), 1)
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := &Env{Root: root, DB: db, Threads: 1}
	req := EvalRequest{Model: id, Tasks: []string{"copa"}, Shots: -1, Limit: 4}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := env.EvaluateWith(ctx, req, lm); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled eval: %v, want context.Canceled", err)
	}
	h, _ := req.Hash()
	run, err := db.LatestRun(h)
	if err != nil || run.Status != registry.StatusFailed || !strings.Contains(run.Error, "interrupted") {
		t.Fatalf("cancelled eval run %+v (%v), want failed/interrupted", run, err)
	}
	if ls, _ := db.Leases(); len(ls) != 0 {
		t.Errorf("leases left: %+v", ls)
	}
	res, err := env.EvaluateWith(context.Background(), req, lm)
	if err != nil || res.Reused {
		t.Fatalf("eval after the interruption: %+v, %v", res, err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, "runs", h)) })
	arts, err := db.Artifacts(res.RunID)
	if err != nil || len(arts) != 1 || arts[0].Kind != "results" || arts[0].Path != filepath.Join("runs", h, "results.json") {
		t.Fatalf("artifacts of the eval run: %+v (%v)", arts, err)
	}
	b, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != arts[0].SHA256 || int64(len(b)) != arts[0].Bytes {
		t.Errorf("results.json does not match its artifact row")
	}
}
