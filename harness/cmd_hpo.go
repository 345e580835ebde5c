package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/hpo"
	"github.com/nanomamba-edge/harness/repro"
)

func init() { extraCommands = append(extraCommands, (*app).hpoCmd) }

func (a *app) hpoCmd() *cobra.Command {
	var trials, jobs int
	var study string
	var enqueue bool
	cmd := &cobra.Command{
		Use:   "hpo <space|file.yaml>",
		Short: "Search hyper-parameters with goptuna TPE and pruning; studies live in the registry",
		Long: "Runs trials of a search space (shipped: " + strings.Join(hpo.SpaceNames(), ", ") + ", or a YAML file) until the study holds --trials finished trials. " +
			"Each trial trains its config as a recorded hpo-trial run; a config already done is reused. " +
			"A killed search resumes where it stopped, and several `harness hpo` processes may share one study.\n\n" +
			"  harness hpo tiny --trials 24 --jobs 2\n  harness hpo best tiny --output best.yaml   # then: harness train --preset best.yaml\n  harness hpo list",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("name a search space (shipped: %s) or a .yaml file; see also `harness hpo list` and `harness hpo best <study>`", strings.Join(hpo.SpaceNames(), ", "))
			}
			space, err := hpo.LoadSpace(args[0])
			if err != nil {
				return err
			}
			if trials < 0 || jobs < 1 {
				return fmt.Errorf("--trials %d must be >= 0 and --jobs %d >= 1", trials, jobs)
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			if enqueue {
				q, err := hpo.Enqueue(a.env(db), space, hpo.Options{Trials: trials, Study: study})
				if err != nil {
					return err
				}
				fmt.Printf("study %s: %d trials finished, %d slots already queued, %d queued now in batch %s\n", q.Study, q.Finished, q.Pending, q.Stats.Added+q.Stats.Requeued, q.Batch)
				fmt.Printf("run them with `harness worker --batch %s`; `harness hpo list --trials %s` shows the trials\n", q.Batch, q.Study)
				return nil
			}
			ctx, stop := signalContext()
			defer stop()
			rep, err := hpo.Run(ctx, a.env(db), space, hpo.Options{Trials: trials, Jobs: jobs, Study: study, Progress: os.Stderr})
			if rep != nil {
				fmt.Println()
				printTrials(os.Stdout, rep.Trials, rep.Space.Objective)
				fmt.Printf("\nstudy %s in %s: %d trials, %d trained now, %d reused from the registry\n", rep.Study, db.Path(), len(rep.Trials), rep.Ran, rep.Reused)
				if rep.Best != nil {
					fmt.Printf("best: trial %d, %s %.4f, run %s (`harness hpo best %s --output best.yaml`)\n", rep.Best.Number, rep.Space.Objective, rep.Best.Value, short(rep.Best.RunHash), rep.Study)
				}
			}
			return err
		},
	}
	cmd.Flags().IntVar(&trials, "trials", 0, "finished trials the study should hold, counting earlier ones (0 = the space's default)")
	cmd.Flags().IntVar(&jobs, "jobs", 1, "trials run at once in this process; each gets threads/jobs threads")
	cmd.Flags().StringVar(&study, "study", "", "study name (default: the space's name)")
	cmd.Flags().BoolVar(&enqueue, "enqueue", false, "queue trial slots in the registry for `harness worker` instead of running them here")
	cmd.AddCommand(a.hpoBestCmd(), a.hpoListCmd())
	return cmd
}

