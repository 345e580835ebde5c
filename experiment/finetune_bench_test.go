package experiment

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/nanomamba-edge/harness/registry"
)

func TestFinetuneBenchMicro(t *testing.T) {
	o := FinetuneBenchOptions{Preset: "micro", Threads: []int{1}, Steps: 2, Reps: 2, Rank: 4, Alpha: 8, Seed: 1}
	rep, err := FinetuneBench(o)
	if err != nil {
		t.Fatal(err)
	}
	full, okF := rep.Row(FinetuneModeFull, 1)
	lora, okL := rep.Row(FinetuneModeLoRA, 1)
	if !okF || !okL || len(rep.Rows) != 2 || rep.Reps != 2 {
		t.Fatalf("rows %+v: want full and lora at 1 thread", rep.Rows)
	}
	if full.TrainableParams != full.BaseParams || lora.BaseParams != full.BaseParams {
		t.Errorf("full trains %d of %d, lora's base %d: want every parameter and the same base", full.TrainableParams, full.BaseParams, lora.BaseParams)
	}
	if lora.TrainableParams <= 0 || lora.TrainableParams >= full.TrainableParams/4 || lora.OptimizerBytes != 8*lora.TrainableParams {
		t.Errorf("lora trains %d (optimizer %d B) of %d", lora.TrainableParams, lora.OptimizerBytes, full.BaseParams)
	}
	for _, r := range rep.Rows {
		if !(r.StepSeconds > 0) || !(r.TokensPerSec > 0) || r.Steps != 2 || r.FirstLoss <= 0 || r.PeakRSSBytes != 0 {
			t.Errorf("row %+v", r)
		}
	}
	// Recorded as a bench run that `harness bench` readers do not take
	// for one of theirs.
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := rep.Record(db, 1, o)
	if err != nil {
		t.Fatal(err)
	}
	run, err := db.DoneRun(h)
	if err != nil || run.Kind != registry.KindBench || run.Name != "bench-finetune" {
		t.Fatalf("recorded run %+v, %v", run, err)
	}
	got := ParseFinetuneBench(run.SummaryJSON)
	if got == nil || len(got.Rows) != 2 || got.Rows[1].TrainableParams != rep.Rows[1].TrainableParams {
		t.Fatalf("parsed summary %+v", got)
	}
	var b BenchReport
	if err := json.Unmarshal([]byte(run.SummaryJSON), &b); err != nil || len(b.Gemm) != 0 || len(b.Train) != 0 || b.Decode != nil {
		t.Errorf("a fine-tuning bench summary decodes as a bench report: %+v %v", b, err)
	}
	if ParseFinetuneBench(`{"Gemm":[],"Train":[{"Preset":"tiny"}]}`) != nil {
		t.Error("a bench report parsed as a fine-tuning bench")
	}
	// Same options, same identity: a second record is a new attempt.
	h2, err := rep.Record(db, 1, o)
	if err != nil || h2 != h {
		t.Errorf("second record %s, %v; want the same hash %s", h2, err, h)
	}
	if _, err := FinetuneBench(FinetuneBenchOptions{Preset: "micro", Threads: []int{1}, Steps: 0}); err == nil {
		t.Error("zero steps accepted")
	}
	if _, err := FinetuneBenchMeasure(FinetuneBenchSpec{Mode: "qlora", Preset: "micro", Threads: 1, Steps: 1}); err == nil {
		t.Error("unknown mode accepted")
	}
}
