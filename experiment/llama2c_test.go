package experiment

import (
	"context"
	"path/filepath"
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
