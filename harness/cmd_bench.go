package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/engine"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels"
)

func init() {
	extraCommands = append(extraCommands, (*app).benchCmd, (*app).benchDecodeChildCmd, (*app).benchTrainChildCmd)
}

// benchRefs are the GEMM references measured next to ours; an openblas
// build adds OpenBLAS.
var benchRefs = []experiment.Reference{experiment.GonumReference}

func (a *app) benchCmd() *cobra.Command {
	var presets []string
	var minTime time.Duration
	var steps int
	var quick, record bool
	var shapeFlags []string
	var noGemm bool
	var trainRef, kernelSet string
	var decode bool
	var decodePresets, decodeVariants, decodeTokens []string
	var decodePrompt, decodeReps int
	var triadMB int64
	var nmrunPath string
	var lean, inProcess bool
	var recompute string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "GEMM GFLOP/s on LM shapes (with reference ratios) and training tokens/s and MFU, recorded as a bench run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := kernels.Use(kernelSet); err != nil {
				return fmt.Errorf("--kernels: %w", err)
			}
			threads := []int{1, 2}
			if a.threads > 0 {
				threads = []int{a.threads}
			}
			if decode {
				return a.benchDecode(cmd, threads, record, decodePresets, decodeVariants, decodeTokens, decodePrompt, decodeReps, triadMB, lean, nmrunPath)
			}
			shapes := experiment.LMShapes
			gemmShapes := shapes
			if noGemm {
				gemmShapes = nil
			}
			if quick {
				shapes = shapes[:3]
			}
			batch := map[string][2]int{}
			for _, s := range shapeFlags {
				var p string
				var b, t int
				if k, v, ok := strings.Cut(s, "="); ok {
					p = k
					if _, err := fmt.Sscanf(v, "%dx%d", &b, &t); err != nil || b < 1 || t < 1 {
						return fmt.Errorf("--shape %q: want preset=BATCHxSEQ, e.g. nano=4x2048", s)
					}
				} else {
					return fmt.Errorf("--shape %q: want preset=BATCHxSEQ, e.g. nano=4x2048", s)
				}
				batch[p] = [2]int{b, t}
			}
			if len(gemmShapes) == 0 {
				shapes = nil
			}
			var tref *experiment.Reference
			if trainRef != "" {
				for i := range benchRefs {
					if benchRefs[i].Name == trainRef {
						tref = &benchRefs[i]
					}
				}
				if tref == nil {
					names := make([]string, len(benchRefs))
					for i, r := range benchRefs {
						names[i] = r.Name
					}
					return fmt.Errorf("--train-ref %q: not a reference of this build (valid: %s, or \"\" for none)", trainRef, strings.Join(names, ", "))
				}
			}
			var modes []bool
			switch recompute {
			case "":
				modes = []bool{false}
				if len(batch) > 0 {
					modes = []bool{false, true}
				}
			case "off":
				modes = []bool{false}
			case "on":
				modes = []bool{true}
			case "both":
				modes = []bool{false, true}
			default:
				return fmt.Errorf("--recompute %q: want off, on or both (default: both when a --shape is given, else off)", recompute)
			}
			bo := experiment.BenchOptions{
				Threads: threads, MinTime: minTime, Shapes: shapes, Refs: benchRefs, Presets: presets, TrainSteps: steps, Log: os.Stderr, Batch: batch, TrainRef: tref,
				Recompute: modes,
			}
			if !inProcess {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				bo.TrainChild = func(spec experiment.TrainSpec) (*experiment.TrainChildResult, error) {
					return trainChild(exe, spec)
				}
			}
			rep, err := experiment.Bench(bo)
			if err != nil {
				return err
			}
			fmt.Printf("kernel set: %s\n", rep.KernelSet)
			for _, th := range threads {
				if g := rep.Peak[th]; g > 0 {
					fmt.Printf("FMA peak (%s loop), %d thread(s): %.1f GFLOP/s\n", rep.PeakLoop, th, g)
				}
			}
			fmt.Println()
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "variant\tM\tK\tN\tthreads\tGFLOP/s\treference\tref GFLOP/s\tratio\t")
			for _, g := range rep.Gemm {
				ref, rg, ratio := "-", "-", "-"
				if g.Reference != "" {
					ref, rg, ratio = g.Reference, fmt.Sprintf("%.1f", g.RefGFLOPS), fmt.Sprintf("%.2fx", g.RatioToRef)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t\n", g.Variant, g.M, g.K, g.N, g.Threads, g.GFLOPS, ref, rg, ratio)
			}
			w.Flush()
			fmt.Println()
			w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "preset\tbatch×seq\tthreads\trecompute\ttokens/s\tpeak RSS GiB\tMFLOP/token\tGFLOP/s\tpeak GFLOP/s\tMFU\tbest GEMM\tref GEMMs\tref tokens/s\tspeedup\t")
			for _, t := range rep.Train {
				ref, rt, sp, rss, rc := "-", "-", "-", "-", "off"
				if t.RefName != "" {
					ref, rt, sp = t.RefName, fmt.Sprintf("%.0f", t.RefTokensPerSec), fmt.Sprintf("%.2fx", t.Speedup)
				}
				if t.PeakRSSBytes > 0 {
					rss = fmt.Sprintf("%.2f", float64(t.PeakRSSBytes)/(1<<30))
				}
				if t.Recompute {
					rc = "on"
				}
				fmt.Fprintf(w, "%s\t%d×%d\t%d\t%s\t%.0f\t%s\t%.2f\t%.2f\t%.1f\t%.1f%%\t%.1f\t%s\t%s\t%s\t\n", t.Preset, t.Batch, t.SeqLen, t.Threads, rc, t.TokensPerSec, rss, t.FLOPsPerToken/1e6, t.GFLOPS, t.PeakGFLOPS, 100*t.MFU, t.BestGemmGFLOPS, ref, rt, sp)
			}
			w.Flush()
			fmt.Println("\nMFU = training model FLOPs per second / the FMA peak measured in this run at the same thread count (the recomputed forward passes are not counted as model FLOPs).")
			fmt.Println("recompute on: block activations recomputed in the backward pass (the same bits); peak RSS: the VmHWM of the child process that ran the measurement alone.")
			if trainRef != "" {
				fmt.Printf("ref tokens/s: the same training step with every GEMM routed through %s (everything else unchanged).\n", trainRef)
			}
			if !record {
				return nil
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			h, err := rep.Record(db, a.threadCount(), bo)
			if err != nil {
				return err
			}
			fmt.Printf("recorded as bench run %s\n", h[:12])
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&presets, "presets", []string{"tiny", "nano"}, "presets whose training step is timed")
	cmd.Flags().DurationVar(&minTime, "min-time", time.Second, "minimum time per GEMM measurement (at 300 ms, single 2-thread measurements on a 2-core machine dipped to 0.6× when another process woke)")
	cmd.Flags().IntVar(&steps, "steps", 2, "timed training steps per preset (0 = time the first step only, e.g. for memory)")
	cmd.Flags().BoolVar(&quick, "quick", false, "only the three LM shapes")
	cmd.Flags().BoolVar(&record, "record", true, "record the results as a bench run in the registry")
	cmd.Flags().StringArrayVar(&shapeFlags, "shape", nil, "training batch×sequence for a preset, e.g. --shape nano=4x2048 (default: the preset's, nano 1x512)")
	cmd.Flags().StringVar(&kernelSet, "kernels", "", "GEMM kernel set to measure, e.g. avx2 on an AVX-512 machine (default: the fastest this CPU runs; all give the same bits)")
	cmd.Flags().StringVar(&trainRef, "train-ref", "gonum", "also time each training step with its GEMMs routed through this reference BLAS (gonum, or openblas in an openblas build; \"\" for none)")
	cmd.Flags().BoolVar(&noGemm, "no-gemm", false, "skip the GEMM table (only training throughput)")
	cmd.Flags().StringVar(&recompute, "recompute", "", "training activation modes: off (stored), on (recomputed in the backward pass) or both (default: both when a --shape is given, else off)")
	cmd.Flags().BoolVar(&inProcess, "train-in-process", false, "time training in this process instead of one child process per measurement (no peak RSS)")
	cmd.Flags().BoolVar(&decode, "decode", false, "instead: batch-1 decode of the float32 training path and the packed engine, file size, peak memory and the decode roofline")
	cmd.Flags().StringSliceVar(&decodePresets, "decode-presets", []string{"tiny", "nano"}, "presets decoded by --decode (random ternary weights)")
	cmd.Flags().StringSliceVar(&decodeVariants, "variants", nil, "packed variants weights/embed/head for --decode (default tq2_0/f16/float,tq2_0/q8_0/int8,tq2_0/q4_0/int8,tq1_0/q4_0/int8,tq1_0/q3_k/int8; a variant whose embedding blocks do not divide a preset's d_model is skipped for it)")
	cmd.Flags().StringSliceVar(&decodeTokens, "tokens", nil, "decoded tokens per preset for --decode, e.g. tiny=192,nano=64 (default 64, cut to the context)")
	cmd.Flags().IntVar(&decodePrompt, "prompt", 32, "prompt (prefill) tokens for --decode")
	cmd.Flags().IntVar(&decodeReps, "reps", 3, "repetitions for --decode (the best is kept)")
	cmd.Flags().Int64Var(&triadMB, "triad-mb", 256, "size of each STREAM triad array in MiB for --decode")
	cmd.Flags().BoolVar(&lean, "lean", true, "--decode: also run each packed measurement in nmrun -bench, a small decoder process, for its peak memory without the harness's baseline")
	cmd.Flags().StringVar(&nmrunPath, "nmrun", "", "--decode --lean: the nmrun binary (default: built from edge/cmd/nmrun with the go command into a temporary directory)")
	return cmd
}