func (a *app) hpoBestCmd() *cobra.Command {
	var output string
	var withSet, force bool
	cmd := &cobra.Command{
		Use:   "best <study>",
		Short: "Print the best trial of a study as a config overlay (preset: <base> plus the best values)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistryRO()
			if err != nil {
				return err
			}
			defer db.Close()
			b, err := hpo.BestOverlay(db, args[0], withSet)
			if err != nil {
				return err
			}
			if output == "" {
				_, err = os.Stdout.Write(b.Overlay)
				return err
			}
			if err := repro.WriteFile(a.registryPath(), output, b.Overlay, force); err != nil {
				return fmt.Errorf("write overlay: %w", err)
			}
			fmt.Printf("best trial %d of %s (%s %.4f, run %s) written to %s; train it with `harness train --preset %s`\n",
				b.Trial.Number, b.Study, b.Objective, b.Trial.Value, short(b.Trial.RunHash), output, output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the overlay to this file instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing output file (never the registry)")
	cmd.Flags().BoolVar(&withSet, "with-set", false, "also include the space's fixed overrides (e.g. the reduced per-trial token budget), reproducing the trial's config exactly")
	return cmd
}

func (a *app) hpoListCmd() *cobra.Command {
	var trials string
	var asJSON, asCSV bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the studies in the registry with trial counts by state and the best value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(asJSON, asCSV)
			if err != nil {
				return err
			}
			db, err := a.openRegistryRO()
			if err != nil {
				return err
			}
			defer db.Close()
			if trials != "" {
				ts, err := hpo.Trials(db, trials)
				if err != nil {
					return err
				}
				if format != "text" {
					t := &table{header: []string{"trial", "state", "value", "run", "params"}}
					for _, x := range ts {
						var v any = x.Value
						if math.IsNaN(x.Value) {
							v = nil
						}
						state := x.State
						if x.Interrupted {
							state += " (interrupted, requeued)"
						}
						t.add(x.Number, state, v, x.RunHash, formatParams(x.Params))
					}
					return t.write(os.Stdout, format)
				}
				printTrials(os.Stdout, ts, "value")
				return nil
			}
			sums, err := hpo.Studies(db)
			if err != nil {
				return err
			}
			if format != "text" {
				t := &table{header: []string{"study", "objective", "direction", "trials", "complete", "pruned", "fail", "running", "waiting", "best", "best_trial", "best_run"}}
				for _, x := range sums {
					var best, num, run any
					if x.Best != nil {
						best, num, run = x.Best.Value, x.Best.Number, x.Best.RunHash
					}
					t.add(x.Name, x.Objective, x.Direction, x.Total, x.Counts["complete"], x.Counts["pruned"], x.Counts["fail"], x.Counts["running"], x.Counts["waiting"], best, num, run)
				}
				return t.write(os.Stdout, format)
			}
			if len(sums) == 0 {
				fmt.Printf("no studies in %s (start one with `harness hpo <space>`)\n", db.Path())
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "STUDY\tOBJECTIVE\tTRIALS\tCOMPLETE\tPRUNED\tFAIL\tRUNNING\tWAITING\tBEST\tBEST TRIAL\tRUN")
			for _, s := range sums {
				best, num, run := "-", "-", "-"
				if s.Best != nil {
					best, num, run = fmt.Sprintf("%.4f", s.Best.Value), fmt.Sprint(s.Best.Number), short(s.Best.RunHash)
				}
				obj := s.Objective
				if obj == "" {
					obj = "-"
				}
				fmt.Fprintf(w, "%s\t%s (%s)\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", s.Name, obj, s.Direction, s.Total,
					s.Counts["complete"], s.Counts["pruned"], s.Counts["fail"], s.Counts["running"], s.Counts["waiting"], best, num, run)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&trials, "trials", "", "list the trials of this study instead")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	return cmd
}

// printTrials writes the trial table: number, state, value, params, run.
func printTrials(out io.Writer, ts []hpo.TrialInfo, objective string) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "TRIAL\tSTATE\t%s\tRUN\tPARAMS\n", strings.ToUpper(objective))
	for _, t := range ts {
		val := "-"
		if !math.IsNaN(t.Value) {
			val = fmt.Sprintf("%.4f", t.Value)
		}
		state := t.State
		if t.Interrupted {
			state += " (interrupted, requeued)"
		}
		run := "-"
		if t.RunHash != "" {
			run = short(t.RunHash)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", t.Number, state, val, run, formatParams(t.Params))
	}
	w.Flush()
}

func formatParams(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := p[k]
		if f, ok := v.(float64); ok {
			v = fmt.Sprintf("%.4g", f)
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	return strings.Join(parts, " ")
}
