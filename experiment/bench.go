package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/proc"
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
	// Recompute: block activations recomputed in the backward pass
	// (models.Model.SetRecompute; the same bits, about one more forward
	// pass of work, which the FLOPs and MFU do not count).
	Recompute bool `json:",omitempty"`
	// PeakRSSBytes is the peak resident set (VmHWM) of the child process
	// that ran this measurement alone (0: measured in-process, not
	// reported).
	PeakRSSBytes int64 `json:",omitempty"`
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
	// Decode is the decode bench (`harness bench --decode`), when run.
	Decode *DecodeReport `json:",omitempty"`
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
	// TrainRef, when set, also times each training step with stored
	// activations with every GEMM routed through this reference (a
	// generic-Go baseline).
	TrainRef *Reference
	// Recompute lists the activation modes timed for every preset and
	// thread count: false stores every block's activations, true
	// recomputes them in the backward pass. Empty means stored only.
	Recompute []bool
	// TrainChild, when set, runs each training measurement in a separate
	// process (see BenchTrainChild) so that its peak resident memory is
	// that measurement's alone; nil runs them in this process.
	TrainChild func(TrainSpec) (*TrainChildResult, error)
	// Decode, when set, also runs the decode bench.
	Decode *DecodeOptions
	Log    io.Writer
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
	// Every preset must load before anything is measured.
	presets := slices.Clone(o.Presets)
	if o.Decode != nil {
		presets = append(presets, o.Decode.Presets...)
	}
	for _, p := range presets {
		if _, err := configs.Load(configs.Options{Preset: p, Env: []string{}}); err != nil {
			return nil, fmt.Errorf("bench: preset %q: %w", p, err)
		}
	}
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
	modes := o.Recompute
	if len(modes) == 0 {
		modes = []bool{false}
	}
	for _, p := range o.Presets {
		bt, err := benchShape(p, o)
		if err != nil {
			return nil, err
		}
		for _, th := range o.Threads {
			for _, rc := range modes {
				spec := TrainSpec{Preset: p, Batch: bt[0], SeqLen: bt[1], Threads: th, Steps: o.TrainSteps, Recompute: rc, Kernels: kernels.KernelSet()}
				if o.TrainRef != nil && !rc {
					spec.TrainRef = o.TrainRef.Name
				}
				var row TrainRow
				if o.TrainChild != nil {
					res, err := o.TrainChild(spec)
					if err != nil {
						return nil, fmt.Errorf("bench: training %s %d×%d, %d thread(s), recompute %v: %w", p, bt[0], bt[1], th, rc, err)
					}
					row = res.Row
					row.PeakRSSBytes = res.PeakRSSBytes
				} else if row, err = benchTrain(spec, o.TrainRef); err != nil {
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
				logf(o.Log, "train %s B=%d T=%d threads %d recompute %v: %.0f tokens/s, %.2f GFLOP/s, MFU %.1f%%", p, row.Batch, row.SeqLen, th, rc, row.TokensPerSec, row.GFLOPS, 100*row.MFU)
				if row.PeakRSSBytes > 0 {
					logf(o.Log, ", peak RSS %.2f GiB", float64(row.PeakRSSBytes)/(1<<30))
				}
				if row.RefName != "" {
					logf(o.Log, "; with %s GEMMs %.0f tokens/s (x%.2f)", row.RefName, row.RefTokensPerSec, row.Speedup)
				}
				logf(o.Log, "\n")
			}
		}
	}
	if o.Decode != nil {
		d, err := DecodeBench(*o.Decode, o.Log)
		if err != nil {
			return nil, err
		}
		rep.Decode = d
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

// benchShape is the batch and sequence length a preset's training step is
// timed at: o.Batch's, else nano 1×512, else the preset's batch size and
// sequence length.
func benchShape(preset string, o BenchOptions) ([2]int, error) {
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}})
	if err != nil {
		return [2]int{}, err
	}
	bt := [2]int{c.Train.BatchSize, c.Data.SeqLen}
	if preset == "nano" {
		bt = [2]int{1, 512}
	}
	if x, ok := o.Batch[preset]; ok {
		bt = x
	}
	if bt[0] < 1 || bt[1] < 1 || bt[1] > c.Model.Context {
		return [2]int{}, fmt.Errorf("bench: %s at %d×%d: batch must be positive and the sequence length in [1, model.context = %d]", preset, bt[0], bt[1], c.Model.Context)
	}
	return bt, nil
}