// benchDecode runs `bench --decode`: each measurement in a child process
// (this binary re-executed as bench-decode-child) so that its peak
// resident memory is measured alone.
func (a *app) benchDecode(cmd *cobra.Command, threads []int, record bool, presets, variants, tokens []string, prompt, reps int, triadMB int64, lean bool, nmrunPath string) error {
	do := experiment.DecodeOptions{Presets: presets, Threads: threads, Prompt: prompt, Reps: reps, Seed: 1, TriadBytes: triadMB << 20, Tokens: map[string]int{
		"tiny": 192, "nano": 64,
	}}
	for _, v := range variants {
		dv, err := experiment.ParseDecodeVariant(v)
		if err != nil {
			return fmt.Errorf("--variants: %w", err)
		}
		do.Variants = append(do.Variants, dv)
	}
	if len(do.Variants) == 0 {
		do.Variants = experiment.DefaultDecodeVariants
	}
	for _, t := range tokens {
		k, v, ok := strings.Cut(t, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 {
			return fmt.Errorf("--tokens %q: want preset=N, e.g. nano=64", t)
		}
		do.Tokens[k] = n
	}
	if prompt < 1 || reps < 1 || triadMB < 1 {
		return fmt.Errorf("--prompt, --reps and --triad-mb must be positive")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench --decode: %w", err)
	}
	dir, err := os.MkdirTemp("", "harness-decode-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	do.Dir = dir
	do.Root = a.root
	if do.Root == "" {
		do.Root = "."
	}
	do.Child = func(spec experiment.DecodeSpec) (*experiment.DecodeChildResult, error) {
		js, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		c := exec.Command(exe, "bench-decode-child")
		c.Stdin = bytes.NewReader(js)
		c.Stderr = os.Stderr
		out, err := c.Output()
		if err != nil {
			return nil, fmt.Errorf("child: %w", err)
		}
		var res experiment.DecodeChildResult
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, fmt.Errorf("child output: %w", err)
		}
		return &res, nil
	}
	if lean {
		if nmrunPath == "" {
			nmrunPath = filepath.Join(dir, "nmrun")
			b := exec.Command("go", "build", "-o", nmrunPath, "./edge/cmd/nmrun")
			b.Dir = a.root
			if a.root == "" {
				b.Dir = "."
			}
			b.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := b.CombinedOutput(); err != nil {
				return fmt.Errorf("bench --decode: building nmrun for the lean child (--lean=false skips it, --nmrun names a binary): %v\n%s", err, out)
			}
		}
		do.Lean = func(spec experiment.DecodeSpec) (*experiment.DecodeChildResult, error) {
			return leanChild(nmrunPath, spec)
		}
	}
	// Only the decode bench: no FMA peak, GEMM or training measurements.
	bo := experiment.BenchOptions{Decode: &do, Log: os.Stderr}
	rep, err := experiment.Bench(bo)
	if err != nil {
		return err
	}
	printDecode(cmd.OutOrStdout(), rep.Decode)
	if !record {
		return nil
	}
	db, err := a.openRegistry()
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := rep.Record(db, a.threadCount(), bo)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "recorded as bench run %s\n", h[:12])
	return nil
}

