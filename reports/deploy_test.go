package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

func decodeFixture() *experiment.DecodeReport {
	return &experiment.DecodeReport{
		Weights: "random (models.New seed 1), quantized to ternary", DotKernels: "avx512vnni",
		Bandwidth: map[int]float64{1: 20, 2: 30}, TriadBytes: 256 << 20, BandwidthL3: map[int]float64{1: 200},
		Tokenizers: map[string]int{"tiny": 2048, "nano": 32768},
		Rows: []experiment.DecodeRow{
			{Preset: "nano", Path: "float32", FileBytes: 150e6, PeakRSSBytes: 320e6, Threads: 1, Prompt: 32, Tokens: 64, PrefillTokS: 40, DecodeTokS: 41},
			{Preset: "nano", Path: "packed", Weights: "tq2_0", Embed: "q8_0", Head: "int8", FileBytes: 23e6, PeakRSSBytes: 35e6, Threads: 1, Prompt: 32, Tokens: 64,
				PrefillTokS: 500, DecodeTokS: 520, WeightBytes: 23e6, StateBytes: 1e6, BandwidthGBs: 20, RooflineTokS: 833, RooflineFraction: 520.0 / 833, SpeedupFloat: 520.0 / 41,
				DecodeCPUTokS: 610, LeanPeakRSSBytes: 30e6, FitsL3: true, BandwidthL3GBs: 200, RooflineL3TokS: 5200, RooflineL3Frac: 0.1,
				StreamGBs: 30, StreamRooflineTokS: 1250, StreamFraction: 520.0 / 1250},
			// A row recorded before the stream roofline existed.
			{Preset: "tiny", Path: "packed", Weights: "tq2_0", Embed: "f16", Head: "float", FileBytes: 1e6, PeakRSSBytes: 35e6, Threads: 2, Prompt: 32, Tokens: 64,
				PrefillTokS: 900, DecodeTokS: 800, WeightBytes: 1e6, StateBytes: 1e5, BandwidthGBs: 20, RooflineTokS: 18182, RooflineFraction: 800.0 / 18182, SpeedupFloat: 2},
		},
	}
}

func TestDeployTables(t *testing.T) {
	md, tex := deployTables(&registry.Run{Hash: "feed01", Attempt: 2}, decodeFixture())
	for _, want := range []string{
		"| nano | float32 | – | 150.00 | 320.0 | – | 1 | 40 | 41 | – | – | – | – | – | – | – |",
		"| nano | packed | tq2_0 / q8_0 / int8 | 23.00 | 35.0 | 30.0 | 1 | 500 | 520 | 610 | 24.00 | 30.0 | 1250 | 42% | 62% / 10%* | 12.68× |",
		"| tiny | packed | tq2_0 / f16 / float | 1.00 | 35.0 | – | 2 | 900 | 800 | – | 1.10 | – | – | – | 4% / – | 2.00× |",
		"bench run feed01",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(tex, "nano & packed & tq2\\_0 / q8\\_0 / int8 & 23.00 & 35.0 & 30.0 & 1 & 500 & 520 & 610 & 24.00 & 30.0 & 1250 & 42\\% & 62\\% / 10\\%$^*$ & 12.68 \\\\") {
		t.Errorf("LaTeX table lacks the packed row:\n%s", tex)
	}
	// With the state's write-back in the probe and a skipped variant.
	fx := decodeFixture()
	fx.Rows[1].WrittenBytes = 4e5
	fx.Skipped = []string{"tiny tq1_0/q3_k/int8: d_model 128 is not a multiple of Q3_K's 256-element blocks"}
	c := deployCaption(&registry.Run{Hash: "feed01", Attempt: 2}, fx)
	for _, want := range []string{"the state's bytes read and stored back in place", "Not measured: tiny tq1_0/q3_k/int8: d_model 128"} {
		if !strings.Contains(c, want) {
			t.Errorf("caption lacks %q: %s", want, c)
		}
	}
	c = deployCaption(&registry.Run{Hash: "feed01", Attempt: 2}, decodeFixture())
	if strings.Contains(c, "Not measured") {
		t.Errorf("caption names skipped variants where none were: %s", c)
	}
	for _, want := range []string{"20.0 GB/s at 1 thread(s), 30.0 GB/s at 2 thread(s)", "random (models.New seed 1)", "avx512vnni", "200.0 GB/s at 1 thread(s)", "reads a buffer of that many bytes", "(tokens: nano 32768, tiny 2048)"} {
		if !strings.Contains(c, want) {
			t.Errorf("caption lacks %q: %s", want, c)
		}
	}
}

// Without a decode bench the renderer writes no deployment file or output
// row and the "deploy" fragment says why; with one, the newest decode run's table is written and follows the
// benchmarks in the README fragment.
func TestDeployRender(t *testing.T) {
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	render := func() *renderer {
		r := &renderer{db: db, dir: t.TempDir(), paper: &Paper{Numbers: newNumbers()}, written: map[string]bool{}, runs: map[string]*registry.Run{}, md: map[string]string{}}
		if err := r.deploy(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := render()
	if len(r.written) != 0 || !strings.Contains(r.md["deploy"], "No decode bench run") || len(r.paper.Outputs) != 0 || r.md["bench"] != "" {
		t.Fatalf("placeholder: written %v, md %q, outputs %+v", r.written, r.md["deploy"], r.paper.Outputs)
	}
	// A GEMM-only bench run is not a decode run.
	gemm := &experiment.BenchReport{KernelSet: "avx512", Gemm: []experiment.GemmRow{{Variant: "NN", M: 1, K: 1, N: 1, Threads: 1, GFLOPS: 1}}}
	if _, err := gemm.Record(db, 1, experiment.BenchOptions{Threads: []int{1}}); err != nil {
		t.Fatal(err)
	}
	if r := render(); len(r.written) != 0 {
		t.Fatalf("a GEMM bench rendered a deployment table: %v", r.written)
	}
	for i, tok := range []int{64, 65} {
		rep := &experiment.BenchReport{KernelSet: "avx512", Decode: decodeFixture()}
		rep.Decode.Rows[1].Tokens = tok
		if _, err := rep.Record(db, 1, experiment.BenchOptions{Decode: &experiment.DecodeOptions{Presets: []string{"nano"}, Prompt: 32 + i}}); err != nil {
			t.Fatal(err)
		}
	}
	r = render()
	b, err := os.ReadFile(filepath.Join(r.dir, "tables", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| 32 |") && !strings.Contains(string(b), "tq2_0 / q8_0 / int8") {
		t.Fatalf("deploy table:\n%s", b)
	}
	if !r.written["tables/deploy.tex"] || !r.written["generated/deploy.tex"] || !strings.Contains(r.md["bench"], "Deployment (batch-1 decode)") {
		t.Fatalf("written %v, bench fragment %q", r.written, r.md["bench"])
	}
	run, rep, err := latestDecode(db)
	if err != nil || rep == nil || rep.Rows[1].Tokens != 65 || len(r.paper.Outputs) != 1 || r.paper.Outputs[0].Hashes[0] != run.Hash {
		t.Fatalf("newest decode run %+v, %+v, %v; outputs %+v", run, rep, err, r.paper.Outputs)
	}
}