// TrainSpec is one training measurement: a preset's step at a batch,
// sequence length, thread count and activation mode, Steps timed steps
// after a warm-up one (0: the warm-up step is the timed one), with the
// GEMMs of the kernel set Kernels, and again with those of the reference
// named TrainRef when it is not empty.
type TrainSpec struct {
	Preset                        string
	Batch, SeqLen, Threads, Steps int
	Recompute                     bool
	Kernels, TrainRef             string
}

// TrainChildResult is what a training measurement's child process reports.
type TrainChildResult struct {
	Row TrainRow
	// PeakRSSBytes is the child's VmHWM (/proc/self/status) after the
	// measurement.
	PeakRSSBytes int64
}

// BenchTrainChild runs one training measurement in this process, the child
// of BenchOptions.TrainChild: refs are the references TrainRef may name.
// It selects the kernel set, so the process should do nothing else.
func BenchTrainChild(spec TrainSpec, refs []Reference) (*TrainChildResult, error) {
	if err := kernels.Use(spec.Kernels); err != nil {
		return nil, err
	}
	var ref *Reference
	if spec.TrainRef != "" {
		for i := range refs {
			if refs[i].Name == spec.TrainRef {
				ref = &refs[i]
			}
		}
		if ref == nil {
			return nil, fmt.Errorf("bench: training reference %q is not one of this build's", spec.TrainRef)
		}
	}
	row, err := benchTrain(spec, ref)
	if err != nil {
		return nil, err
	}
	return &TrainChildResult{Row: row, PeakRSSBytes: PeakRSS()}, nil
}