func printDecode(out io.Writer, d *experiment.DecodeReport) {
	fmt.Fprintf(out, "weights: %s; dot kernels: %s\n", d.Weights, d.DotKernels)
	for _, th := range slices.Sorted(maps.Keys(d.Bandwidth)) {
		fmt.Fprintf(out, "STREAM triad, %d thread(s): %.1f GB/s (3 arrays of %d MiB)", th, d.Bandwidth[th], d.TriadBytes>>20)
		if b := d.BandwidthL3[th]; b > 0 {
			fmt.Fprintf(out, "; L3-resident: %.1f GB/s (3 arrays of %d KiB, L3 %d MiB)", b, d.TriadL3Bytes>>10, d.L3Bytes>>20)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "preset\tpath\tweights\tembed\thead\tfile MB\tpeak RSS MB\tlean RSS MB\tthreads\tprefill tok/s\tdecode tok/s\tworst\tper CPU s\tMB/token\tstream GB/s\troofline\tof roofline\ttriad roofline\tof it\tL3 triad roofline\tof it\tvs float32\tby CPU\t")
	for _, r := range d.Rows {
		wt, et, hd, lean, bpt, gbs, roof, frac, troof, tfrac, roofL3, fracL3, sp, spc := "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"
		if r.Path == "packed" {
			wt, et, hd = r.Weights, r.Embed, r.Head
			bpt = fmt.Sprintf("%.2f", float64(r.WeightBytes+r.StateBytes)/1e6)
			if r.StreamRooflineTokS > 0 {
				gbs, roof, frac = fmt.Sprintf("%.1f", r.StreamGBs), fmt.Sprintf("%.0f", r.StreamRooflineTokS), fmt.Sprintf("%.0f%%", 100*r.StreamFraction)
			}
			troof = fmt.Sprintf("%.0f", r.RooflineTokS)
			tfrac = fmt.Sprintf("%.0f%%", 100*r.RooflineFraction)
			if r.RooflineL3TokS > 0 {
				roofL3, fracL3 = fmt.Sprintf("%.0f", r.RooflineL3TokS), fmt.Sprintf("%.0f%%", 100*r.RooflineL3Frac)
				if r.FitsL3 {
					roofL3 += "*"
				}
			}
			sp = fmt.Sprintf("%.2fx", r.SpeedupFloat)
			if r.SpeedupFloatCPU > 0 {
				spc = fmt.Sprintf("%.2fx", r.SpeedupFloatCPU)
			}
			if r.LeanPeakRSSBytes > 0 {
				lean = fmt.Sprintf("%.1f", float64(r.LeanPeakRSSBytes)/1e6)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.2f\t%.1f\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Preset, r.Path, wt, et, hd,
			float64(r.FileBytes)/1e6, float64(r.PeakRSSBytes)/1e6, lean, r.Threads, r.PrefillTokS, r.DecodeTokS, r.WorstDecodeTokS, r.DecodeCPUTokS, bpt, gbs, roof, frac, troof, tfrac, roofL3, fracL3, sp, spc)
	}
	w.Flush()
	fmt.Fprintln(out, "\nfloat32: models.Model.Step (the training path's batch-1 decode), file = 4 bytes per parameter. packed: edge/engine on the exported GGUF file (memory-mapped).")
	fmt.Fprintln(out, "prefill = the prompt fed one Step at a time into a fresh state; decode = greedy steps after it; best of the repetitions, worst = the slowest one; per CPU s = tokens per second of the process's CPU time (immune to waiting for a shared core).")
	fmt.Fprintln(out, "Each measurement runs in its own process; peak RSS is its VmHWM (the harness re-executed); lean RSS is the same decode in nmrun -bench, a small decoder binary.")
	fmt.Fprintln(out, "MB/token: the file's tensors once (the tied head reads the whole embedding) + one embedding row + recurrent state and KV cache at the mean decode position;")
	fmt.Fprintln(out, "stream: the rate at which the same threads move MB/token bytes over and over, measured right after the decode: the weights and KV cache read (64-byte loads), the Mamba-2 state (counted twice in MB/token) read and stored back in place; roofline = stream / MB per token, the most a decoder moving those bytes could reach here.")
	for _, s := range d.Skipped {
		fmt.Fprintf(out, "skipped: %s\n", s)
	}
	fmt.Fprintln(out, "triad roofline = the DRAM triad's bandwidth / MB per token; L3 triad roofline = the L3-resident triad's (* = MB/token below the L3's size; a shared L3 may still not hold them). by CPU = packed / float32 decode rates per CPU second.")
}

// benchDecodeChildCmd is the child process of `bench --decode`: it reads a
// DecodeSpec (JSON) on stdin, measures and writes a DecodeChildResult.
func (a *app) benchDecodeChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-decode-child",
		Short:  "internal: one measurement of bench --decode (spec on stdin, result on stdout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec experiment.DecodeSpec
			if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
				return fmt.Errorf("bench-decode-child: %w", err)
			}
			res, err := decodeChild(spec)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
}

