package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/rng"
	"github.com/nanomamba-edge/harness/train"
)

// The fine-tuning bench (`harness bench-finetune`): optimizer-step time and
// peak memory of a LoRA fine-tune against full fine-tuning of the same
// base, each measured in its own process. The base is the preset's model
// with random weights (models.New) at the last phase of its QAT schedule
// (ternary for tiny), the shape of a real fine-tune's base; the train
// section is a real fine-tune's (configs.FinetuneConfig: batch, sequence
// length, AdamW settings), and each window's loss covers its second half
// only, as the response tokens of an instruction record.

// Fine-tuning modes of the bench.
const (
	FinetuneModeLoRA = "lora" // adapters only: AdamW over models.Model.LoRAParams
	FinetuneModeFull = "full" // every parameter: AdamW over models.Model.Params (QAT continues on the latent weights)
)

// FinetuneBenchSpec is one measurement: a mode at a thread count.
type FinetuneBenchSpec struct {
	Mode    string
	Preset  string
	Threads int
	// Steps are the timed optimizer steps, after one untimed warm-up step.
	Steps   int
	Rank    int
	Alpha   float64
	Targets []string
	Seed    int64
}

// FinetuneBenchRow is one measurement's result.
type FinetuneBenchRow struct {
	Mode                   string
	Threads, Steps         int
	Batch, MicroBatch, Seq int
	// StepSeconds is the mean over the timed steps, BestStepSeconds the
	// fastest one; TokensPerSec is batch·seq / StepSeconds.
	StepSeconds, BestStepSeconds, TokensPerSec float64
	// TrainableParams are the tensors the optimizer updates; BaseParams
	// the model's own (adapters excluded).
	TrainableParams, BaseParams int64
	// OptimizerBytes are AdamW's two float32 moments of the trainable
	// tensors; GradBytes the float32 gradient buffers the step fills
	// (LoRA freezes the base's BitLinear weights: no gradient buffers or
	// weight-gradient GEMMs for them; the embedding's, norms' and Mamba
	// scalars' gradients are still computed).
	OptimizerBytes, GradBytes int64
	// PeakRSSBytes is the measuring process's VmHWM at exit (0 when the
	// measurement ran in-process); HeapBytes the Go heap in use after the
	// last step.
	PeakRSSBytes, HeapBytes int64
	// FirstLoss and LastLoss bracket the timed steps (sanity: both modes
	// learn the synthetic windows).
	FirstLoss, LastLoss float64
	KernelSet           string `json:",omitempty"`
}

// FinetuneBenchReport is what the bench prints and records.
type FinetuneBenchReport struct {
	Preset  string
	Weights string
	Rank    int
	Alpha   float64
	Targets []string
	Steps   int
	Threads []int
	// Reps is how many times each (mode, threads) was measured, the modes
	// alternating; a row keeps the repetition with the lowest mean step
	// time and the highest peak RSS of all.
	Reps int `json:",omitempty"`
	// FrozenBase says the LoRA rows froze the base (models.FreezeBase: no
	// weight-gradient GEMMs or buffers for its BitLinear weights); false in
	// reports recorded before the base was frozen.
	FrozenBase bool `json:",omitempty"`
	Rows       []FinetuneBenchRow
}

// FinetuneBenchSummary is the recorded summary of a fine-tuning bench run:
// the report under one key, so that readers of `harness bench` reports
// (which decode every bench run's summary) find none of their fields.
type FinetuneBenchSummary struct {
	FinetuneBench *FinetuneBenchReport `json:"finetune_bench"`
}

// FinetuneBenchOptions configure FinetuneBench.
type FinetuneBenchOptions struct {
	Preset  string
	Threads []int
	Steps   int
	Reps    int     // alternating repetitions of each measurement (default 1)
	Rank    int     // 0: lora.rank's default
	Alpha   float64 // 0: lora.alpha's default
	Targets []string
	Seed    int64
	// Child runs one spec in its own process (peak memory alone); nil
	// measures in this process (PeakRSSBytes 0).
	Child func(FinetuneBenchSpec) (*FinetuneBenchRow, error)
	Log   io.Writer
}

// finetuneBenchBase is the base hash the bench's config names: no run,
// a fixed stand-in so that configs.FinetuneConfig builds a real
// fine-tune's train and lora sections.
var finetuneBenchBase = func() string {
	s := sha256.Sum256([]byte("harness bench-finetune: random base"))
	return hex.EncodeToString(s[:])
}()

// finetuneBenchConfig is the fine-tune config of the bench's base preset.
func finetuneBenchConfig(spec FinetuneBenchSpec) (*configs.Config, error) {
	base, err := configs.Load(configs.Options{Preset: spec.Preset, Env: []string{}})
	if err != nil {
		return nil, err
	}
	var sets []string
	if spec.Rank > 0 {
		sets = append(sets, fmt.Sprintf("lora.rank=%d", spec.Rank))
	}
	if spec.Alpha > 0 {
		sets = append(sets, fmt.Sprintf("lora.alpha=%v", spec.Alpha))
	}
	if len(spec.Targets) > 0 {
		sets = append(sets, "lora.targets=["+strings.Join(spec.Targets, ",")+"]")
	}
	return configs.FinetuneConfig(base, finetuneBenchBase, sets, []string{})
}