// benchTrain times spec in this process (ref: spec.TrainRef's GEMMs).
func benchTrain(spec TrainSpec, ref *Reference) (TrainRow, error) {
	preset, threads := spec.Preset, spec.Threads
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}})
	if err != nil {
		return TrainRow{}, err
	}
	m, err := models.New(c.Model, c.Quant, 1)
	if err != nil {
		return TrainRow{}, err
	}
	m.SetThreads(threads)
	m.SetRecompute(spec.Recompute)
	last := c.QAT.Phases[len(c.QAT.Phases)-1].Weights
	wq, _ := models.ParseWeightQuant(last)
	m.SetQuant(models.QuantState{From: wq, To: wq, Lambda: 1})
	opt, err := train.NewAdamW(m.Params(), c.Train)
	if err != nil {
		return TrainRow{}, err
	}
	opt.Threads = threads
	B, T := spec.Batch, spec.SeqLen
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
			if spec.Steps > 0 {
				steps = spec.Steps
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
	row := TrainRow{Preset: preset, Batch: B, SeqLen: T, Threads: threads, Steps: steps, TokensPerSec: tps, FLOPsPerToken: fpt, GFLOPS: fpt * tps / 1e9, Recompute: spec.Recompute}
	if ref != nil {
		kernels.WithGEMM(ref.Gemm, func() { el, steps, err = timeSteps() })
		if err != nil {
			return TrainRow{}, fmt.Errorf("training step with %s GEMMs: %w", ref.Name, err)
		}
		row.RefName = ref.Name
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
	id := map[string]any{
		"schema": configs.SchemaVersion, "kind": "bench", "kernels": kernelSet, "cpu": registry.CPUModel(),
		"threads": o.Threads, "min_time_ns": o.MinTime.Nanoseconds(), "shapes": shapes, "refs": refs,
		"presets": o.Presets, "batch": batch, "train_steps": o.TrainSteps, "train_ref": trainRef,
	}
	// Keys added later appear only when set, so earlier identities keep
	// their hashes.
	if len(o.Recompute) > 0 && !(len(o.Recompute) == 1 && !o.Recompute[0]) {
		id["recompute"] = o.Recompute
	}
	if o.TrainChild != nil {
		id["train_child"] = true
	}
	if d := o.Decode; d != nil {
		vs := make([]string, len(d.Variants))
		for i, v := range d.Variants {
			vs[i] = v.String()
		}
		tokens := map[string]int{}
		for k, v := range d.Tokens {
			tokens[k] = v
		}
		id["decode"] = map[string]any{
			"presets": d.Presets, "variants": vs, "threads": d.Threads, "prompt": d.Prompt, "tokens": tokens,
			"reps": d.Reps, "seed": d.Seed, "triad_bytes": d.TriadBytes, "dot_kernels": dot.KernelSet(),
			"triad_l3_bytes": d.TriadL3Bytes, "lean_child": d.Lean != nil,
		}
	}
	return id
}

// Record stores the report as a bench run whose hash is the options'
// Identity: two benches with other options are two runs.
func (r *BenchReport) Record(db *registry.DB, threads int, o BenchOptions) (string, error) {
	return recordBench(db, o.Identity(r.KernelSet), r, "bench", r.KernelSet, threads)
}

// recordBench records a bench run: its identity's hash as the config, one
// attempt through the registry lifecycle, the report as its summary.
func recordBench(db *registry.DB, identity map[string]any, report any, name, kernelSet string, threads int) (string, error) {
	js, err := json.Marshal(report)
	if err != nil {
		return "", err
	}
	h, canon := configs.HashJSON(identity)
	if err := db.PutConfig(h, canon); err != nil {
		return "", err
	}
	att, err := db.Start(registry.RunInfo{Hash: h, Kind: registry.KindBench, Name: name, Threads: threads, KernelSet: kernelSet},
		registry.StartOptions{Force: true})
	if err != nil {
		return "", err
	}
	if err := att.SetSummary(string(js)); err != nil {
		return "", att.Fail(registry.StatusFailed, err)
	}
	return h, att.Finish(registry.StatusDone, "")
}

// DecodeVariant is one packed configuration of the decode bench: ternary
// weight blocks, embedding type and output head ("float" or "int8").
type DecodeVariant struct{ Weights, Embed, Head string }

// String is "weights/embed/head", the form the CLI takes.
func (v DecodeVariant) String() string { return v.Weights + "/" + v.Embed + "/" + v.Head }

// ParseDecodeVariant reads "tq2_0/q8_0/int8".
func ParseDecodeVariant(s string) (DecodeVariant, error) {
	p := strings.Split(s, "/")
	if len(p) != 3 {
		return DecodeVariant{}, fmt.Errorf("decode variant %q: want weights/embed/head, e.g. tq2_0/q8_0/int8", s)
	}
	v := DecodeVariant{strings.ToLower(p[0]), strings.ToLower(p[1]), strings.ToLower(p[2])}
	wt, err := gguf.ParseType(v.Weights)
	if err != nil || (wt != gguf.TQ2_0 && wt != gguf.TQ1_0) {
		return DecodeVariant{}, fmt.Errorf("decode variant %q: weights %q: use tq2_0 or tq1_0", s, p[0])
	}
	et, err := gguf.ParseType(v.Embed)
	if err != nil || (et != gguf.F32 && et != gguf.F16 && et != gguf.Q8_0 && et != gguf.Q4_0 && et != gguf.Q3_K) {
		return DecodeVariant{}, fmt.Errorf("decode variant %q: embedding %q: use f32, f16, q8_0, q4_0 or q3_k", s, p[1])
	}
	switch {
	case v.Head == "float":
	case v.Head == "int8" && (et == gguf.Q8_0 || et == gguf.Q4_0 || et == gguf.Q3_K):
	default:
		return DecodeVariant{}, fmt.Errorf("decode variant %q: head %q: use float, or int8 with a q8_0 / q4_0 / q3_k embedding", s, p[2])
	}
	return v, nil
}

// DefaultDecodeVariants: the exact float head on an f16 embedding, the
// int8 head on q8_0, q4_0 and q3_k embeddings, and the smallest files
// (base-3 tq1_0 weights with q4_0 and q3_k embeddings: nano's ≤ 15 MB
// file). A variant whose embedding blocks do not divide a preset's d_model
// (q3_k's 256 and tiny's 128) is skipped for that preset
// (DecodeReport.Skipped).
var DefaultDecodeVariants = []DecodeVariant{{"tq2_0", "f16", "float"}, {"tq2_0", "q8_0", "int8"}, {"tq2_0", "q4_0", "int8"}, {"tq1_0", "q4_0", "int8"}, {"tq1_0", "q3_k", "int8"}}

// DecodeOptions configure the decode bench (`harness bench --decode`).
type DecodeOptions struct {
	Presets  []string
	Variants []DecodeVariant
	Threads  []int
	// Prompt tokens, then Tokens[preset] greedy steps (default 64, cut to
	// fit the context), best of Reps.
	Prompt int
	Tokens map[string]int
	Reps   int
	// Seed of the random weights (models.New), quantized to ternary.
	Seed int64
	// TriadBytes is the size of each STREAM triad array (default 256 MiB,
	// far above any L3). TriadL3Bytes is the array size of a second triad
	// whose three arrays fit in the last-level cache (default: a sixth of
	// the L3 this machine reports, else 4 MiB), the bandwidth a model that
	// fits in the L3 is bound by.
	TriadBytes, TriadL3Bytes int64
	// Dir receives the exported GGUF files (a temporary directory).
	Dir string
	// Root, when set, is the project root: each preset's files then carry
	// the BPE tokenizer its data pipeline trains (data.Prepare on the
	// preset's data config, cached under Root/.cache), so that their size
	// and the decoder's memory are those of a file a trained run exports.
	// Without it the files have no tokenizer.
	Root string
	// Child runs one measurement in a separate process and returns its
	// result, so that the peak resident memory is that decoder's alone.
	Child func(DecodeSpec) (*DecodeChildResult, error)
	// Lean, when set, runs each packed measurement again in a small
	// decoder process (nmrun -bench), whose peak resident memory is the
	// engine's without the harness's own baseline.
	Lean func(DecodeSpec) (*DecodeChildResult, error)
}

// DecodeSpec is one child measurement: the float32 training path
// (models.Model.Step) of a preset with random weights, or the packed
// engine on a GGUF file.
type DecodeSpec struct {
	Mode                 string // "float32" or "packed"
	Preset               string
	Seed                 int64
	File, Head           string // packed
	Threads              []int
	Prompt, Tokens, Reps int
}

// DecodeTiming is one thread count's prefill and decode rate.
type DecodeTiming struct {
	Threads, Prompt, Tokens int
	PrefillTokS, DecodeTokS float64
	// DecodeCPUTokS: decoded tokens per second of the process's CPU time
	// (best repetition); WorstDecodeTokS: the slowest repetition's wall
	// rate.
	DecodeCPUTokS, WorstDecodeTokS float64 `json:",omitempty"`
}

// DecodeChildResult is what a child reports.
type DecodeChildResult struct {
	Timings []DecodeTiming
	// PeakRSSBytes is the child's VmHWM (/proc/self/status) at exit.
	PeakRSSBytes int64
	// Bytes read per decoded token (packed): weights and state at the
	// mean decoding position.
	WeightBytes, StateBytes int64
	// WrittenBytes is the part of StateBytes written back in place
	// (engine.Model.DecodeWritten; counted twice there).
	WrittenBytes int64  `json:",omitempty"`
	KernelSet    string `json:",omitempty"`
}

// DecodeRow is one line of the decode table.
type DecodeRow struct {
	Preset               string
	Path                 string // "float32" (models.Model.Step) or "packed"
	Weights, Embed, Head string `json:",omitempty"`
	// FileBytes is the GGUF size (float32: 4 bytes per parameter).
	FileBytes, PeakRSSBytes int64
	Threads, Prompt, Tokens int
	PrefillTokS, DecodeTokS float64
	// DecodeCPUTokS is decode tokens per CPU second, WorstDecodeTokS the
	// slowest repetition (wall clock), SpeedupFloatCPU the packed/float32
	// ratio of CPU rates.
	DecodeCPUTokS, WorstDecodeTokS, SpeedupFloatCPU float64 `json:",omitempty"`
	// LeanPeakRSSBytes is the peak RSS of the same decode in nmrun -bench
	// (packed, when measured; one process per thread count), LeanDecodeTokS
	// its decode rate.
	LeanPeakRSSBytes int64   `json:",omitempty"`
	LeanDecodeTokS   float64 `json:",omitempty"`
	// Packed only: bytes read per decoded token, the triad bandwidth at
	// this thread count, roofline = bandwidth / bytes, and the fraction of
	// it reached.
	WeightBytes, StateBytes        int64   `json:",omitempty"`
	BandwidthGBs, RooflineTokS     float64 `json:",omitempty"`
	RooflineFraction, SpeedupFloat float64 `json:",omitempty"`
	// FitsL3: weights and state per token fit in the last-level cache, so
	// DRAM bandwidth does not bind; the L3-resident triad gives the
	// second roofline.
	FitsL3                                         bool    `json:",omitempty"`
	BandwidthL3GBs, RooflineL3TokS, RooflineL3Frac float64 `json:",omitempty"`
	// StreamGBs is the rate at which this thread count moves the bytes per
	// token (WeightBytes + StateBytes) once per decoded token, measured
	// right after the decode (StreamBandwidth): WrittenBytes of them read
	// and written back in place, the rest read: the fastest this machine
	// moves that traffic, wherever in its caches and memory it fits.
	// StreamReadGBs is the same bytes all read (ReadBandwidth; the probe
	// of runs recorded before WrittenBytes, which have it in StreamGBs).
	// StreamRooflineTokS = StreamGBs / bytes per token is
	// the decode roofline, StreamFraction the fraction of it reached.
	StreamGBs, StreamRooflineTokS, StreamFraction float64 `json:",omitempty"`
	StreamReadGBs                                 float64 `json:",omitempty"`
	WrittenBytes                                  int64   `json:",omitempty"`
}

// DecodeReport is the decode bench's result.
type DecodeReport struct {
	// Weights says where the weights came from.
	Weights    string
	DotKernels string
	// Bandwidth is the STREAM triad rate (GB/s) by thread count, counting
	// 3 arrays × 8 bytes per element, TriadBytes per array.
	Bandwidth  map[int]float64
	TriadBytes int64
	// BandwidthL3 is the same triad with TriadL3Bytes per array (three
	// arrays inside the L3Bytes last-level cache).
	BandwidthL3           map[int]float64 `json:",omitempty"`
	TriadL3Bytes, L3Bytes int64           `json:",omitempty"`
	// Skipped lists the preset/variant pairs not measured, with why (an
	// embedding type whose blocks do not divide the preset's d_model).
	Skipped []string `json:",omitempty"`
	// Tokenizers is the vocabulary size of the tokenizer each preset's
	// files carry (none: absent).
	Tokenizers map[string]int `json:",omitempty"`
	Rows       []DecodeRow
}

// L3Bytes is the size of the largest CPU cache Linux reports for cpu0
// (/sys/devices/system/cpu/cpu0/cache), or 0.
func L3Bytes() int64 {
	var best int64
	for i := 0; i < 8; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu0/cache/index%d/size", i))
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		mult := int64(1)
		switch {
		case strings.HasSuffix(v, "K"):
			mult, v = 1<<10, strings.TrimSuffix(v, "K")
		case strings.HasSuffix(v, "M"):
			mult, v = 1<<20, strings.TrimSuffix(v, "M")
		}
		var n int64
		if _, err := fmt.Sscanf(v, "%d", &n); err == nil {
			best = max(best, n*mult)
		}
	}
	return best
}

