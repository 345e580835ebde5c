package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

func init() { extraCommands = append(extraCommands, (*app).ablateCmd) }

func (a *app) ablateCmd() *cobra.Command {
	var list, dry, enqueue bool
	var preset string
	var seeds, jobs int
	var sets []string
	cmd := &cobra.Command{
		Use:   "ablate <name|file.yaml>",
		Short: "Run an ablation matrix: train and evaluate every arm × seed not yet done, then summarise",
		Long: "Expands the matrix into run hashes, skips members already done, resumes interrupted ones from their checkpoints, " +
			"trains and evaluates the rest, and prints per-arm mean ± 95% CI over seeds with the paired difference to the baseline arm. " +
			"`harness paper` renders the figures and tables into paper/.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tBASE\tARMS\tSEEDS\tRUNS\tTASKS\tDESCRIPTION")
				for _, n := range ablations.Names() {
					m, err := ablations.Load(n)
					if err != nil {
						return err
					}
					arms := len(m.ArmList())
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", n, m.Base, arms, len(m.Seeds), arms*len(m.Seeds), len(m.Tasks), m.Description)
				}
				return w.Flush()
			}
			if jobs < 1 {
				return fmt.Errorf("--jobs %d: want at least 1", jobs)
			}
			if len(args) == 0 {
				return fmt.Errorf("name an ablation (shipped: %v) or use --list", ablations.Names())
			}
			m, err := ablations.Load(args[0])
			if err != nil {
				return err
			}
			if preset != "" {
				m.Base = preset
				// The matrix's own overrides still apply on top of another
				// base preset: say so, so a budget is never kept silently.
				for _, k := range slices.Sorted(maps.Keys(m.Set)) {
					fmt.Fprintf(os.Stderr, "note: --preset %s: the matrix still sets %s=%v for every arm (its `set:`); override it with --set %s=...\n", preset, k, m.Set[k], k)
				}
			}
			if cmd.Flags().Changed("seeds") {
				if err := m.WithSeeds(seeds); err != nil {
					return err
				}
			}
			if dry {
				return a.ablatePlan(m, sets)
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			if enqueue {
				q, err := a.env(db).EnqueueAblation(m, sets)
				if err != nil {
					return err
				}
				fmt.Printf("ablation %s (id %d, definition %s): %d members in batch %s: %d queued, %d queued again after failing, %d already queued or done\n",
					m.Name, q.ID, q.DefHash[:12], q.Members, q.Batch, q.Stats.Added, q.Stats.Requeued, q.Stats.Kept)
				fmt.Printf("run them with `harness worker --batch %s` (any number, here or on other machines sharing --registry and --root), then `harness ablate %s` for the table\n", q.Batch, args[0])
				return nil
			}
			ctx, stop := signalContext()
			defer stop()
			rep, err := a.env(db).Ablate(ctx, m, sets, jobs, os.Stderr)
			if err != nil {
				return err
			}
			t := reports.AblationTable{Name: m.Name, Description: m.Description, Baseline: rep.Baseline, Seeds: len(m.Seeds), Rows: rep.Summary}
			fmt.Println()
			fmt.Print(t.Text())
			fmt.Printf("\n%d/%d members reused from the registry; ablation id %d in %s\n", rep.Reused, len(rep.Members), rep.ID, db.Path())
			if f := rep.Failed(); len(f) > 0 {
				for _, x := range f {
					fmt.Fprintf(os.Stderr, "failed: %s seed %d (%s): %v\n", x.Arm, x.Seed, x.Hash[:12], x.Err)
				}
				return fmt.Errorf("%d of %d members failed (recorded as failed; fix and run again to retry them)", len(f), len(rep.Members))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the shipped matrices and their sizes")
	cmd.Flags().BoolVar(&enqueue, "enqueue", false, "queue the members in the registry for `harness worker` instead of running them here")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "print the plan (each member done / to run) without training")
	cmd.Flags().StringVar(&preset, "preset", "", "base preset for every arm (default: the matrix's)")
	cmd.Flags().IntVar(&seeds, "seeds", 3, "run seeds 1..N instead of the matrix's seeds")
	cmd.Flags().IntVar(&jobs, "jobs", 1, "members trained at once (threads are shared among them)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key for every arm, key=value (repeatable)")
	return cmd
}

// ablatePlan prints each member of the expanded matrix with its status in
// the registry (read only; a missing registry means nothing is done).
func (a *app) ablatePlan(m *ablations.Matrix, sets []string) error {
	def, err := experiment.MatrixDef(a.root, m, sets)
	if err != nil {
		return err
	}
	var db *registry.DB
	if _, serr := os.Stat(a.registryPath()); serr == nil {
		if db, err = registry.OpenReadOnly(a.registryPath()); err != nil {
			return err
		}
		defer db.Close()
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ARM\tSEED\tRUN\tSTATUS")
	done := 0
	for _, mb := range def.Members {
		status := "to run"
		if db != nil {
			if _, err := db.DoneRun(mb.RunHash); err == nil {
				status = "done"
				if len(def.Tasks) > 0 {
					eh, _ := experiment.EvalRequest{Model: mb.RunHash, Tasks: def.Tasks, Shots: -1, Limit: def.Limit}.Hash()
					if _, err := db.DoneRun(eh); err != nil {
						status = "trained, to evaluate (eval " + eh[:12] + ")"
					}
				}
				if status == "done" {
					done++
				}
			} else if r, err := db.LatestRun(mb.RunHash); err == nil {
				status = "to run (last attempt " + r.Status + ", resumes from its checkpoint)"
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", mb.Arm, mb.Seed, mb.RunHash[:12], status)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("%d/%d members done (definition %s; tasks %v, limit %d)\n", done, len(def.Members), def.Hash()[:12], def.Tasks, def.Limit)
	return nil
}
