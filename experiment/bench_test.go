package experiment

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/registry"
)

// TestBenchReportAndRecord runs a minimal bench (one GEMM shape with the
// gonum reference, the micro preset's training step with and without gonum
// GEMMs) and records it in a temporary registry.
func TestBenchReportAndRecord(t *testing.T) {
	bo := BenchOptions{
		Threads: []int{1}, MinTime: time.Millisecond, Shapes: []GemmShape{{48, 40, 72}},
		Refs: []Reference{GonumReference}, Presets: []string{"micro"}, TrainSteps: 1,
		Batch: map[string][2]int{"micro": {2, 32}}, TrainRef: &GonumReference,
	}
	rep, err := Bench(bo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Gemm) != len(kernels.GemmVariants()) {
		t.Fatalf("got %d GEMM rows, want one per variant", len(rep.Gemm))
	}
	for _, g := range rep.Gemm {
		if g.Reference != "gonum" || !(g.GFLOPS > 0) || !(g.RefGFLOPS > 0) || g.RatioToRef != g.GFLOPS/g.RefGFLOPS {
			t.Fatalf("GEMM row %+v", g)
		}
	}
	if len(rep.Train) != 1 {
		t.Fatalf("got %d training rows, want 1", len(rep.Train))
	}
	tr := rep.Train[0]
	if tr.Preset != "micro" || tr.Batch != 2 || tr.SeqLen != 32 || !(tr.TokensPerSec > 0) || !(tr.PeakGFLOPS > 0) || tr.MFU != tr.GFLOPS/tr.PeakGFLOPS {
		t.Fatalf("training row %+v", tr)
	}
	if tr.RefName != "gonum" || !(tr.RefTokensPerSec > 0) || tr.Speedup != tr.TokensPerSec/tr.RefTokensPerSec {
		t.Fatalf("training reference %+v", tr)
	}
	if kernels.KernelSet() != "purego" && (rep.Peak[1] <= 0 || tr.PeakSource == "best GEMM") {
		t.Fatalf("no FMA peak measured: %+v", rep.Peak)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := rep.Record(db, 1, bo)
	if err != nil {
		t.Fatal(err)
	}
	// Options are part of a bench run's identity: another option set is
	// another run, the same options another attempt of the same one.
	other := bo
	other.Presets = nil
	h2, err := rep.Record(db, 1, other)
	if err != nil || h2 == h {
		t.Fatalf("bench with other options recorded as %s (%v), the same hash as %s", h2, err, h)
	}
	h3, err := rep.Record(db, 1, bo)
	if err != nil || h3 != h {
		t.Fatalf("the same bench options recorded as %s (%v), want %s", h3, err, h)
	}
	run, err := db.LatestRun(h)
	if err != nil {
		t.Fatal(err)
	}
	var back BenchReport
	if err := json.Unmarshal([]byte(run.SummaryJSON), &back); err != nil {
		t.Fatalf("recorded summary: %v", err)
	}
	if run.Status != "done" || run.Kind != "bench" || len(back.Train) != 1 || back.Train[0].TokensPerSec != tr.TokensPerSec {
		t.Fatalf("recorded run %+v / %+v", run, back.Train)
	}
}
