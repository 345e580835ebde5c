package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

func (a *app) runsCmd() *cobra.Command {
	var f registry.RunFilter
	var where []string
	var markStale time.Duration
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List recorded runs (hash, kind, status, key metrics, age)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			open := a.openRegistryRO
			if markStale > 0 {
				open = a.openRegistry
			}
			db, err := open()
			if err != nil {
				return err
			}
			defer db.Close()
			if markStale > 0 {
				n, err := db.MarkStale(markStale)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "marked %d stale running run(s) failed\n", n)
			}
			runs, err := db.Runs(f)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "HASH\tATTEMPT\tKIND\tSTATUS\tNAME\tVAL_BPB\tVAL_LOSS\tAGE")
			for _, r := range runs {
				if len(where) > 0 {
					ok, err := matchWhere(db, r.Hash, where)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
				}
				s := summaryOf(r)
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Hash[:12], r.Attempt, r.Kind, r.Status, r.Name,
					num(s["val_bpb"]), num(s["val_loss"]), age(r.Created))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Status, "status", "", "only runs with this status (queued, running, done, failed, pruned)")
	cmd.Flags().StringVar(&f.Kind, "kind", "", "only runs of this kind (train, eval, hpo-trial, ablation-arm, bench)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs (0 = all)")
	cmd.Flags().StringArrayVar(&where, "where", nil, "only runs whose config has key=value, e.g. --where quant.subln=false (repeatable)")
	cmd.Flags().DurationVar(&markStale, "mark-stale", 0, "first mark runs still 'running' without a heartbeat for this long as failed (e.g. 10m)")
	return cmd
}

func summaryOf(r registry.Run) map[string]any {
	m := map[string]any{}
	if r.SummaryJSON != "" {
		_ = json.Unmarshal([]byte(r.SummaryJSON), &m)
	}
	return m
}

func num(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.4f", f)
	}
	return "-"
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// flatConfig flattens a stored config JSON into dotted keys.
func flatConfig(js string) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, x := range mm {
				key := k
				if p != "" {
					key = p + "." + k
				}
				walk(key, x)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[p] = string(b)
	}
	walk("", m)
	return out, nil
}

