package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/rng"
	"github.com/nanomamba-edge/harness/train"
)

// GemmShape is one benchmarked product (M×K times K×N).
type GemmShape struct{ M, K, N int }

// LMShapes are the GEMM shapes of the LM workloads that the bench reports.
var LMShapes = []GemmShape{{512, 512, 1536}, {512, 1536, 512}, {4096, 512, 512}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}}

// Reference is a GEMM implementation measured next to the project's for a
// ratio in the same run (gonum's blas32 by default; OpenBLAS with -tags openblas).
type Reference struct {
	Name string
	// Gemm computes C (+)= op(A)·op(B) on row-major matrices with the
	// semantics of kernels.MatMul (transA: A is k×m; transB: B is n×k).
	Gemm kernels.GemmFunc
}

// GonumReference is gonum's pure-Go blas32 Sgemm, run with GOMAXPROCS set
// to the thread count (gonum splits its work over GOMAXPROCS goroutines).
var GonumReference = Reference{Name: "gonum", Gemm: GonumGemm}

// GonumGemm is a kernels.GemmFunc on gonum's blas32.
func GonumGemm(threads int, transA, transB bool, c, a, b []float32, m, k, n int, acc bool) {
	ta, tb := blas.NoTrans, blas.NoTrans
	lda, ldb := k, n
	if transA {
		ta, lda = blas.Trans, m
	}
	if transB {
		tb, ldb = blas.Trans, k
	}
	var beta float32
	if acc {
		beta = 1
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, 1, a, max(lda, 1), b, max(ldb, 1), beta, c, max(n, 1))
}

// withProcs runs fn with GOMAXPROCS set to threads.
func withProcs(threads int, fn func()) {
	prev := runtime.GOMAXPROCS(max(threads, 1))
	defer runtime.GOMAXPROCS(prev)
	fn()
}

// GemmRow is one line of the GEMM table.
type GemmRow struct {
	Variant               string
	M, K, N, Threads      int
	GFLOPS                float64
	Reference             string
	RefGFLOPS, RatioToRef float64
}

// TrainRow is the training-throughput line of one preset.
type TrainRow struct {
	Preset                        string
	Batch, SeqLen, Threads, Steps int
	TokensPerSec                  float64
	FLOPsPerToken, GFLOPS         float64 // training (3× forward) model FLOPs
	// PeakGFLOPS is the FMA peak at this thread count measured in this run
	// (PeakSource names the loop); MFU = GFLOPS / PeakGFLOPS. Where no FMA
	// loop exists (purego builds) the peak is the best GEMM rate instead.
	PeakGFLOPS, MFU float64
	PeakSource      string
	// BestGemmGFLOPS is the best GEMM rate at this thread count in this run.
	BestGemmGFLOPS float64
	// The same training step with every GEMM routed through a reference
	// BLAS (RefName), everything else unchanged; Speedup = ours / ref.
	RefName         string  `json:",omitempty"`
	RefTokensPerSec float64 `json:",omitempty"`
	Speedup         float64 `json:",omitempty"`
}

// BenchReport is what `harness bench` prints and records.
type BenchReport struct {
	KernelSet string
	// Peak is the measured FMA peak by thread count.
	Peak     map[int]float64 `json:",omitempty"`
	PeakLoop string          `json:",omitempty"`
	Gemm     []GemmRow
	Train    []TrainRow
}

// BenchOptions selects what to measure.
type BenchOptions struct {
	Threads    []int
	MinTime    time.Duration
	Shapes     []GemmShape
	Refs       []Reference
	Presets    []string
	Batch      map[string][2]int // preset → (batch, seq len); default (16, 128), nano (1, 512)
	TrainSteps int
	// TrainRef, when set, also times each training step with every GEMM
	// routed through this reference (a generic-Go baseline).
	TrainRef *Reference
	Log      io.Writer
}

