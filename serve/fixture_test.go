package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture is a registry built by the test (the approach of
// reports/fixture_test.go) with what every page shows.
type fixture struct {
	path, root string
	rw         *registry.DB // the writer, for tests that add points
	arms       []string     // ablation training hashes: subln s1, s2, no-subln s1, s2
	evals      []string     // their eval hashes
	trials     []string     // HPO trial run hashes by trial number
	running    string       // a running training run
	runningID  int64
	failed     string
	art        string // a done run with artifacts
	artSHA     string
	bench      string
}

func loadConfig(t testing.TB, sets ...string) *configs.Config {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	must(t, err)
	return c
}

// lossAt is the synthetic loss: decaying, with a bump per QAT phase.
func lossAt(s int64, phase int, offset float64) float64 {
	return 2.0 + 4.0/float64(s) + 0.1*float64(phase) + offset
}

func phaseAt(c *configs.Config, s, steps int64) int {
	phase := 0
	for i, p := range c.QAT.Phases {
		if float64(s-1) >= p.Start*float64(steps) {
			phase = i
		}
	}
	return phase
}

// points are the metrics of steps from..to of a synthetic run.
func points(c *configs.Config, from, to, steps int64, offset float64) []registry.Metric {
	var ms []registry.Metric
	for s := from; s <= to; s++ {
		ph := phaseAt(c, s, steps)
		loss := lossAt(s, ph, offset)
		ms = append(ms, registry.Metric{Step: s, Name: "loss", Value: loss}, registry.Metric{Step: s, Name: "phase", Value: float64(ph)},
			registry.Metric{Step: s, Name: "lr", Value: 1e-3})
		if s%10 == 0 {
			ms = append(ms, registry.Metric{Step: s, Name: "val_bpb", Value: loss / 1.8}, registry.Metric{Step: s, Name: "val_loss", Value: loss + 0.05})
		}
	}
	return ms
}

// synthRun records a done training run of c.
func synthRun(t testing.TB, db *registry.DB, c *configs.Config, kind, name string, offset float64) (string, int64) {
	t.Helper()
	h := c.Hash()
	must(t, db.PutConfig(h, c.Canonical()))
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: kind, Name: name, Threads: 1, KernelSet: "avx2"})
	must(t, err)
	const steps = 40
	must(t, db.LogMetrics(run.ID, points(c, 1, steps, steps, offset)))
	last := lossAt(steps, len(c.QAT.Phases)-1, offset)
	res := train.Result{RunID: run.ID, Hash: h, Steps: steps, Tokens: steps * 256, TrainLoss: last, ValLoss: last + 0.05, ValBPB: last / 1.8, TokensPerSec: 1000}
	js, _ := json.Marshal(res)
	must(t, db.SetSummary(run.ID, string(js)))
	must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	return h, run.ID
}

// synthEval records a done eval run of a training hash, with its task
// results as rows.
func synthEval(t testing.TB, db *registry.DB, model string, tasks []string, limit int, acc float64) string {
	t.Helper()
	h, canon := experiment.EvalRequest{Model: model, Tasks: tasks, Shots: -1, Limit: limit}.Hash()
	must(t, db.PutConfig(h, canon))
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindEval, Name: "tinystories_bpb,arc_easy", ParentHash: model})
	must(t, err)
	res := map[string]any{"results": map[string]any{
		"arc_easy":        map[string]any{"alias": "arc_easy", "acc,none": acc, "acc_stderr,none": 0.02, "acc_norm,none": acc + 0.01, "acc_norm_stderr,none": 0.02},
		"tinystories_bpb": map[string]any{"alias": "tinystories_bpb", "bits_per_byte,none": 2.5 - acc, "bits_per_byte_stderr,none": "N/A"},
	}}
	js, _ := json.Marshal(res)
	must(t, db.SetSummary(run.ID, string(js)))
	must(t, db.PutTaskResults(run.ID, []registry.TaskResult{
		{Task: "arc_easy", Metric: "acc", Value: acc, Stderr: 0.02, N: 100},
		{Task: "arc_easy", Metric: "acc_norm", Value: acc + 0.01, Stderr: 0.02, N: 100},
	}))
	must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	return h
}