// Triad measures a[i] = b[i] + s·c[i] over float64 arrays of bytes each,
// split over threads, and returns the best rate in GB/s (3·8 bytes per
// element) over at least minTime and three runs.
func Triad(threads int, bytes int64, minTime time.Duration) float64 {
	n := int(max(bytes/8, 1024))
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range b {
		b[i], c[i] = float64(i), float64(n-i)
	}
	s := 3.0
	d := timeBest(minTime, func() {
		kernels.Parallel(threads, n, func(lo, hi int) {
			aa, bb, cc := a[lo:hi], b[lo:hi], c[lo:hi]
			for i := range aa {
				aa[i] = bb[i] + s*cc[i]
			}
		})
	})
	return 24 * float64(n) / d.Seconds() / 1e9
}

// ReadBandwidth measures how fast dot.ReadStream reads a buffer of bytes
// (at least 4 KiB), split into contiguous parts over threads, passes times
// in a row: StreamBandwidth with nothing written back.
func ReadBandwidth(threads int, bytes int64, passes int, minTime time.Duration) float64 {
	return StreamBandwidth(threads, bytes, 0, passes, minTime)
}

// StreamBandwidth measures how fast the threads move, passes times in a
// row, readBytes (at least 4 KiB) read with dot.ReadStream and rwBytes read
// and written back in place with dot.UpdateStream, each buffer split into
// contiguous parts over the threads: the best such run over at least
// minTime and three runs, in GB/s counting readBytes + 2·rwBytes. For the
// bytes a decoded token reads (its weights and attention keys and values)
// and the state it reads and writes back (the Mamba layers' conv windows
// and SSM states), and as many passes as the decode has tokens, it is the
// bandwidth the decode roofline is computed from: whether those bytes stay
// in the caches (a shared last-level cache holds other processes' lines
// too) or come from memory, this is the rate this machine moves them at,
// timed the way the decode is (the best repetition of a whole run of
// tokens).
func StreamBandwidth(threads int, readBytes, rwBytes int64, passes int, minTime time.Duration) float64 {
	n, w := int(max(readBytes, 4096)), int(max(rwBytes, 0))
	buf, st := make([]byte, n), make([]byte, w)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := range st {
		st[i] = byte(i)
	}
	threads, passes = max(threads, 1), max(passes, 1)
	var sink atomic.Uint64
	d := timeBest(minTime, func() {
		for p := range passes {
			kernels.Parallel(threads, threads, func(lo, hi int) {
				for t := lo; t < hi; t++ {
					sink.Add(dot.ReadStream(buf[n*t/threads : n*(t+1)/threads]))
					dot.UpdateStream(st[w*t/threads:w*(t+1)/threads], uint64(p)|1)
				}
			})
		}
	})
	return (float64(n) + 2*float64(w)) * float64(passes) / d.Seconds() / 1e9
}