// benchTrainChildCmd is the child process of a training measurement of
// `bench`: it reads a TrainSpec (JSON) on stdin, measures and writes a
// TrainChildResult.
func (a *app) benchTrainChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-train-child",
		Short:  "internal: one training measurement of bench (spec on stdin, result on stdout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec experiment.TrainSpec
			if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
				return fmt.Errorf("bench-train-child: %w", err)
			}
			res, err := experiment.BenchTrainChild(spec, benchRefs)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
}

// trainChild runs one training measurement in exe bench-train-child.
func trainChild(exe string, spec experiment.TrainSpec) (*experiment.TrainChildResult, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	c := exec.Command(exe, "bench-train-child")
	c.Stdin = bytes.NewReader(js)
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("child: %w", err)
	}
	var res experiment.TrainChildResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("child output: %w", err)
	}
	return &res, nil
}

// decodeChild measures one spec in this process.
func decodeChild(spec experiment.DecodeSpec) (*experiment.DecodeChildResult, error) {
	switch spec.Mode {
	case "float32":
		return experiment.DecodeChildFloat(spec)
	case "packed":
		m, err := engine.Load(spec.File)
		if err != nil {
			return nil, err
		}
		h, err := engine.ParseHead(spec.Head)
		if err != nil {
			return nil, err
		}
		if err := m.SetHead(h); err != nil {
			return nil, err
		}
		ts, err := m.TimeDecode(spec.Threads, spec.Prompt, spec.Tokens, spec.Reps)
		if err != nil {
			return nil, err
		}
		res := &experiment.DecodeChildResult{KernelSet: dot.KernelSet()}
		for _, t := range ts {
			res.Timings = append(res.Timings, decodeTiming(t))
		}
		res.WeightBytes, res.StateBytes = m.DecodeBytes(spec.Prompt + spec.Tokens/2)
		res.WrittenBytes = m.DecodeWritten()
		res.PeakRSSBytes = experiment.PeakRSS()
		return res, nil
	}
	return nil, fmt.Errorf("bench-decode-child: mode %q: want float32 or packed", spec.Mode)
}