// newFixture builds the registry under a temporary project root: a
// two-arm, two-seed ablation "subln" with eval runs, an HPO study
// "lr-search" with complete and pruned trials and two parameters, a
// bench run with a GEMM and a training table, a running and a failed
// training run, and a run with artifacts inside and outside the root.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	must(t, os.MkdirAll(root, 0o755))
	f := &fixture{root: root, path: filepath.Join(root, "registry.db")}
	db, err := registry.Open(f.path)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	f.rw = db

	// Ablation.
	m := &ablations.Matrix{Name: "subln", Description: "SubLN on vs off", Base: "micro", Seeds: []int64{1, 2},
		Arms:     []ablations.Arm{{Name: "subln", Set: map[string]any{}}, {Name: "no-subln", Set: map[string]any{"quant.subln": false}}},
		Baseline: "subln", Metrics: []string{"val_bpb", "val_loss"}, Tasks: []string{"tinystories_bpb", "arc_easy"}, Limit: 5}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": []string{}})
	def := registry.AblationDef{Name: m.Name, Baseline: m.Baseline, Metrics: m.Metrics, Tasks: m.Tasks, Limit: m.Limit}
	phases := "qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: int4, start: 0.3, ramp: 0.05}, {weights: ternary, start: 0.6, ramp: 0.1}]"
	for ai, arm := range []string{"subln", "no-subln"} {
		for _, seed := range m.Seeds {
			sets := []string{fmt.Sprintf("train.seed=%d", seed), phases}
			if arm == "no-subln" {
				sets = append(sets, "quant.subln=false")
			}
			c := loadConfig(t, sets...)
			h, _ := synthRun(t, db, c, registry.KindAblationArm, "micro", 0.05*float64(ai)+0.01*float64(seed))
			def.Members = append(def.Members, registry.AblationMember{RunHash: h, Arm: arm, Seed: seed})
			f.evals = append(f.evals, synthEval(t, db, h, m.Tasks, m.Limit, 0.30-0.02*float64(ai)+0.005*float64(seed)))
			f.arms = append(f.arms, h)
		}
	}
	_, err = db.PutAblation(def, string(spec))
	must(t, err)

	// HPO study: lr (log-uniform) and subln (categorical).
	st := db.StudyStorage()
	sid, err := st.CreateNewStudy("lr-search")
	must(t, err)
	must(t, st.SetStudyDirection(sid, goptuna.StudyDirectionMinimize))
	must(t, st.SetStudyUserAttr(sid, "objective", "val_loss"))
	lrDist := goptuna.LogUniformDistribution{Low: 1e-4, High: 1e-1}
	catDist := goptuna.CategoricalDistribution{Choices: []string{"true", "false"}}
	for i := 0; i < 8; i++ {
		tid, err := st.CreateNewTrial(sid)
		must(t, err)
		lr := 1.0e-3 * float64(i+1)
		c := loadConfig(t, fmt.Sprintf("train.lr=%g", lr), "qat.phases=[{weights: float, start: 0, ramp: 0}]")
		h, _ := synthRun(t, db, c, registry.KindHPOTrial, "micro", 0.3/float64(i+1))
		must(t, db.LinkTrialRun(tid, h))
		f.trials = append(f.trials, h)
		must(t, st.SetTrialParam(tid, "lr", lr, lrDist))
		must(t, st.SetTrialParam(tid, "subln", float64(i%2), catDist))
		v := 3.0 + 1.0/float64(i+1) + 0.2*float64(i%3)
		must(t, st.SetTrialIntermediateValue(tid, 1, v+0.3))
		if i%3 == 2 {
			must(t, st.SetTrialState(tid, goptuna.TrialStatePruned))
			continue
		}
		must(t, st.SetTrialValue(tid, v))
		must(t, st.SetTrialState(tid, goptuna.TrialStateComplete))
	}

	// Bench run with a GEMM table and training rows.
	rep := experiment.BenchReport{KernelSet: "avx512", Peak: map[int]float64{1: 150.5, 2: 300.25}, PeakLoop: "avx512-fma",
		Gemm: []experiment.GemmRow{
			{Variant: "NN", M: 512, K: 512, N: 1536, Threads: 1, GFLOPS: 57.5, Reference: "gonum", RefGFLOPS: 8, RatioToRef: 57.5 / 8},
			{Variant: "NT", M: 512, K: 512, N: 1536, Threads: 2, GFLOPS: 110.25, Reference: "gonum", RefGFLOPS: 12.5, RatioToRef: 110.25 / 12.5},
		},
		Train: []experiment.TrainRow{
			{Preset: "tiny", Batch: 16, SeqLen: 128, Threads: 2, Steps: 4, TokensPerSec: 4311, GFLOPS: 40.2, PeakGFLOPS: 300.25, MFU: 0.134, PeakSource: "avx512-fma", RefName: "gonum", RefTokensPerSec: 588, Speedup: 4311.0 / 588},
		}}
	bh, bcanon := experiment.EvalRequest{Model: "bench-fixture", Tasks: []string{"bench"}}.Hash()
	must(t, db.PutConfig(bh, bcanon))
	brun, err := db.BeginRun(registry.RunInfo{Hash: bh, Kind: registry.KindBench, Name: "bench", Threads: 2, KernelSet: "avx512"})
	must(t, err)
	bjs, _ := json.Marshal(rep)
	must(t, db.SetSummary(brun.ID, string(bjs)))
	must(t, db.FinishRun(brun.ID, registry.StatusDone, ""))
	f.bench = bh

	// A running training run with the first 15 of 40 steps.
	rc := loadConfig(t, "train.seed=7", phases)
	f.running = rc.Hash()
	must(t, db.PutConfig(f.running, rc.Canonical()))
	rrun, err := db.BeginRun(registry.RunInfo{Hash: f.running, Kind: registry.KindTrain, Name: "micro-live", Threads: 1})
	must(t, err)
	must(t, db.LogMetrics(rrun.ID, points(rc, 1, 15, 40, 0)))
	f.runningID = rrun.ID

	// A failed run.
	fc := loadConfig(t, "train.seed=8")
	f.failed = fc.Hash()
	must(t, db.PutConfig(f.failed, fc.Canonical()))
	frun, err := db.BeginRun(registry.RunInfo{Hash: f.failed, Kind: registry.KindTrain, Name: "micro", Threads: 1})
	must(t, err)
	must(t, db.LogMetrics(frun.ID, points(fc, 1, 5, 40, 0)))
	must(t, db.FinishRun(frun.ID, registry.StatusFailed, "loss became NaN at step 6"))

	// A done run with artifacts: one under the root, one outside it
	// (relative and absolute), one linking outside, one missing.
	ac := loadConfig(t, "train.seed=9", phases)
	var aid int64
	f.art, aid = synthRun(t, db, ac, registry.KindTrain, "micro", 0.02)
	body := []byte("checkpoint bytes of the fixture\n")
	sum := sha256.Sum256(body)
	f.artSHA = hex.EncodeToString(sum[:])
	rel := filepath.Join("runs", f.art, "ckpt-000000040.safetensors")
	must(t, os.MkdirAll(filepath.Join(root, "runs", f.art), 0o755))
	must(t, os.WriteFile(filepath.Join(root, rel), body, 0o644))
	secret := filepath.Join(base, "secret.txt")
	must(t, os.WriteFile(secret, []byte("not to be served\n"), 0o644))
	must(t, os.Symlink(secret, filepath.Join(root, "runs", f.art, "link.bin")))
	for _, a := range []registry.Artifact{
		{RunID: aid, Kind: "checkpoint", Path: filepath.ToSlash(rel), SHA256: f.artSHA, Bytes: int64(len(body))},
		{RunID: aid, Kind: "export", Path: "../secret.txt", SHA256: f.artSHA, Bytes: 1},
		{RunID: aid, Kind: "export", Path: secret, SHA256: f.artSHA, Bytes: 1},
		{RunID: aid, Kind: "export", Path: "runs/" + f.art + "/link.bin", SHA256: f.artSHA, Bytes: 1},
		{RunID: aid, Kind: "export", Path: "runs/" + f.art + "/gone.bin", SHA256: f.artSHA, Bytes: 1},
	} {
		must(t, db.PutArtifact(a))
	}
	return f
}

// server opens the fixture read-only, as `harness serve` does.
func (f *fixture) server(t testing.TB) *Server {
	t.Helper()
	ro, err := registry.OpenReadOnly(f.path)
	must(t, err)
	t.Cleanup(func() { ro.Close() })
	s, err := New(ro, Options{Root: f.root})
	must(t, err)
	return s
}
