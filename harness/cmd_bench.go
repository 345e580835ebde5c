package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels"
)

func init() { extraCommands = append(extraCommands, (*app).benchCmd) }

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
			bo := experiment.BenchOptions{
				Threads: threads, MinTime: minTime, Shapes: shapes, Refs: benchRefs, Presets: presets, TrainSteps: steps, Log: os.Stderr, Batch: batch, TrainRef: tref,
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
			fmt.Fprintln(w, "preset\tbatch×seq\tthreads\ttokens/s\tMFLOP/token\tGFLOP/s\tpeak GFLOP/s\tMFU\tbest GEMM\tref GEMMs\tref tokens/s\tspeedup\t")
			for _, t := range rep.Train {
				ref, rt, sp := "-", "-", "-"
				if t.RefName != "" {
					ref, rt, sp = t.RefName, fmt.Sprintf("%.0f", t.RefTokensPerSec), fmt.Sprintf("%.2fx", t.Speedup)
				}
				fmt.Fprintf(w, "%s\t%d×%d\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%.1f%%\t%.1f\t%s\t%s\t%s\t\n", t.Preset, t.Batch, t.SeqLen, t.Threads, t.TokensPerSec, t.FLOPsPerToken/1e6, t.GFLOPS, t.PeakGFLOPS, 100*t.MFU, t.BestGemmGFLOPS, ref, rt, sp)
			}
			w.Flush()
			fmt.Println("\nMFU = training model FLOPs per second / the FMA peak measured in this run at the same thread count.")
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
	cmd.Flags().DurationVar(&minTime, "min-time", 300*time.Millisecond, "minimum time per GEMM measurement")
	cmd.Flags().IntVar(&steps, "steps", 2, "timed training steps per preset (0 = time the first step only, e.g. for memory)")
	cmd.Flags().BoolVar(&quick, "quick", false, "only the three LM shapes")
	cmd.Flags().BoolVar(&record, "record", true, "record the results as a bench run in the registry")
	cmd.Flags().StringArrayVar(&shapeFlags, "shape", nil, "training batch×sequence for a preset, e.g. --shape nano=4x2048 (default: the preset's, nano 1x512)")
	cmd.Flags().StringVar(&kernelSet, "kernels", "", "GEMM kernel set to measure, e.g. avx2 on an AVX-512 machine (default: the fastest this CPU runs; all give the same bits)")
	cmd.Flags().StringVar(&trainRef, "train-ref", "gonum", "also time each training step with its GEMMs routed through this reference BLAS (gonum, or openblas in an openblas build; \"\" for none)")
	cmd.Flags().BoolVar(&noGemm, "no-gemm", false, "skip the GEMM table (only training throughput)")
	return cmd
}