func decodeTiming(t engine.Timing) experiment.DecodeTiming {
	return experiment.DecodeTiming{Threads: t.Threads, Prompt: t.Prompt, Tokens: t.Tokens, PrefillTokS: t.PrefillTokS, DecodeTokS: t.DecodeTokS,
		DecodeCPUTokS: t.DecodeCPUTokS, WorstDecodeTokS: t.WorstDecodeTokS}
}

// leanChild runs a packed spec in nmrun -bench and converts its result.
func leanChild(nmrun string, spec experiment.DecodeSpec) (*experiment.DecodeChildResult, error) {
	ths := make([]string, len(spec.Threads))
	for i, t := range spec.Threads {
		ths[i] = strconv.Itoa(t)
	}
	c := exec.Command(nmrun, "-bench", "-head", spec.Head, "-bench-threads", strings.Join(ths, ","),
		"-prompt-tokens", strconv.Itoa(spec.Prompt), "-steps", strconv.Itoa(spec.Tokens), "-reps", strconv.Itoa(spec.Reps), spec.File)
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("nmrun -bench: %w", err)
	}
	var br engine.BenchResult
	if err := json.Unmarshal(out, &br); err != nil {
		return nil, fmt.Errorf("nmrun -bench output: %w", err)
	}
	res := &experiment.DecodeChildResult{PeakRSSBytes: br.PeakRSSBytes, WeightBytes: br.WeightBytes, StateBytes: br.StateBytes, WrittenBytes: br.WrittenBytes, KernelSet: br.DotKernels}
	for _, t := range br.Timings {
		res.Timings = append(res.Timings, decodeTiming(t))
	}
	return res, nil
}
