package reports

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

func TestBenchTables(t *testing.T) {
	rep := &experiment.BenchReport{
		KernelSet: "avx512",
		Peak:      map[int]float64{2: 300},
		Gemm: []experiment.GemmRow{
			{Variant: "NN", M: 512, K: 512, N: 1536, Threads: 2, GFLOPS: 210, Reference: "gonum", RefGFLOPS: 10.5, RatioToRef: 20},
			{Variant: "NN", M: 512, K: 512, N: 1536, Threads: 2, GFLOPS: 210, Reference: "openblas", RefGFLOPS: 280, RatioToRef: 0.75},
			{Variant: "NT", M: 512, K: 512, N: 1536, Threads: 2, GFLOPS: 140, Reference: "openblas", RefGFLOPS: 280, RatioToRef: 0.5},
		},
		Train: []experiment.TrainRow{{Preset: "tiny", Batch: 16, SeqLen: 128, Threads: 2, TokensPerSec: 4000, GFLOPS: 36, PeakGFLOPS: 300, PeakSource: "avx512-fma", MFU: 0.12, RefName: "gonum", RefTokensPerSec: 500, Speedup: 8}},
	}
	run := &registry.Run{Hash: "abc123", Attempt: 3}
	old := &experiment.BenchReport{Train: []experiment.TrainRow{{Preset: "tiny", Batch: 16, SeqLen: 128, Threads: 1, TokensPerSec: 1800, GFLOPS: 16.4}}}
	md, tex := benchTables(run, rep, []benchRecord{{run, rep}, {&registry.Run{Hash: "abc123", Attempt: 1}, old}})
	for _, want := range []string{
		"| NN | 512×512×1536 | 2 | 210.0 | 10.5 | 20.00× | 280.0 | 0.75× |",
		"| NT | 512×512×1536 | 2 | 140.0 | – | – | 280.0 | 0.50× |",
		"| abc123 (3) | tiny | 16×128 | 2 | 4000 | 36.0 | 300.0 | 12.0% | gonum | 500 | 8.00× |",
		"| abc123 (1) | tiny | 16×128 | 1 | 1800 | 16.4 | – | – | – | – | – |",
		"bench run abc123",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(tex, "NT & 512$\\times$512$\\times$1536 & 2 & 140.0 & -- & -- & 280.0 & 0.50") {
		t.Errorf("LaTeX table lacks the NT row:\n%s", tex)
	}
	r := &renderer{paper: &Paper{Numbers: newNumbers()}}
	r.benchNumbers(&registry.Run{Hash: "abc123"}, rep)
	for name, want := range map[string]string{
		MacroName("bench", "gemm", "min", "ratio", "openblas", "t2"): "0.50",
		MacroName("bench", "gemm", "min", "ratio", "gonum", "t2"):    "20.00",
		MacroName("bench", "tiny", "speedup", "t2"):                  "8.00",
		MacroName("bench", "tiny", "mfu", "t2"):                      "12.0",
		MacroName("bench", "peak", "t2"):                             "300.0",
	} {
		if n, _ := r.paper.Numbers.Get(name); n.Value != want {
			t.Errorf("macro %s = %q, want %q", name, n.Value, want)
		}
	}
}

// TestLoadBenchNewestTrainingRun: the throughput figure takes the training
// rows of the newest bench run that timed training only (never rows of
// older runs beside them), names that run, and falls back to the older
// single-value summaries when no run holds a bench report.
func TestLoadBenchNewestTrainingRun(t *testing.T) {
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	must(t, err)
	defer db.Close()
	record := func(name, summary string) string {
		t.Helper()
		h, canon := experiment.EvalRequest{Model: name, Tasks: []string{"bench"}}.Hash()
		must(t, db.PutConfig(h, canon))
		run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindBench, Name: name})
		must(t, err)
		must(t, db.SetSummary(run.ID, summary))
		must(t, db.FinishRun(run.ID, registry.StatusDone, ""))
		return h
	}
	if bs, err := loadBench(db); err != nil || len(bs) != 0 {
		t.Fatalf("empty registry: %d points, error %v", len(bs), err)
	}
	legacy := record("legacy", `{"tokens_per_sec": 5000}`)
	bs, err := loadBench(db)
	must(t, err)
	if len(bs) != 1 || bs[0].Hash != legacy || bs[0].TokensPerSec != 5000 || bs[0].Source != "" {
		t.Fatalf("legacy summaries only: got %+v", bs)
	}
	train := func(tok float64) string {
		rep := experiment.BenchReport{KernelSet: "avx512", Train: []experiment.TrainRow{
			{Preset: "tiny", Batch: 16, SeqLen: 128, Threads: 1, TokensPerSec: tok, RefName: "openblas", RefTokensPerSec: tok / 2},
			{Preset: "nano", Batch: 1, SeqLen: 512, Threads: 2, TokensPerSec: tok / 10, Recompute: true},
		}}
		b, err := json.Marshal(rep)
		must(t, err)
		return string(b)
	}
	record("older", train(1000))
	time.Sleep(10 * time.Millisecond) // distinct start times: "newest" is by start
	newer := record("newer", train(3000))
	time.Sleep(10 * time.Millisecond)
	record("decode-only", `{"tokens_per_sec": 7}`) // newest, but no training rows
	bs, err = loadBench(db)
	must(t, err)
	if len(bs) != 2 {
		t.Fatalf("want the 2 training rows of the newest training bench run, got %d: %+v", len(bs), bs)
	}
	for _, b := range bs {
		if b.Hash != newer || !strings.Contains(b.Source, "bench run "+short(newer)) || !strings.Contains(b.Source, "avx512 kernels") {
			t.Errorf("point %+v: want run %s named in its source", b, short(newer))
		}
	}
	if bs[0].Label != "tiny 16×128, 1 thr" || bs[0].TokensPerSec != 3000 || bs[0].RefName != "openblas" || bs[0].RefTokensPerSec != 1500 {
		t.Errorf("first point %+v", bs[0])
	}
	if bs[1].Label != "nano 1×512, 2 thr, recomputed" || bs[1].TokensPerSec != 300 {
		t.Errorf("second point %+v", bs[1])
	}
}

// TestTexSafeCPU: trademark marks dropped and spaces folded in a caption's
// CPU name.
func TestTexSafeCPU(t *testing.T) {
	for in, want := range map[string]string{
		"Intel(R) Xeon(R) Processor @ 2.50GHz": "Intel Xeon Processor @ 2.50GHz",
		"AMD EPYC":                             "AMD EPYC",
		"  ":                                   "unknown CPU",
		"Core(TM)  i7":                         "Core i7",
	} {
		if got := texSafeCPU(in); got != want {
			t.Errorf("texSafeCPU(%q) = %q, want %q", in, got, want)
		}
	}
}