// PeakRSS is this process's peak resident set (VmHWM) in bytes, or 0 where
// /proc/self/status is unavailable.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// decodeModel is a preset's model with random weights at ternary.
func decodeModel(preset string, seed int64) (*configs.Config, *models.Model, error) {
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}})
	if err != nil {
		return nil, nil, err
	}
	m, err := models.New(c.Model, c.Quant, seed)
	if err != nil {
		return nil, nil, err
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	return c, m, nil
}

// DecodeChildFloat runs a float32 measurement (spec.Mode "float32") in this
// process: the training path's batch-1 decode, models.Model.Step, with the
// preset's random weights at ternary; prefill is Step over the prompt.
func DecodeChildFloat(spec DecodeSpec) (*DecodeChildResult, error) {
	c, m, err := decodeModel(spec.Preset, spec.Seed)
	if err != nil {
		return nil, err
	}
	V := c.Model.Vocab
	if spec.Prompt < 1 || spec.Tokens < 1 || spec.Prompt+spec.Tokens > c.Model.Context {
		return nil, fmt.Errorf("decode bench: prompt %d + tokens %d must be positive and fit the context %d", spec.Prompt, spec.Tokens, c.Model.Context)
	}
	res := &DecodeChildResult{KernelSet: kernels.KernelSet()}
	for _, th := range spec.Threads {
		m.SetThreads(th)
		t := DecodeTiming{Threads: th, Prompt: spec.Prompt, Tokens: spec.Tokens}
		for r := 0; r < max(spec.Reps, 1); r++ {
			st := m.NewState()
			var l []float32
			t0 := time.Now()
			for i := 0; i < spec.Prompt; i++ {
				if l, err = m.Step(st, int32(7919*i%V)); err != nil {
					return nil, err
				}
			}
			t1, c1 := time.Now(), proc.CPUTime()
			for i := 0; i < spec.Tokens; i++ {
				if l, err = m.Step(st, int32(argmax32(l))); err != nil {
					return nil, err
				}
			}
			t2, c2 := time.Now(), proc.CPUTime()
			t.PrefillTokS = max(t.PrefillTokS, float64(spec.Prompt)/t1.Sub(t0).Seconds())
			rate := float64(spec.Tokens) / t2.Sub(t1).Seconds()
			t.DecodeTokS = max(t.DecodeTokS, rate)
			if c2 > c1 {
				t.DecodeCPUTokS = max(t.DecodeCPUTokS, float64(spec.Tokens)/(c2-c1).Seconds())
			}
			if r == 0 || rate < t.WorstDecodeTokS {
				t.WorstDecodeTokS = rate
			}
		}
		res.Timings = append(res.Timings, t)
	}
	res.PeakRSSBytes = PeakRSS()
	return res, nil
}