// FinetuneBenchMeasure runs one spec in this process.
func FinetuneBenchMeasure(spec FinetuneBenchSpec) (*FinetuneBenchRow, error) {
	if spec.Mode != FinetuneModeLoRA && spec.Mode != FinetuneModeFull {
		return nil, fmt.Errorf("bench-finetune: mode %q: want %s or %s", spec.Mode, FinetuneModeLoRA, FinetuneModeFull)
	}
	if spec.Steps < 1 || spec.Threads < 1 {
		return nil, fmt.Errorf("bench-finetune: steps %d and threads %d must be positive", spec.Steps, spec.Threads)
	}
	c, err := finetuneBenchConfig(spec)
	if err != nil {
		return nil, err
	}
	m, err := models.New(c.Model, c.Quant, spec.Seed)
	if err != nil {
		return nil, err
	}
	m.SetThreads(spec.Threads)
	last := c.QAT.Phases[len(c.QAT.Phases)-1].Weights
	wq, err := models.ParseWeightQuant(last)
	if err != nil {
		return nil, err
	}
	m.SetQuant(models.QuantState{From: wq, To: wq, Lambda: 1})
	tc := c.Train
	row := &FinetuneBenchRow{Mode: spec.Mode, Threads: spec.Threads, Steps: spec.Steps, Batch: tc.BatchSize, MicroBatch: tc.MicroBatch, Seq: c.Data.SeqLen,
		BaseParams: countParams(m.Params()), KernelSet: kernels.KernelSet()}
	ps := m.Params()
	if spec.Mode == FinetuneModeLoRA {
		if err := m.AttachLoRA(models.LoRAOptions{Rank: c.LoRA.Rank, Alpha: c.LoRA.Alpha, Dropout: c.LoRA.Dropout, Targets: c.LoRA.Targets, Seed: spec.Seed}); err != nil {
			return nil, err
		}
		m.FreezeBase(true)
		ps = m.LoRAParams()
	}
	row.TrainableParams = countParams(ps)
	row.OptimizerBytes = 8 * row.TrainableParams
	for _, p := range m.Params() {
		row.GradBytes += 4 * int64(len(p.Grad))
	}
	if spec.Mode == FinetuneModeLoRA {
		row.GradBytes += 4 * row.TrainableParams
	}
	opt, err := train.NewAdamW(ps, tc)
	if err != nil {
		return nil, err
	}
	opt.Threads = spec.Threads
	micro, nMicro, W := tc.MicroBatch, tc.BatchSize/tc.MicroBatch, c.Data.SeqLen
	// Synthetic instruction windows: the loss covers each window's second
	// half (the "response").
	s := rng.New(spec.Seed, "bench-finetune/tokens")
	toks := make([][]int32, nMicro)
	tgts := make([][]int32, nMicro)
	for mi := range toks {
		toks[mi], tgts[mi] = make([]int32, micro*W), make([]int32, micro*W)
		for i := range toks[mi] {
			toks[mi][i] = int32(s.Intn(c.Model.Vocab))
			tgts[mi][i] = -1
			if i%W >= W/2 {
				tgts[mi][i] = int32(s.Intn(c.Model.Vocab))
			}
		}
	}
	step := func(n int64) (float64, error) {
		m.ZeroGrad()
		for _, p := range ps {
			clear(p.Grad)
		}
		var loss float64
		for mi := 0; mi < nMicro; mi++ {
			if spec.Mode == FinetuneModeLoRA {
				m.SetLoRADropout(true, n, mi)
			}
			l, err := m.ForwardBackward(toks[mi], tgts[mi], micro, W, float32(1)/float32(nMicro))
			if err != nil {
				return 0, err
			}
			loss += l / float64(nMicro)
		}
		m.SetLoRADropout(false, 0, 0)
		train.ClipGradNorm(ps, tc.Clip)
		opt.Step(tc.LR)
		return loss, nil
	}
	var stepErr error
	withProcs(spec.Threads, func() {
		if _, stepErr = step(0); stepErr != nil { // warm-up: allocates the workspaces
			return
		}
		var total time.Duration
		row.BestStepSeconds = math.Inf(1)
		for i := 1; i <= spec.Steps; i++ {
			t0 := time.Now()
			l, err := step(int64(i))
			d := time.Since(t0)
			if err != nil {
				stepErr = err
				return
			}
			if i == 1 {
				row.FirstLoss = l
			}
			row.LastLoss = l
			total += d
			row.BestStepSeconds = min(row.BestStepSeconds, d.Seconds())
		}
		row.StepSeconds = total.Seconds() / float64(spec.Steps)
	})
	if stepErr != nil {
		return nil, fmt.Errorf("bench-finetune %s: %w", spec.Mode, stepErr)
	}
	row.TokensPerSec = float64(tc.BatchSize*W) / row.StepSeconds
	row.HeapBytes = heapInUse()
	return row, nil
}

