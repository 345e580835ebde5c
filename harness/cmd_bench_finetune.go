package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/experiment"
)

func init() { extraCommands = append(extraCommands, (*app).benchFinetuneCmd) }

func (a *app) benchFinetuneCmd() *cobra.Command {
	var threads []int
	var targetKinds []string
	var preset string
	var steps, reps, rank int
	var alpha float64
	var record, child bool
	cmd := &cobra.Command{
		Use:   "bench-finetune",
		Short: "fine-tuning step time and peak memory: LoRA vs full fine-tuning of the same base, each in its own process; recorded as a bench run",
		Long: "Times optimizer steps (forward, backward, clipping, AdamW over the fine-tune's batch) of a LoRA fine-tune and of full " +
			"fine-tuning of the same base — the preset's model with random weights at the last phase of its QAT schedule, with a " +
			"real fine-tune's train section — and reads each measuring process's peak resident memory (VmHWM). The loss covers the " +
			"second half of each window, as the response of an instruction record. Recorded as a bench run named bench-finetune " +
			"(hash: the options and the machine) unless --record=false.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if child {
				var spec experiment.FinetuneBenchSpec
				if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
					return fmt.Errorf("bench-finetune --child: %w", err)
				}
				row, err := experiment.FinetuneBenchMeasure(spec)
				if err != nil {
					return err
				}
				row.PeakRSSBytes = experiment.PeakRSS()
				return json.NewEncoder(cmd.OutOrStdout()).Encode(row)
			}
			if len(threads) == 0 {
				threads = []int{a.threadCount()}
			}
			for _, t := range threads {
				if t < 1 {
					return fmt.Errorf("--bench-threads %d: want at least 1", t)
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench-finetune: %w", err)
			}
			o := experiment.FinetuneBenchOptions{Preset: preset, Threads: threads, Steps: steps, Reps: reps, Rank: rank, Alpha: alpha, Targets: targetKinds, Seed: 1, Log: os.Stderr}
			o.Child = func(spec experiment.FinetuneBenchSpec) (*experiment.FinetuneBenchRow, error) {
				js, err := json.Marshal(spec)
				if err != nil {
					return nil, err
				}
				c := exec.Command(exe, "bench-finetune", "--child")
				c.Stdin = bytes.NewReader(js)
				c.Stderr = os.Stderr
				out, err := c.Output()
				if err != nil {
					return nil, fmt.Errorf("child: %w", err)
				}
				var row experiment.FinetuneBenchRow
				if err := json.Unmarshal(out, &row); err != nil {
					return nil, fmt.Errorf("child output: %w", err)
				}
				return &row, nil
			}
			rep, err := experiment.FinetuneBench(o)
			if err != nil {
				return err
			}
			printFinetuneBench(cmd.OutOrStdout(), rep)
			if !record {
				return nil
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			h, err := rep.Record(db, a.threadCount(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded as bench run %s\n", h[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&preset, "preset", "tiny", "base model preset (random weights)")
	cmd.Flags().IntSliceVar(&threads, "bench-threads", nil, "thread counts to measure, e.g. 1,2 (default: --threads)")
	cmd.Flags().IntVar(&steps, "steps", 8, "timed optimizer steps per measurement (after one warm-up step)")
	cmd.Flags().IntVar(&reps, "reps", 2, "alternating repetitions of each measurement; the fastest is kept (the shared machine's speed drifts)")
	cmd.Flags().IntVar(&rank, "rank", 0, "LoRA rank (default: lora.rank)")
	cmd.Flags().Float64Var(&alpha, "alpha", 0, "LoRA alpha (default: lora.alpha)")
	cmd.Flags().StringSliceVar(&targetKinds, "targets", nil, "LoRA target module kinds (default: lora.targets)")
	cmd.Flags().BoolVar(&record, "record", true, "record the result as a bench run")
	cmd.Flags().BoolVar(&child, "child", false, "internal: measure one spec (JSON on stdin) in this process and print the row")
	return cmd
}

func printFinetuneBench(out io.Writer, r *experiment.FinetuneBenchReport) {
	fmt.Fprintf(out, "fine-tuning bench, preset %s: %s\nLoRA rank %d, alpha %g, targets %v; %d timed steps per row, the fastest of %d alternating repetitions\n\n", r.Preset, r.Weights, r.Rank, r.Alpha, r.Targets, r.Steps, max(r.Reps, 1))
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "mode\tthreads\ts/step\tbest s/step\ttokens/s\ttrainable\tof base\toptimizer MB\tgradients MB\tpeak RSS MB\tGo heap MB\tloss first→last\t")
	for _, x := range r.Rows {
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%.0f\t%d\t%.2f%%\t%.2f\t%.2f\t%.1f\t%.1f\t%.3f→%.3f\t\n", x.Mode, x.Threads, x.StepSeconds, x.BestStepSeconds, x.TokensPerSec,
			x.TrainableParams, 100*float64(x.TrainableParams)/float64(max(x.BaseParams, 1)), float64(x.OptimizerBytes)/1e6, float64(x.GradBytes)/1e6,
			float64(x.PeakRSSBytes)/1e6, float64(x.HeapBytes)/1e6, x.FirstLoss, x.LastLoss)
	}
	w.Flush()
	for _, th := range r.Threads {
		f, okF := r.Row(experiment.FinetuneModeFull, th)
		l, okL := r.Row(experiment.FinetuneModeLoRA, th)
		if okF && okL && f.StepSeconds > 0 && f.PeakRSSBytes > 0 {
			fmt.Fprintf(out, "%d thread(s): LoRA step time %.2f× full fine-tuning's, peak RSS %.2f×\n", th, l.StepSeconds/f.StepSeconds, float64(l.PeakRSSBytes)/float64(f.PeakRSSBytes))
		}
	}
	fmt.Fprintln(out, "Each row runs in its own process; peak RSS is its VmHWM. LoRA freezes the base: no weight gradients (GEMMs or buffers) for its BitLinear weights, input gradients only; its optimizer holds the adapters' moments only.")
}
