package hpo

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// testEnv is an Env whose root holds only a link to the shipped datasets,
// so runs and caches stay in the test's temporary directory.
func testEnv(t *testing.T) *experiment.Env {
	t.Helper()
	ds, err := filepath.Abs(filepath.Join("..", "datasets"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ds, "corpus")); err != nil {
		t.Skipf("shipped datasets not found: %v", err)
	}
	root := t.TempDir()
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, filepath.Join(root, "registry.db"))
	return &experiment.Env{Root: root, DB: db, Threads: 2}
}

func TestSearchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	env := testEnv(t)
	space, err := LoadSpace("micro")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := Run(ctx, env, space, Options{Trials: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Study != "micro" || len(rep.Trials) != 2 || rep.Ran != 2 || rep.Reused != 0 {
		t.Fatalf("first search: study %s, %d trials, ran %d, reused %d", rep.Study, len(rep.Trials), rep.Ran, rep.Reused)
	}
	for _, tr := range rep.Trials {
		if tr.State != "complete" {
			t.Fatalf("trial %d: state %s", tr.Number, tr.State)
		}
		run, err := env.DB.DoneRun(tr.RunHash)
		if err != nil {
			t.Fatalf("trial %d: run %q: %v", tr.Number, tr.RunHash, err)
		}
		if run.Kind != registry.KindHPOTrial {
			t.Errorf("trial %d: run kind %q", tr.Number, run.Kind)
		}
		m, err := env.DB.LastMetric(run.ID, "val_loss")
		if err != nil {
			t.Fatal(err)
		}
		if m.Value != tr.Value || !(tr.Value > 0) || math.IsInf(tr.Value, 0) {
			t.Errorf("trial %d: value %v, run's val_loss %v", tr.Number, tr.Value, m.Value)
		}
		// The run trained the config the trial's parameters describe.
		v, err := space.valuesFromParams(tr.Params)
		if err != nil {
			t.Fatal(err)
		}
		c, err := space.Config(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(env.Root, s) }); err != nil {
			t.Fatal(err)
		}
		if c.Hash() != tr.RunHash {
			t.Errorf("trial %d: params give config %s, linked run is %s", tr.Number, c.Hash()[:12], tr.RunHash[:12])
		}
		if c.Train.Tokens != 4096 {
			t.Errorf("trial %d: the space's set was not applied (tokens %d)", tr.Number, c.Train.Tokens)
		}
	}
	if rep.Best == nil || rep.Best.Value > rep.Trials[0].Value || rep.Best.Value > rep.Trials[1].Value {
		t.Errorf("best trial %+v", rep.Best)
	}

	// A trial with the parameters of trial 0 reuses its run; the budget
	// counts the trials already in the study.
	study, err := OpenStudy(env.DB, "micro", space)
	if err != nil {
		t.Fatal(err)
	}
	trials, _ := study.GetTrials()
	if err := study.EnqueueTrial(trials[0].InternalParams); err != nil {
		t.Fatal(err)
	}
	rep2, err := Run(ctx, env, space, Options{Trials: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep2.Trials) != 3 || rep2.Ran != 0 || rep2.Reused != 1 {
		t.Fatalf("second search: %d trials, ran %d, reused %d", len(rep2.Trials), rep2.Ran, rep2.Reused)
	}
	if r := rep2.Trials[2]; r.RunHash != rep.Trials[0].RunHash || r.Value != rep.Trials[0].Value || r.State != "complete" {
		t.Errorf("requeued trial %+v does not reuse trial 0 %+v", r, rep.Trials[0])
	}

	// The best overlay with the fixed set reproduces the best trial's config.
	best, err := BestOverlay(env.DB, "micro", true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "best.yaml")
	if err := os.WriteFile(path, best.Overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := configs.Load(configs.Options{Preset: path, Env: []string{}})
	if err != nil {
		t.Fatalf("overlay does not load: %v\n%s", err, best.Overlay)
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(env.Root, s) }); err != nil {
		t.Fatal(err)
	}
	if c.Hash() != best.Trial.RunHash || c.Preset != "micro" {
		t.Errorf("overlay config %s (preset %s), best trial's run %s\n%s", c.Hash()[:12], c.Preset, best.Trial.RunHash[:12], best.Overlay)
	}
	// Without the set it carries the searched values only.
	bare, err := BestOverlay(env.DB, "micro", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(bare.Overrides) != len(space.Params) {
		t.Errorf("bare overrides %v", bare.Overrides)
	}

	sums, err := Studies(env.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Name != "micro" || sums[0].Counts["complete"] != 3 || sums[0].Best == nil || sums[0].Objective != "val_loss" {
		t.Errorf("studies: %+v", sums)
	}

	// Another space under the same study name is refused.
	other, err := ParseSpace("o.yaml", []byte("name: micro\nbase: micro\nparams: {train.lr: {type: float, low: 0.001, high: 0.002}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, env, other, Options{Trials: 4}); err == nil {
		t.Errorf("a different space was accepted for study micro")
	}
}