// FinetuneBench measures LoRA and full fine-tuning of the preset at each
// thread count, each measurement in its own process when o.Child is set.
func FinetuneBench(o FinetuneBenchOptions) (*FinetuneBenchReport, error) {
	if o.Preset == "" {
		o.Preset = "tiny"
	}
	if len(o.Threads) == 0 {
		return nil, errors.New("bench-finetune: no thread counts")
	}
	if o.Steps < 1 {
		return nil, fmt.Errorf("bench-finetune: steps %d: want at least 1", o.Steps)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Reps < 1 {
		o.Reps = 1
	}
	c, err := finetuneBenchConfig(FinetuneBenchSpec{Preset: o.Preset, Rank: o.Rank, Alpha: o.Alpha, Targets: o.Targets})
	if err != nil {
		return nil, err
	}
	rep := &FinetuneBenchReport{Preset: o.Preset, Rank: c.LoRA.Rank, Alpha: c.LoRA.Alpha, Targets: c.LoRA.Targets, Steps: o.Steps, Threads: o.Threads, Reps: o.Reps, FrozenBase: true,
		Weights: fmt.Sprintf("random (models.New seed %d) at the preset's last QAT phase (%s); fine-tune train section (lr %g, batch %d×%d)",
			o.Seed, c.QAT.Phases[len(c.QAT.Phases)-1].Weights, c.Train.LR, c.Train.BatchSize, c.Data.SeqLen)}
	run := o.Child
	if run == nil {
		run = FinetuneBenchMeasure
	}
	modes := []string{FinetuneModeFull, FinetuneModeLoRA}
	for _, th := range o.Threads {
		best := map[string]*FinetuneBenchRow{}
		for r := 0; r < o.Reps; r++ {
			for _, mode := range modes {
				spec := FinetuneBenchSpec{Mode: mode, Preset: o.Preset, Threads: th, Steps: o.Steps, Rank: c.LoRA.Rank, Alpha: c.LoRA.Alpha, Targets: c.LoRA.Targets, Seed: o.Seed}
				row, err := run(spec)
				if err != nil {
					return nil, fmt.Errorf("bench-finetune %s %s threads %d: %w", o.Preset, mode, th, err)
				}
				logf(o.Log, "finetune %s %s threads %d (repetition %d): %.3f s/step (best %.3f), %.0f tokens/s, trainable %d of %d, peak RSS %.1f MB\n",
					o.Preset, mode, th, r+1, row.StepSeconds, row.BestStepSeconds, row.TokensPerSec, row.TrainableParams, row.BaseParams, float64(row.PeakRSSBytes)/1e6)
				b := best[mode]
				if b == nil {
					best[mode] = row
					continue
				}
				peak := max(b.PeakRSSBytes, row.PeakRSSBytes)
				if row.StepSeconds < b.StepSeconds {
					best[mode] = row
				}
				best[mode].PeakRSSBytes = peak
			}
		}
		for _, mode := range modes {
			rep.Rows = append(rep.Rows, *best[mode])
		}
	}
	return rep, nil
}

// Row returns the report's row of a mode at a thread count.
func (r *FinetuneBenchReport) Row(mode string, threads int) (FinetuneBenchRow, bool) {
	for _, x := range r.Rows {
		if x.Mode == mode && x.Threads == threads {
			return x, true
		}
	}
	return FinetuneBenchRow{}, false
}

// Identity is what names a fine-tuning bench run: the options and the
// machine, not the measured values.
func (o FinetuneBenchOptions) Identity(kernelSet string, rep *FinetuneBenchReport) map[string]any {
	th := append([]int(nil), o.Threads...)
	sort.Ints(th)
	return map[string]any{
		"schema": configs.SchemaVersion, "kind": "bench-finetune", "kernels": kernelSet, "cpu": registry.CPUModel(),
		"preset": rep.Preset, "threads": th, "steps": o.Steps, "reps": rep.Reps, "rank": rep.Rank, "alpha": rep.Alpha, "targets": rep.Targets, "seed": o.Seed,
		"child_process": o.Child != nil,
	}
}

// Record stores the report as a bench run (name bench-finetune) whose hash
// is the options' identity; a repeated bench of the same identity is a
// new attempt of that run.
func (r *FinetuneBenchReport) Record(db *registry.DB, threads int, o FinetuneBenchOptions) (string, error) {
	ks := kernels.KernelSet()
	if len(r.Rows) > 0 && r.Rows[0].KernelSet != "" {
		ks = r.Rows[0].KernelSet
	}
	return recordBench(db, o.Identity(ks, r), FinetuneBenchSummary{FinetuneBench: r}, "bench-finetune", ks, threads)
}

// ParseFinetuneBench reads a bench run's summary; nil when it is not a
// fine-tuning bench.
func ParseFinetuneBench(summary string) *FinetuneBenchReport {
	var s FinetuneBenchSummary
	if json.Unmarshal([]byte(summary), &s) != nil || s.FinetuneBench == nil || len(s.FinetuneBench.Rows) == 0 {
		return nil
	}
	return s.FinetuneBench
}

// heapInUse is the Go heap in use now (runtime.MemStats.HeapInuse).
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