func timeBest(minTime time.Duration, fn func()) time.Duration {
	best := time.Duration(1 << 62)
	start := time.Now()
	for n := 0; n < 2 || time.Since(start) < minTime; n++ {
		t0 := time.Now()
		fn()
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	return best
}

// Bench measures GEMM GFLOP/s (with reference ratios) and training
// throughput and MFU.
func Bench(o BenchOptions) (*BenchReport, error) {
	rep := &BenchReport{KernelSet: kernels.KernelSet(), Peak: map[int]float64{}}
	for _, th := range o.Threads {
		g, name := kernels.PeakGFLOPS(th, o.MinTime)
		rep.Peak[th], rep.PeakLoop = g, name
		if g > 0 {
			logf(o.Log, "peak %s threads %d: %.1f GFLOP/s\n", name, th, g)
		}
	}
	best := map[int]float64{}
	for _, th := range o.Threads {
		for _, s := range o.Shapes {
			for _, v := range kernels.GemmVariants() {
				ours, refG, err := benchGemmAlternating(o, v, s, th)
				if err != nil {
					return nil, err
				}
				best[th] = max(best[th], ours)
				row := GemmRow{Variant: v, M: s.M, K: s.K, N: s.N, Threads: th, GFLOPS: ours}
				for i, ref := range o.Refs {
					rr := row
					rr.Reference = ref.Name
					rr.RefGFLOPS = refG[i]
					rr.RatioToRef = rr.GFLOPS / rr.RefGFLOPS
					rep.Gemm = append(rep.Gemm, rr)
					logf(o.Log, "gemm %s %dx%dx%d threads %d: %.1f GFLOP/s, %s %.1f (x%.2f)\n", v, s.M, s.K, s.N, th, rr.GFLOPS, ref.Name, rr.RefGFLOPS, rr.RatioToRef)
				}
				if len(o.Refs) == 0 {
					rep.Gemm = append(rep.Gemm, row)
					logf(o.Log, "gemm %s %dx%dx%d threads %d: %.1f GFLOP/s\n", v, s.M, s.K, s.N, th, ours)
				}
			}
		}
	}
	for _, p := range o.Presets {
		for _, th := range o.Threads {
			row, err := benchTrain(p, th, o)
			if err != nil {
				return nil, err
			}
			row.BestGemmGFLOPS = best[th]
			row.PeakGFLOPS, row.PeakSource = rep.Peak[th], rep.PeakLoop
			if row.PeakGFLOPS == 0 {
				row.PeakGFLOPS, row.PeakSource = best[th], "best GEMM"
			}
			if row.PeakGFLOPS > 0 {
				row.MFU = row.GFLOPS / row.PeakGFLOPS
			}
			rep.Train = append(rep.Train, row)
			logf(o.Log, "train %s B=%d T=%d threads %d: %.0f tokens/s, %.2f GFLOP/s, MFU %.1f%%", p, row.Batch, row.SeqLen, th, row.TokensPerSec, row.GFLOPS, 100*row.MFU)
			if row.RefName != "" {
				logf(o.Log, "; with %s GEMMs %.0f tokens/s (x%.2f)", row.RefName, row.RefTokensPerSec, row.Speedup)
			}
			logf(o.Log, "\n")
		}
	}
	return rep, nil
}

// gemmRounds is how many times the project's GEMM and each comparable
// reference are timed in alternation, so that a busy moment of the machine
// does not fall on one side of a ratio only.
const gemmRounds = 4

// benchGemmAlternating times one product with the project's kernels and
// every reference in alternating rounds of MinTime/gemmRounds each, and
// returns the best rates. A reference more than 4× slower than ours after
// the first round (gonum) is not repeated: its ratio cannot be in doubt.
func benchGemmAlternating(o BenchOptions, v string, s GemmShape, threads int) (float64, []float64, error) {
	slice := o.MinTime / gemmRounds
	a, b, c := randMat(s.M*s.K, 1), randMat(s.K*s.N, 2), make([]float32, s.M*s.N)
	var ours float64
	refG := make([]float64, len(o.Refs))
	for round := 0; round < gemmRounds; round++ {
		r, err := kernels.BenchGEMM("", v, s.M, s.K, s.N, threads, slice)
		if err != nil {
			return 0, nil, err
		}
		ours = max(ours, r.GFLOPS)
		for i, ref := range o.Refs {
			if round > 0 && refG[i]*4 < ours {
				continue
			}
			var d time.Duration
			withProcs(threads, func() {
				d = timeBest(slice, func() { ref.Gemm(threads, v == "TN", v == "NT", c, a, b, s.M, s.K, s.N, false) })
			})
			refG[i] = max(refG[i], 2*float64(s.M)*float64(s.K)*float64(s.N)/d.Seconds()/1e9)
		}
	}
	return ours, refG, nil
}

func logf(w io.Writer, f string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, f, a...)
	}
}

func randMat(n int, seed int64) []float32 {
	s := rng.New(seed, "bench")
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(s.Float64()*2 - 1)
	}
	return out
}

