package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// synthFinetune records a done micro base and a done fine-tune of it.
func synthFinetune(t *testing.T, db *registry.DB) (base, ft string) {
	t.Helper()
	bc, err := configs.Load(configs.Options{Preset: "micro", Env: []string{}})
	must(t, err)
	base = synthRun(t, db, bc, registry.KindTrain, 0)
	c, err := configs.FinetuneConfig(bc, base, []string{"lora.rank=8", "lora.alpha=16", "lora.targets=[wq,wv]"}, []string{})
	must(t, err)
	ft = c.Hash()
	must(t, db.PutConfig(ft, c.Canonical()))
	run, err := db.BeginRun(registry.RunInfo{Hash: ft, Kind: registry.KindTrain, Name: "finetune", ParentHash: base, Threads: 2})
	must(t, err)
	res := experiment.FinetuneResult{RunID: run.ID, Hash: ft, Base: base, Steps: 128, Tokens: 262144, HeldOutBase: 3.2101, HeldOut: 2.9876, HeldOutMerged: 3.0012,
		HeldOutTokens: 9000, TrainableParams: 12288, BaseParams: 1228800, StepSeconds: 0.4567, Threads: 2}
	js, _ := json.Marshal(res)
	must(t, db.SetSummary(run.ID, string(js)))
	must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
	return base, ft
}

func TestFinetuneTable(t *testing.T) {
	db := openDB(t)
	base, ft := synthFinetune(t, db)
	rows, err := LoadFinetunes(db)
	must(t, err)
	if len(rows) != 1 || rows[0].Run.Hash != ft {
		t.Fatalf("LoadFinetunes = %d rows, want the one fine-tune (the base is not one)", len(rows))
	}
	rep := &experiment.FinetuneBenchReport{Preset: "tiny", Weights: "random", Rank: 8, Alpha: 16, Targets: []string{"wq"}, Steps: 4, Threads: []int{1},
		Rows: []experiment.FinetuneBenchRow{
			{Mode: "full", Threads: 1, StepSeconds: 1.0, BestStepSeconds: 0.9, TokensPerSec: 2048, TrainableParams: 1000, BaseParams: 1000, OptimizerBytes: 8000, PeakRSSBytes: 200e6},
			{Mode: "lora", Threads: 1, StepSeconds: 1.1, BestStepSeconds: 1.0, TokensPerSec: 1861, TrainableParams: 10, BaseParams: 1000, OptimizerBytes: 80, PeakRSSBytes: 150e6},
		}}
	bh, err := rep.Record(db, 1, experiment.FinetuneBenchOptions{Preset: "tiny", Threads: []int{1}, Steps: 4, Seed: 1})
	must(t, err)

	dir := filepath.Join(t.TempDir(), "paper")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "README.tmpl.md"), []byte("{{num \"finetuneHeldoutAdapters\"}}\n{{md \"finetune\"}}{{md \"bench\"}}"), 0o644))
	p, err := Render(db, Options{Dir: dir})
	must(t, err)
	md, err := os.ReadFile(filepath.Join(dir, "tables", "finetune.md"))
	must(t, err)
	for _, want := range []string{"| `" + ft[:12] + "` | `" + base[:12] + "` | 8 / 16 / wq, wv | 262,144 (128 steps) | 3.2101 | 2.9876 | 3.0012 | 12,288 (1.00%) | 0.457 (2 thr.) |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("finetune.md lacks %q:\n%s", want, md)
		}
	}
	bmd, err := os.ReadFile(filepath.Join(dir, "tables", "finetune_bench.md"))
	must(t, err)
	if !strings.Contains(string(bmd), "| lora | 1 | 1.100 | 1.000 | 1861 | 10 (1.00%) | 0.00 | 150.0 | 1.10× | 0.75× |") {
		t.Errorf("finetune_bench.md:\n%s", bmd)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	must(t, err)
	if !strings.HasPrefix(strings.SplitN(string(readme), "\n", 3)[1], "2.9876") || !strings.Contains(string(readme), "LoRA vs full fine-tuning") {
		t.Errorf("README:\n%s", readme)
	}
	// A fine-tuning bench is not a `harness bench` report: no bench figure or table from it.
	if _, err := os.Stat(filepath.Join(dir, "figures", "bench.png")); err == nil {
		t.Error("bench figure drawn from a fine-tuning bench run")
	}
	if _, err := os.Stat(filepath.Join(dir, "tables", "bench.md")); err == nil {
		t.Error("bench table rendered from a fine-tuning bench run")
	}
	if n, _ := p.Numbers.Get("finetuneBenchStepRatioOne"); n.Value != "1.10" || len(n.Hashes) != 1 || n.Hashes[0] != bh {
		t.Errorf("finetuneBenchStepRatioOne = %+v", n)
	}
	if n, _ := p.Numbers.Get("finetuneRuns"); n.Value != "1" {
		t.Errorf("finetuneRuns = %q", n.Value)
	}
	if diffs, err := Check(db, Options{Dir: dir}); err != nil || len(diffs) != 0 {
		t.Errorf("check after render: %v %v", diffs, err)
	}
}

func TestFinetuneTableEmpty(t *testing.T) {
	db := openDB(t)
	dir := filepath.Join(t.TempDir(), "paper")
	p, err := Render(db, Options{Dir: dir})
	must(t, err)
	for f, want := range map[string]string{
		"tables/finetune.md":     "No LoRA fine-tune is recorded yet",
		"generated/finetune.tex": `\input{tables/finetune}`,
		"tables/distill.md":      "Not recorded yet",
		"generated/distill.tex":  `\input{tables/distill}`,
	} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		must(t, err)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", f, want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tables", "finetune_bench.md")); err == nil {
		t.Error("fine-tuning bench table without a bench run")
	}
	if n, _ := p.Numbers.Get("finetuneHeldoutMerged"); n.Value != "n/a" {
		t.Errorf("finetuneHeldoutMerged = %q, want n/a", n.Value)
	}
}
