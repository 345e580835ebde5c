package reports

import (
	"strings"
	"testing"

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