func argmax32(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// DecodeBench measures batch-1 decoding of each preset with random ternary
// weights: the float32 training path and the packed engine on every
// variant, each in its own child process (o.Child), at each thread count,
// with the decode roofline from a STREAM triad measured in the same run.
func DecodeBench(o DecodeOptions, log io.Writer) (*DecodeReport, error) {
	if o.Child == nil {
		return nil, fmt.Errorf("decode bench: no child runner")
	}
	if o.Prompt < 1 {
		o.Prompt = 32
	}
	if o.TriadBytes <= 0 {
		o.TriadBytes = 256 << 20
	}
	l3 := L3Bytes()
	if o.TriadL3Bytes <= 0 {
		o.TriadL3Bytes = 4 << 20
		if l3 > 0 {
			o.TriadL3Bytes = l3 / 6
		}
	}
	variants := o.Variants
	if len(variants) == 0 {
		variants = DefaultDecodeVariants
	}
	rep := &DecodeReport{
		Weights:    fmt.Sprintf("random (models.New seed %d), quantized to ternary", o.Seed),
		DotKernels: dot.KernelSet(), Bandwidth: map[int]float64{}, TriadBytes: o.TriadBytes,
		BandwidthL3: map[int]float64{}, TriadL3Bytes: o.TriadL3Bytes, L3Bytes: l3,
	}
	for _, th := range o.Threads {
		rep.Bandwidth[th] = Triad(th, o.TriadBytes, 300*time.Millisecond)
		rep.BandwidthL3[th] = Triad(th, o.TriadL3Bytes, 300*time.Millisecond)
		logf(log, "triad %d thread(s): %.1f GB/s (3 × %d MiB), %.1f GB/s L3-resident (3 × %d KiB)\n", th, rep.Bandwidth[th], o.TriadBytes>>20, rep.BandwidthL3[th], o.TriadL3Bytes>>10)
	}
	for _, p := range o.Presets {
		c, m, err := decodeModel(p, o.Seed)
		if err != nil {
			return nil, err
		}
		var tok *data.Tokenizer
		if o.Root != "" {
			ds, err := data.Prepare(o.Root, filepath.Join(o.Root, ".cache"), c.Data, c.Model.Vocab, c.Train.Seed)
			if err != nil {
				return nil, fmt.Errorf("decode bench %s: the tokenizer: %w", p, err)
			}
			tok = ds.Tokenizer
			if rep.Tokenizers == nil {
				rep.Tokenizers = map[string]int{}
			}
			rep.Tokenizers[p] = tok.VocabSize()
			logf(log, "decode %s: files carry the data pipeline's tokenizer (%d tokens)\n", p, tok.VocabSize())
		}
		tokens := 64
		if n, ok := o.Tokens[p]; ok && n > 0 {
			tokens = n
		}
		tokens = min(tokens, c.Model.Context-o.Prompt)
		var nParams int64
		for _, pr := range m.Params() {
			nParams += int64(len(pr.Data))
		}
		spec := DecodeSpec{Mode: "float32", Preset: p, Seed: o.Seed, Threads: o.Threads, Prompt: o.Prompt, Tokens: tokens, Reps: o.Reps}
		fres, err := o.Child(spec)
		if err != nil {
			return nil, fmt.Errorf("decode bench %s float32: %w", p, err)
		}
		floatRate, floatCPU := map[int]float64{}, map[int]float64{}
		for _, t := range fres.Timings {
			floatRate[t.Threads], floatCPU[t.Threads] = t.DecodeTokS, t.DecodeCPUTokS
			rep.Rows = append(rep.Rows, DecodeRow{Preset: p, Path: "float32", FileBytes: 4 * nParams, PeakRSSBytes: fres.PeakRSSBytes,
				Threads: t.Threads, Prompt: t.Prompt, Tokens: t.Tokens, PrefillTokS: t.PrefillTokS, DecodeTokS: t.DecodeTokS,
				DecodeCPUTokS: t.DecodeCPUTokS, WorstDecodeTokS: t.WorstDecodeTokS})
			logf(log, "decode %s float32 threads %d: prefill %.0f tok/s, decode %.0f tok/s (worst %.0f; %.0f per CPU second), peak RSS %.1f MB\n",
				p, t.Threads, t.PrefillTokS, t.DecodeTokS, t.WorstDecodeTokS, t.DecodeCPUTokS, float64(fres.PeakRSSBytes)/1e6)
		}
		for _, v := range variants {
			wt, _ := gguf.ParseType(v.Weights)
			et, _ := gguf.ParseType(v.Embed)
			if bs := et.BlockSize(); bs > 1 && c.Model.DModel%bs != 0 {
				why := fmt.Sprintf("%s %s: d_model %d is not a multiple of %s's %d-element blocks", p, v, c.Model.DModel, et, bs)
				rep.Skipped = append(rep.Skipped, why)
				logf(log, "decode %s: skipped\n", why)
				continue
			}
			f, err := edge.Export(m, c.Quant, tok, edge.Options{Weights: wt, Embed: et}, edge.Provenance{})
			if err != nil {
				return nil, fmt.Errorf("decode bench %s %s: %w", p, v, err)
			}
			path := filepath.Join(o.Dir, fmt.Sprintf("%s-%s-%s.gguf", p, v.Weights, v.Embed))
			if err := f.WriteFile(path); err != nil {
				return nil, err
			}
			st, err := os.Stat(path)
			if err != nil {
				return nil, err
			}
			spec := DecodeSpec{Mode: "packed", Preset: p, File: path, Head: v.Head, Threads: o.Threads, Prompt: o.Prompt, Tokens: tokens, Reps: o.Reps}
			pres, err := o.Child(spec)
			if err != nil {
				return nil, fmt.Errorf("decode bench %s %s: %w", p, v, err)
			}
			// The lean decoder runs each thread count in a process of its
			// own, so that its peak memory is that one decode's.
			lean, leanRSS := map[int]DecodeTiming{}, map[int]int64{}
			if o.Lean != nil {
				for _, th := range o.Threads {
					one := spec
					one.Threads = []int{th}
					lres, err := o.Lean(one)
					if err != nil {
						return nil, fmt.Errorf("decode bench %s %s (lean child, %d threads): %w", p, v, th, err)
					}
					leanRSS[th] = lres.PeakRSSBytes
					for _, t := range lres.Timings {
						lean[t.Threads] = t
					}
				}
			}
			for _, t := range pres.Timings {
				row := DecodeRow{Preset: p, Path: "packed", Weights: v.Weights, Embed: v.Embed, Head: v.Head,
					FileBytes: st.Size(), PeakRSSBytes: pres.PeakRSSBytes, Threads: t.Threads, Prompt: t.Prompt, Tokens: t.Tokens,
					PrefillTokS: t.PrefillTokS, DecodeTokS: t.DecodeTokS, WeightBytes: pres.WeightBytes, StateBytes: pres.StateBytes,
					BandwidthGBs: rep.Bandwidth[t.Threads], BandwidthL3GBs: rep.BandwidthL3[t.Threads],
					DecodeCPUTokS: t.DecodeCPUTokS, WorstDecodeTokS: t.WorstDecodeTokS, LeanPeakRSSBytes: leanRSS[t.Threads], LeanDecodeTokS: lean[t.Threads].DecodeTokS}
				b := pres.WeightBytes + pres.StateBytes
				if b > 0 && row.BandwidthGBs > 0 {
					row.RooflineTokS = row.BandwidthGBs * 1e9 / float64(b)
					row.RooflineFraction = row.DecodeTokS / row.RooflineTokS
				}
				if b > 0 && row.BandwidthL3GBs > 0 {
					row.FitsL3 = l3 > 0 && b <= l3
					row.RooflineL3TokS = row.BandwidthL3GBs * 1e9 / float64(b)
					row.RooflineL3Frac = row.DecodeTokS / row.RooflineL3TokS
				}
				if b > 0 {
					// The state written back is read and stored in place by
					// the probe too (counted twice in b, as in StateBytes).
					wb := pres.WrittenBytes
					if wb < 0 || 2*wb > b {
						wb = 0
					}
					row.WrittenBytes = wb
					row.StreamGBs = StreamBandwidth(t.Threads, b-2*wb, wb, t.Tokens, 300*time.Millisecond)
					row.StreamReadGBs = ReadBandwidth(t.Threads, b, t.Tokens, 300*time.Millisecond)
					row.StreamRooflineTokS = row.StreamGBs * 1e9 / float64(b)
					row.StreamFraction = row.DecodeTokS / row.StreamRooflineTokS
				}
				if fr := floatRate[t.Threads]; fr > 0 {
					row.SpeedupFloat = row.DecodeTokS / fr
				}
				if fc := floatCPU[t.Threads]; fc > 0 && t.DecodeCPUTokS > 0 {
					row.SpeedupFloatCPU = t.DecodeCPUTokS / fc
				}
				rep.Rows = append(rep.Rows, row)
				logf(log, "decode %s packed %s threads %d: prefill %.0f tok/s, decode %.0f tok/s (worst %.0f; %.0f per CPU second; %.0f%% of roofline %.0f at %.1f GB/s moving %.2f MB, %.2f MB of it state read and written back (all read: %.1f GB/s); %.0f%% of the DRAM triad's %.0f, %.0f%% of the L3 triad's %.0f; ×%.2f float32, ×%.2f by CPU time), file %.2f MB, peak RSS %.1f MB (lean %.1f MB)\n",
					p, v, t.Threads, t.PrefillTokS, t.DecodeTokS, t.WorstDecodeTokS, t.DecodeCPUTokS, 100*row.StreamFraction, row.StreamRooflineTokS, row.StreamGBs, float64(b)/1e6, float64(2*row.WrittenBytes)/1e6, row.StreamReadGBs,
					100*row.RooflineFraction, row.RooflineTokS, 100*row.RooflineL3Frac, row.RooflineL3TokS, row.SpeedupFloat, row.SpeedupFloatCPU, float64(st.Size())/1e6, float64(pres.PeakRSSBytes)/1e6, float64(leanRSS[t.Threads])/1e6)
			}
			os.Remove(path)
		}
	}
	return rep, nil
}