func benchTrain(preset string, threads int, o BenchOptions) (TrainRow, error) {
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}})
	if err != nil {
		return TrainRow{}, err
	}
	bt := [2]int{c.Train.BatchSize, c.Data.SeqLen}
	if preset == "nano" {
		bt = [2]int{1, 512}
	}
	if x, ok := o.Batch[preset]; ok {
		bt = x
	}
	m, err := models.New(c.Model, c.Quant, 1)
	if err != nil {
		return TrainRow{}, err
	}
	m.SetThreads(threads)
	last := c.QAT.Phases[len(c.QAT.Phases)-1].Weights
	wq, _ := models.ParseWeightQuant(last)
	m.SetQuant(models.QuantState{From: wq, To: wq, Lambda: 1})
	opt, err := train.NewAdamW(m.Params(), c.Train)
	if err != nil {
		return TrainRow{}, err
	}
	opt.Threads = threads
	B, T := bt[0], bt[1]
	s := rng.New(1, "bench/tokens")
	toks := make([]int32, B*T)
	tgts := make([]int32, B*T)
	for i := range toks {
		toks[i] = int32(s.Intn(c.Model.Vocab))
		tgts[i] = int32(s.Intn(c.Model.Vocab))
	}
	step := func() error {
		m.ZeroGrad()
		if _, err := m.ForwardBackward(toks, tgts, B, T, 1); err != nil {
			return err
		}
		opt.Step(1e-4)
		return nil
	}
	// A warm-up step allocates the buffers; with TrainSteps = 0 it is the
	// only (timed) step, for memory measurements of large shapes.
	timeSteps := func() (float64, int, error) {
		var el float64
		steps := 1
		var err error
		withProcs(threads, func() {
			t0 := time.Now()
			if err = step(); err != nil {
				return
			}
			if o.TrainSteps > 0 {
				steps = o.TrainSteps
				t0 = time.Now()
				for i := 0; i < steps && err == nil; i++ {
					err = step()
				}
			}
			el = time.Since(t0).Seconds()
		})
		return el, steps, err
	}
	el, steps, err := timeSteps()
	if err != nil {
		return TrainRow{}, err
	}
	fpt, err := TrainFLOPsPerToken(c, T)
	if err != nil {
		return TrainRow{}, err
	}
	tps := float64(B*T*steps) / el
	row := TrainRow{Preset: preset, Batch: B, SeqLen: T, Threads: threads, Steps: steps, TokensPerSec: tps, FLOPsPerToken: fpt, GFLOPS: fpt * tps / 1e9}
	if o.TrainRef != nil {
		kernels.WithGEMM(o.TrainRef.Gemm, func() { el, steps, err = timeSteps() })
		if err != nil {
			return TrainRow{}, fmt.Errorf("training step with %s GEMMs: %w", o.TrainRef.Name, err)
		}
		row.RefName = o.TrainRef.Name
		row.RefTokensPerSec = float64(B*T*steps) / el
		row.Speedup = tps / row.RefTokensPerSec
	}
	return row, nil
}

// TrainFLOPsPerToken is 3× the forward model FLOPs per token (a multiply-add
// counts 2): the projections and LM head, causal attention scores and
// values (on average T/2 keys per query), and the chunked SSD (METHODS §1.6).
func TrainFLOPsPerToken(c *configs.Config, T int) (float64, error) {
	info, err := models.Describe(c.Model, c.Quant)
	if err != nil {
		return 0, err
	}
	var lin float64
	for _, t := range info.Tensors {
		n := t.Name
		for _, suf := range []string{".wq", ".wk", ".wv", ".wo", ".in_proj", ".out_proj", ".w1", ".w2", ".w3"} {
			if strings.HasSuffix(n, suf) {
				lin += float64(t.Params)
			}
		}
	}
	mc := c.Model
	fwd := 2*lin + 2*float64(mc.DModel)*float64(mc.Vocab)
	nAttn := len(mc.AttnLayers)
	fwd += float64(nAttn) * 2 * 2 * float64(T) / 2 * float64(mc.DModel)
	din := float64(mc.Expand * mc.DModel)
	q := float64(min(mc.Chunk, T))
	fwd += float64(mc.NLayers-nAttn) * (2*din*(q+2*float64(mc.DState)) + 2*q*float64(mc.NGroups*mc.DState))
	return 3 * fwd, nil
}

// Identity is what a bench run's hash is made of: every option that
// changes what is measured, the kernel set and the CPU model.
func (o BenchOptions) Identity(kernelSet string) map[string]any {
	refs := make([]string, len(o.Refs))
	for i, r := range o.Refs {
		refs[i] = r.Name
	}
	shapes := make([][3]int, len(o.Shapes))
	for i, s := range o.Shapes {
		shapes[i] = [3]int{s.M, s.K, s.N}
	}
	trainRef := ""
	if o.TrainRef != nil {
		trainRef = o.TrainRef.Name
	}
	batch := map[string][2]int{}
	for k, v := range o.Batch {
		batch[k] = v
	}
	return map[string]any{
		"schema": configs.SchemaVersion, "kind": "bench", "kernels": kernelSet, "cpu": registry.CPUModel(),
		"threads": o.Threads, "min_time_ns": o.MinTime.Nanoseconds(), "shapes": shapes, "refs": refs,
		"presets": o.Presets, "batch": batch, "train_steps": o.TrainSteps, "train_ref": trainRef,
	}
}

// Record stores the report as a bench run whose hash is the options'
// Identity: two benches with other options are two runs.
func (r *BenchReport) Record(db *registry.DB, threads int, o BenchOptions) (string, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	h, canon := configs.HashJSON(o.Identity(r.KernelSet))
	if err := db.PutConfig(h, canon); err != nil {
		return "", err
	}
	att, err := db.Start(registry.RunInfo{Hash: h, Kind: registry.KindBench, Name: "bench", Threads: threads, KernelSet: r.KernelSet},
		registry.StartOptions{Force: true})
	if err != nil {
		return "", err
	}
	if err := att.SetSummary(string(js)); err != nil {
		return "", att.Fail(registry.StatusFailed, err)
	}
	return h, att.Finish(registry.StatusDone, "")
}
