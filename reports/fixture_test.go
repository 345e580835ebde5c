package reports

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

func openDB(t *testing.T) *registry.DB {
	t.Helper()
	db, err := registry.Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// synthRun records a done training run of config c with synthetic but
// plausible metric series: a loss decaying with QAT bumps at phase starts.
func synthRun(t *testing.T, db *registry.DB, c *configs.Config, kind string, offset float64) string {
	t.Helper()
	h := c.Hash()
	must(t, db.PutConfig(h, c.Canonical()))
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: kind, Threads: 1})
	must(t, err)
	steps := int64(40)
	var ms []registry.Metric
	for s := int64(1); s <= steps; s++ {
		phase := 0
		for i, p := range c.QAT.Phases {
			if float64(s-1) >= p.Start*float64(steps) {
				phase = i
			}
		}
		loss := 2.0 + 4.0/float64(s) + 0.1*float64(phase) + offset
		ms = append(ms, registry.Metric{Step: s, Name: "loss", Value: loss}, registry.Metric{Step: s, Name: "phase", Value: float64(phase)})
		if s%10 == 0 {
			ms = append(ms, registry.Metric{Step: s, Name: "val_bpb", Value: loss / 1.8}, registry.Metric{Step: s, Name: "val_loss", Value: loss + 0.05})
		}
	}
	must(t, db.LogMetrics(run.ID, ms))
	last := 2.0 + 4.0/float64(steps) + 0.1*float64(len(c.QAT.Phases)-1) + offset
	res := train.Result{RunID: run.ID, Hash: h, Steps: steps, Tokens: steps * 256, TrainLoss: last, ValLoss: last + 0.05, ValBPB: last / 1.8, TokensPerSec: 1000}
	js, _ := json.Marshal(res)
	must(t, db.SetSummary(run.ID, string(js)))
	must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	return h
}

// synthEval records a done eval run of a training hash.
func synthEval(t *testing.T, db *registry.DB, model string, tasks []string, limit int, acc float64) string {
	t.Helper()
	h, canon := experiment.EvalRequest{Model: model, Tasks: tasks, Shots: -1, Limit: limit}.Hash()
	must(t, db.PutConfig(h, canon))
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindEval, ParentHash: model})
	must(t, err)
	res := map[string]any{"results": map[string]any{
		"arc_easy":        map[string]any{"alias": "arc_easy", "acc,none": acc, "acc_stderr,none": 0.02, "acc_norm,none": acc + 0.01, "acc_norm_stderr,none": 0.02},
		"tinystories_bpb": map[string]any{"alias": "tinystories_bpb", "bits_per_byte,none": 2.5 - acc, "bits_per_byte_stderr,none": "N/A"},
	}}
	js, _ := json.Marshal(res)
	must(t, db.SetSummary(run.ID, string(js)))
	must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	return h
}

// synthFixture records a two-arm, two-seed ablation ("subln"), an HPO
// study with complete and pruned trials, and a bench run. It returns the
// training hashes of the ablation.
func synthFixture(t *testing.T, db *registry.DB) []string {
	t.Helper()
	m := &ablations.Matrix{Name: "subln", Description: "SubLN on vs off", Base: "micro", Seeds: []int64{1, 2},
		Arms:     []ablations.Arm{{Name: "subln", Set: map[string]any{}}, {Name: "no-subln", Set: map[string]any{"quant.subln": false}}},
		Baseline: "subln", Metrics: []string{"val_bpb", "val_loss"}, Tasks: []string{"tinystories_bpb", "arc_easy"}, Limit: 5}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": []string{}})
	def := registry.AblationDef{Name: m.Name, Baseline: m.Baseline, Metrics: m.Metrics, Tasks: m.Tasks, Limit: m.Limit}
	var hashes []string
	for ai, arm := range []string{"subln", "no-subln"} {
		for _, seed := range m.Seeds {
			sets := []string{fmt.Sprintf("train.seed=%d", seed), "qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: int4, start: 0.3, ramp: 0.05}, {weights: ternary, start: 0.6, ramp: 0.1}]"}
			if arm == "no-subln" {
				sets = append(sets, "quant.subln=false")
			}
			c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
			must(t, err)
			h := synthRun(t, db, c, registry.KindAblationArm, 0.05*float64(ai)+0.01*float64(seed))
			def.Members = append(def.Members, registry.AblationMember{RunHash: h, Arm: arm, Seed: seed})
			synthEval(t, db, h, m.Tasks, m.Limit, 0.30-0.02*float64(ai)+0.005*float64(seed))
			hashes = append(hashes, h)
		}
	}
	_, err := db.PutAblation(def, string(spec))
	must(t, err)
	st := db.StudyStorage()
	sid, err := st.CreateNewStudy("lr-search")
	must(t, err)
	must(t, st.SetStudyDirection(sid, goptuna.StudyDirectionMinimize))
	must(t, st.SetStudyUserAttr(sid, "objective", "val_loss"))
	for i := 0; i < 8; i++ {
		tid, err := st.CreateNewTrial(sid)
		must(t, err)
		c, err := configs.Load(configs.Options{Preset: "micro", Sets: []string{fmt.Sprintf("train.lr=%g", 1.0e-3*float64(i+1))}, Env: []string{}})
		if i%2 == 0 {
			c, err = configs.Load(configs.Options{Preset: "micro", Sets: []string{fmt.Sprintf("train.lr=%g", 1.0e-3*float64(i+1)), "qat.phases=[{weights: float, start: 0, ramp: 0}]"}, Env: []string{}})
		}
		must(t, err)
		h := synthRun(t, db, c, registry.KindHPOTrial, 0.3/float64(i+1))
		must(t, db.LinkTrialRun(tid, h))
		v := 3.0 + 1.0/float64(i+1) + 0.2*float64(i%3)
		must(t, st.SetTrialIntermediateValue(tid, 1, v+0.3))
		if i%3 == 2 {
			must(t, st.SetTrialState(tid, goptuna.TrialStatePruned))
			continue
		}
		must(t, st.SetTrialValue(tid, v))
		must(t, st.SetTrialState(tid, goptuna.TrialStateComplete))
	}
	for i, name := range []string{"gemm-ternary", "decode-tiny"} {
		h, canon := experiment.EvalRequest{Model: name, Tasks: []string{"bench"}}.Hash()
		must(t, db.PutConfig(h, canon))
		run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindBench, Name: name})
		must(t, err)
		must(t, db.SetSummary(run.ID, fmt.Sprintf(`{"tokens_per_sec": %d}`, 5000*(i+1))))
		must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	}
	return hashes
}
