package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/repro"
)

func init() {
	extraCommands = append(extraCommands, (*app).reproduceCmd, (*app).exportRunCmd, (*app).importRunCmd)
}

// errMismatch makes reproduce exit non-zero after printing its report.
var errMismatch = errors.New("reproduction does not match the record")

func (a *app) reproduceCmd() *cobra.Command {
	var o repro.Options
	var all bool
	cmd := &cobra.Command{
		Use:   "reproduce <hash>",
		Short: "Train a recorded run again and compare it bit for bit with the record",
		Long: "reproduce re-runs the recorded config of a done training run and compares the final checkpoint's sha256, " +
			"every logged metric series step by step, the final validation numbers and the task metrics of its eval runs. " +
			"It prints the first divergence (step, metric, both values) and a summary table, and exits non-zero on any mismatch. " +
			"The re-run goes to a scratch registry and directory unless --new-attempt is given.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, h, err := a.openResolved(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, stop := signalContext()
			defer stop()
			r, err := repro.Reproduce(ctx, a.env(db), h, o)
			if err != nil {
				return err
			}
			if err := r.WriteText(os.Stdout, all); err != nil {
				return err
			}
			if r.ScratchDir != "" {
				fmt.Printf("scratch directory kept: %s\n", r.ScratchDir)
			}
			if !r.Identical() {
				return errMismatch
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "list every check, not only those that did not match")
	f.BoolVar(&o.Keep, "keep", false, "keep the scratch directory (registry, run dirs, token cache) for inspection")
	f.BoolVar(&o.NewAttempt, "new-attempt", false, "record the re-run as a new attempt in this registry instead of a scratch one")
	f.BoolVar(&o.ReuseCache, "reuse-cache", false, "use the existing token-shard cache instead of tokenizing the corpus afresh")
	f.BoolVar(&o.SkipEval, "no-eval", false, "do not re-evaluate the run's eval runs")
	f.StringVar(&o.ScratchParent, "scratch", "", "directory for the scratch directory (default: the system temporary directory)")
	return cmd
}

func (a *app) exportRunCmd() *cobra.Command {
	var out string
	var withCkpt, force bool
	cmd := &cobra.Command{
		Use:   "export-run <hash>",
		Short: "Write a run, its attempts, metrics and eval runs as a self-contained bundle (gzip tar)",
		Long: "export-run writes the bundle to a temporary file beside the output and moves it into place when complete. " +
			"It refuses an existing output unless --force is given, and never writes over the registry it reads " +
			"(nor its -wal, -shm or -journal files), whatever the path.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, h, err := a.openResolved(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			if out == "" {
				out = "run-" + short(h) + ".tar.gz"
			}
			m, err := repro.ExportFile(db, a.root, h, out, force, repro.ExportOptions{WithCheckpoint: withCkpt})
			if err != nil {
				return fmt.Errorf("export-run: %w", err)
			}
			fmt.Printf("wrote %s: run %s", out, h)
			if m.Checkpoint != nil {
				fmt.Printf(", checkpoint of attempt %d (sha256 %s)", m.Checkpoint.Attempt, short(m.Checkpoint.SHA256))
			}
			fmt.Println()
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "bundle file (default run-<hash prefix>.tar.gz)")
	cmd.Flags().BoolVar(&withCkpt, "with-checkpoint", false, "include the final checkpoint file")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing output file (never the registry itself)")
	return cmd
}

func (a *app) importRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import-run <bundle>",
		Short: "Bring a bundle written by export-run into this registry (importing twice adds nothing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := repro.Import(db, a.root, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("imported %s: %d configs, %d runs added (%d already present), %d metric points, %d task results, %d artifacts\n",
				r.Hash, r.ConfigsAdded, r.RunsAdded, r.RunsPresent, r.Metrics, r.TaskResults, r.Artifacts)
			if r.Checkpoint != "" {
				fmt.Printf("checkpoint: %s\n", r.Checkpoint)
			}
			return nil
		},
	}
}
