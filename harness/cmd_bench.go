package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/experiment"
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
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "GEMM GFLOP/s on LM shapes (with reference ratios) and training tokens/s and MFU, recorded as a bench run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			threads := []int{1, 2}
			if a.threads > 0 {
				threads = []int{a.threads}
			}
			shapes := experiment.LMShapes
			if quick {
				shapes = shapes[:3]
			}
			rep, err := experiment.Bench(experiment.BenchOptions{
				Threads: threads, MinTime: minTime, Shapes: shapes, Refs: benchRefs, Presets: presets, TrainSteps: steps, Log: os.Stderr,
			})
			if err != nil {
				return err
			}
			fmt.Printf("kernel set: %s\n\n", rep.KernelSet)
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
			fmt.Fprintln(w, "preset\tbatch×seq\tthreads\ttokens/s\tMFLOP/token\tGFLOP/s\tpeak GFLOP/s\tMFU\t")
			for _, t := range rep.Train {
				fmt.Fprintf(w, "%s\t%d×%d\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%.1f%%\t\n", t.Preset, t.Batch, t.SeqLen, t.Threads, t.TokensPerSec, t.FLOPsPerToken/1e6, t.GFLOPS, t.PeakGFLOPS, 100*t.MFU)
			}
			w.Flush()
			fmt.Println("\nMFU = training model FLOPs per second / the best GEMM rate measured in this run at the same thread count.")
			if !record {
				return nil
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			h, err := rep.Record(db, a.threadCount())
			if err != nil {
				return err
			}
			fmt.Printf("recorded as bench run %s\n", h[:12])
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&presets, "presets", []string{"tiny", "nano"}, "presets whose training step is timed")
	cmd.Flags().DurationVar(&minTime, "min-time", 300*time.Millisecond, "minimum time per GEMM measurement")
	cmd.Flags().IntVar(&steps, "steps", 2, "timed training steps per preset")
	cmd.Flags().BoolVar(&quick, "quick", false, "only the three LM shapes")
	cmd.Flags().BoolVar(&record, "record", true, "record the results as a bench run in the registry")
	return cmd
}
