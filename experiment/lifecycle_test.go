package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// One hash, one attempt: a stopped run, an interrupted resume and a final
// resume all continue attempt 1; a hash leased by another live attempt is
// refused without a new row; a replaced final checkpoint is refused by
// eval, which records nothing.
func TestTrainLifecycleAndCheckpointIdentity(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(t, filepath.Join(dir, "r.db"), filepath.Join(dir, "cache"))
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: []string{"train.tokens=8192", "train.seed=77"}, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveData(env.fingerprinter()); err != nil {
		t.Fatal(err)
	}
	h := c.Hash()
	attempts := func() []registry.Run {
		var out []registry.Run
		rs, _ := env.DB.Runs(registry.RunFilter{})
		for _, r := range rs {
			if r.Hash == h {
				out = append(out, r)
			}
		}
		return out
	}
	ctx := context.Background()
	if res, err := env.Train(ctx, c, TrainOptions{StopAfter: 17}); err != nil || !res.Stopped {
		t.Fatalf("stopped run: %+v, %v", res, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := env.Train(cctx, c, TrainOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled resume: %v", err)
	}
	if rs := attempts(); len(rs) != 1 || rs[0].Status != registry.StatusFailed || rs[0].Error != "interrupted" {
		t.Fatalf("after an interrupted resume: %+v, want one failed attempt", rs)
	}
	res, err := env.Train(ctx, c, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rs := attempts(); len(rs) != 1 || rs[0].Attempt != 1 || rs[0].Status != registry.StatusDone {
		t.Fatalf("after the final resume: %+v, want attempt 1 done", rs)
	}
	// A live owner (this process's attempt) keeps the hash.
	att, err := env.DB.Start(registry.RunInfo{Hash: h, Kind: registry.KindTrain}, registry.StartOptions{Force: true, Root: env.Root})
	if err != nil {
		t.Fatal(err)
	}
	var le *registry.LeaseError
	if _, err := env.Train(ctx, c, TrainOptions{Force: true}); !errors.As(err, &le) {
		t.Errorf("training a leased hash: %v, want a LeaseError", err)
	}
	if rs := attempts(); len(rs) != 2 {
		t.Errorf("a refused start added a row: %d attempts", len(rs))
	}
	if err := att.Finish(registry.StatusFailed, "test owner"); err != nil {
		t.Fatal(err)
	}
	// Replace the final checkpoint with an older, valid one of the same run.
	final := filepath.Join(env.Root, res.Checkpoint)
	older := filepath.Join(filepath.Dir(final), "ckpt-000000024.safetensors")
	b, err := os.ReadFile(older)
	if err != nil {
		t.Fatalf("older checkpoint: %v", err)
	}
	if err := os.WriteFile(final, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = env.Evaluate(ctx, EvalRequest{Model: h, Tasks: []string{"copa"}, Shots: -1, Limit: 2})
	if err == nil || !strings.Contains(err.Error(), "the registry recorded") {
		t.Fatalf("eval of a replaced checkpoint: %v", err)
	}
	if rs, _ := env.DB.Runs(registry.RunFilter{Kind: registry.KindEval}); len(rs) != 0 {
		t.Errorf("a refused eval recorded %d run(s)", len(rs))
	}
	os.Remove(final)
	if _, err := env.LoadTrained(h); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("load with the final checkpoint deleted: %v", err)
	}
}
