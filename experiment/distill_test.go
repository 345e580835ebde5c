package experiment

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// microTeacherSets make a float teacher twice micro's width with micro's
// data and tokenizer.
var microTeacherSets = []string{"model.d_model=64", "model.head_dim=16", "model.d_ff=128",
	"qat.phases=[{weights: float, start: 0, ramp: 0}]", "train.seed=5"}

func loadMicro(t *testing.T, env *Env, sets ...string) *configs.Config {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveData(env.fingerprinter()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDistilledTrainingEndToEnd trains a float micro teacher, then a
// ternary micro student with each distillation loss: a run stopped part
// way and resumed ends on the same checkpoint bits as an uninterrupted run
// on another thread count; the run records its distillation metrics and
// only checkpoints as artifacts; a missing teacher is refused before any
// attempt is recorded; loss=none hashes as the plain run.
func TestDistilledTrainingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four micro models")
	}
	dir := t.TempDir()
	env := testEnv(t, filepath.Join(dir, "r.db"), filepath.Join(dir, "cache"))
	ctx := context.Background()
	plain := loadMicro(t, env)
	none := loadMicro(t, env, "distill.teacher="+strings.Repeat("ab", 32), "distill.loss=none")
	if none.Hash() != plain.Hash() {
		t.Fatalf("distill.loss=none changed the hash")
	}
	missing := loadMicro(t, env, "distill.teacher="+strings.Repeat("ab", 32), "distill.loss=rkl")
	if _, err := env.Train(ctx, missing, TrainOptions{}); err == nil || !strings.Contains(err.Error(), "distill.teacher") {
		t.Fatalf("missing teacher: %v", err)
	}
	if rs, _ := env.DB.Runs(registry.RunFilter{}); len(rs) != 0 {
		t.Fatalf("a refused distilled run recorded %d attempts", len(rs))
	}

	tc := loadMicro(t, env, microTeacherSets...)
	tres, err := env.Train(ctx, tc, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher %s: val_bpb %.4f", tc.Hash()[:12], tres.ValBPB)
	teacher := `distill.teacher="` + tc.Hash() + `"`
	for _, loss := range []string{"fkl", "rkl", "minillm"} {
		c := loadMicro(t, env, teacher, "distill.loss="+loss, "distill.temperature=2", "train.tokens=8192")
		if c.Hash() == plain.Hash() || !strings.Contains(c.Canonical(), tc.Hash()) {
			t.Fatalf("%s: the teacher hash is not part of the run's identity", loss)
		}
		env.Threads = 1
		if r, err := env.Train(ctx, c, TrainOptions{StopAfter: 19}); err != nil || !r.Stopped {
			t.Fatalf("%s: stopped run: %+v %v", loss, r, err)
		}
		resumed, err := env.Train(ctx, c, TrainOptions{})
		if err != nil {
			t.Fatalf("%s: resume: %v", loss, err)
		}
		env.Threads = 2
		whole, err := env.Train(ctx, c, TrainOptions{Force: true})
		if err != nil {
			t.Fatalf("%s: uninterrupted: %v", loss, err)
		}
		if resumed.CheckpointSHA != whole.CheckpointSHA || resumed.ValBPB != whole.ValBPB {
			t.Errorf("%s: resumed on 1 thread %s (bpb %v), uninterrupted on 2 threads %s (bpb %v)", loss, resumed.CheckpointSHA[:12], resumed.ValBPB, whole.CheckpointSHA[:12], whole.ValBPB)
		}
		t.Logf("%s: val_bpb %.4f, checkpoint %s", loss, whole.ValBPB, whole.CheckpointSHA[:12])
		ms, err := env.DB.Metrics(whole.RunID, "distill_kd")
		if err != nil || len(ms) == 0 {
			t.Errorf("%s: no distill_kd metric recorded (%v)", loss, err)
		}
		arts, err := env.DB.Artifacts(whole.RunID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range arts {
			if a.Kind != "checkpoint" {
				t.Errorf("%s: artifact %s of kind %s recorded; a distilled run stores checkpoints only", loss, a.Path, a.Kind)
			}
		}
	}
}