func matchWhere(db *registry.DB, hash string, where []string) (bool, error) {
	js, err := db.Config(hash)
	if err != nil {
		return false, nil // runs without a stored config (e.g. bench) do not match
	}
	flat, err := flatConfig(js)
	if err != nil {
		return false, err
	}
	for _, w := range where {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return false, fmt.Errorf("--where %q: want key=value", w)
		}
		got, present := flat[k]
		if !present {
			return false, fmt.Errorf("--where %q: no config key %q", w, k)
		}
		if strings.Trim(got, `"`) != v {
			return false, nil
		}
	}
	return true, nil
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show <hash>",
		Short: "Show a run: config, attempts, environment, final metrics, task results, artifacts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, h, err := a.openResolvedRO(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			fmt.Println("hash:", h)
			if js, err := db.Config(h); err == nil {
				var pretty map[string]any
				_ = json.Unmarshal([]byte(js), &pretty)
				b, _ := json.MarshalIndent(pretty, "", "  ")
				fmt.Println("config:", string(b))
			}
			runs, err := db.Runs(registry.RunFilter{})
			if err != nil {
				return err
			}
			for _, r := range runs {
				if r.Hash != h {
					continue
				}
				fmt.Printf("\nattempt %d  kind=%s status=%s name=%s\n", r.Attempt, r.Kind, r.Status, r.Name)
				fmt.Printf("  started %s finished %s\n", r.Started.Format(time.RFC3339), fmtTime(r.Finished))
				dirty := "clean"
				if r.CodeDirty {
					dirty = "dirty"
					if r.CodeDiff != "" {
						dirty += ", tracked diff sha256 " + r.CodeDiff[:12]
					}
				}
				fmt.Printf("  code %s (%s) go %s %s cpu=%q threads=%d kernels=%s\n", r.CodeVersion, dirty, r.GoVersion, r.OS, r.CPU, r.Threads, r.KernelSet)
				if r.Error != "" {
					fmt.Printf("  error: %s\n", r.Error)
				}
				if r.SummaryJSON != "" {
					fmt.Printf("  summary: %s\n", r.SummaryJSON)
				}
				names, _ := db.MetricNames(r.ID)
				for _, n := range names {
					m, err := db.LastMetric(r.ID, n)
					if err == nil {
						fmt.Printf("  metric %-16s step %-6d %.6g\n", n, m.Step, m.Value)
					}
				}
				trs, _ := db.TaskResults(r.ID)
				for _, t := range trs {
					fmt.Printf("  task %-28s %-16s %.4f ± %.4f (n=%d)\n", t.Task, t.Metric, t.Value, t.Stderr, t.N)
				}
				arts, _ := db.Artifacts(r.ID)
				for _, ar := range arts {
					fmt.Printf("  artifact %s %s sha256=%s bytes=%d\n", ar.Kind, ar.Path, ar.SHA256[:16], ar.Bytes)
				}
			}
			return nil
		},
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func (a *app) diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff <hash-a> <hash-b>",
		Short: "Config keys that differ between two runs, and their metric deltas",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistryRO()
			if err != nil {
				return err
			}
			defer db.Close()
			var hs [2]string
			var flat [2]map[string]string
			for i := range hs {
				if hs[i], err = resolve(db, args[i]); err != nil {
					return err
				}
				js, err := db.Config(hs[i])
				if err != nil {
					return fmt.Errorf("config of %s: %w", hs[i][:12], err)
				}
				if flat[i], err = flatConfig(js); err != nil {
					return err
				}
			}
			keys := map[string]bool{}
			for i := range flat {
				for k := range flat[i] {
					keys[k] = true
				}
			}
			var ks []string
			for k := range keys {
				if flat[0][k] != flat[1][k] {
					ks = append(ks, k)
				}
			}
			sort.Strings(ks)
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "KEY\t%s\t%s\n", hs[0][:12], hs[1][:12])
			for _, k := range ks {
				fmt.Fprintf(w, "%s\t%s\t%s\n", k, orDash(flat[0][k]), orDash(flat[1][k]))
			}
			w.Flush()
			var vals [2]map[string]float64
			for i := range hs {
				vals[i] = map[string]float64{}
				r, err := db.DoneRun(hs[i])
				if err != nil {
					continue
				}
				names, _ := db.MetricNames(r.ID)
				for _, n := range names {
					if m, err := db.LastMetric(r.ID, n); err == nil {
						vals[i][n] = m.Value
					}
				}
				trs, _ := db.TaskResults(r.ID)
				for _, t := range trs {
					vals[i][t.Task+"/"+t.Metric] = t.Value
				}
			}
			var ms []string
			for n := range vals[0] {
				if _, ok := vals[1][n]; ok {
					ms = append(ms, n)
				}
			}
			sort.Strings(ms)
			if len(ms) > 0 {
				fmt.Println()
				w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(w, "METRIC (last)\t%s\t%s\tDELTA (b-a)\n", hs[0][:12], hs[1][:12])
				for _, n := range ms {
					fmt.Fprintf(w, "%s\t%.5g\t%.5g\t%+.5g\n", n, vals[0][n], vals[1][n], vals[1][n]-vals[0][n])
				}
				w.Flush()
			}
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) gcCmd() *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete files under <root>/runs that no artifact of this registry references (only in run directories this registry owns and no run is using)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := db.GC(a.root, dry)
			if err != nil {
				return err
			}
			for _, p := range rep.Deleted {
				fmt.Println("unreferenced:", p)
			}
			verb := "deleted"
			if dry {
				verb = "would delete"
			}
			fmt.Printf("%s %d file(s), %.1f MB; kept %d referenced file(s)\n", verb, len(rep.Deleted), float64(rep.Bytes)/1e6, rep.Kept)
			if n := len(rep.NotOwned); n > 0 {
				fmt.Printf("left alone: %d run director(ies) of hashes this registry has no run of (another registry's?)\n", n)
			}
			for _, d := range rep.Busy {
				fmt.Println("left alone (a run of it is in progress):", d)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "list, do not delete")
	return cmd
}

var _ = configs.Presets
