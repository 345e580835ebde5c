package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
	var asJSON, asCSV bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List recorded runs (hash, kind, status, key metrics, age); --json / --csv for other tools",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(asJSON, asCSV)
			if err != nil {
				return err
			}
			if f.Limit < 0 {
				return fmt.Errorf("--limit %d: want >= 0 (0 = all)", f.Limit)
			}
			conds, err := parseWhere(where)
			if err != nil {
				return err
			}
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
			// The config filter applies before the limit.
			limit := f.Limit
			all := f
			all.Limit = 0
			if len(conds) == 0 {
				all.Limit = limit
			}
			runs, err := db.Runs(all)
			if err != nil {
				return err
			}
			if len(conds) > 0 {
				if runs, err = filterWhere(db, runs, conds); err != nil {
					return err
				}
				if limit > 0 && len(runs) > limit {
					runs = runs[:limit]
				}
			}
			t := &table{header: []string{"hash", "attempt", "kind", "status", "name", "val_bpb", "val_loss", "age"}}
			for _, r := range runs {
				s := summaryOf(r)
				h := r.Hash[:12]
				created := age(r.Created)
				if format != "text" {
					h, created = r.Hash, r.Created.Format(time.RFC3339)
				}
				t.add(h, r.Attempt, r.Kind, r.Status, r.Name, s["val_bpb"], s["val_loss"], created)
			}
			return t.write(os.Stdout, format)
		},
	}
	cmd.Flags().StringVar(&f.Status, "status", "", "only runs with this status (queued, running, done, failed, pruned)")
	cmd.Flags().StringVar(&f.Kind, "kind", "", "only runs of this kind (train, eval, hpo-trial, ablation-arm, bench)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs, after the filters (0 = all)")
	cmd.Flags().StringArrayVar(&where, "where", nil, "only runs whose config has key=value, e.g. --where quant.subln=false (repeatable)")
	cmd.Flags().DurationVar(&markStale, "mark-stale", 0, "first mark runs still 'running' without a heartbeat for this long as failed (e.g. 10m)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (full hashes, RFC 3339 times)")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV (full hashes, RFC 3339 times)")
	return cmd
}

func summaryOf(r registry.Run) map[string]any {
	m := map[string]any{}
	if r.SummaryJSON != "" {
		_ = json.Unmarshal([]byte(r.SummaryJSON), &m)
	}
	return m
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
func flatConfig(js string) (map[string]string, error) { return configs.Flatten(js) }

type whereCond struct{ key, value, text string }

func parseWhere(where []string) ([]whereCond, error) {
	var out []whereCond
	for _, w := range where {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--where %q: want key=value, e.g. quant.subln=false", w)
		}
		out = append(out, whereCond{k, v, w})
	}
	return out, nil
}

// filterWhere keeps the runs whose stored config has every key=value. A
// run whose config lacks a key (an eval or bench run) does not match; a
// key that no config has at all is an error naming the keys that exist.
func filterWhere(db *registry.DB, runs []registry.Run, conds []whereCond) ([]registry.Run, error) {
	seen := map[string]bool{}
	known := map[string]bool{}
	flats := map[string]map[string]string{}
	var out []registry.Run
	for _, r := range runs {
		flat, ok := flats[r.Hash]
		if !ok {
			if js, err := db.Config(r.Hash); err == nil {
				if flat, err = flatConfig(js); err != nil {
					return nil, err
				}
			}
			flats[r.Hash] = flat
		}
		match := flat != nil
		for _, c := range conds {
			got, present := flat[c.key]
			if present {
				seen[c.key] = true
			}
			if !present || strings.Trim(got, `"`) != c.value {
				match = false
			}
		}
		for k := range flat {
			known[k] = true
		}
		if match {
			out = append(out, r)
		}
	}
	for _, c := range conds {
		if !seen[c.key] && len(known) > 0 {
			var ks []string
			for k := range known {
				if strings.HasPrefix(k, strings.SplitN(c.key, ".", 2)[0]+".") {
					ks = append(ks, k)
				}
			}
			sort.Strings(ks)
			hint := ""
			if len(ks) > 0 {
				hint = " (keys of that section: " + strings.Join(ks, ", ") + ")"
			}
			return nil, fmt.Errorf("--where %q: no recorded config has the key %q%s", c.text, c.key, hint)
		}
	}
	return out, nil
}

// showAttempt is one attempt of a run as `show --json` prints it.
type showAttempt struct {
	registry.Run
	Summary   json.RawMessage       `json:"summary,omitempty"`
	Metrics   map[string]float64    `json:"final_metrics"`
	Tasks     []registry.TaskResult `json:"task_results"`
	Artifacts []registry.Artifact   `json:"artifacts"`
}

func (a *app) showCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <hash>",
		Short: "Summarise a run: config hash, attempts, environment, final metrics, eval table, artifacts (--json: everything, raw)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, h, err := a.openResolvedRO(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			var config json.RawMessage
			if js, err := db.Config(h); err == nil {
				config = json.RawMessage(js)
			}
			runs, err := db.Runs(registry.RunFilter{})
			if err != nil {
				return err
			}
			var atts []showAttempt
			for i := len(runs) - 1; i >= 0; i-- { // oldest attempt first
				r := runs[i]
				if r.Hash != h {
					continue
				}
				sa := showAttempt{Run: r, Metrics: map[string]float64{}}
				if r.SummaryJSON != "" {
					sa.Summary = json.RawMessage(r.SummaryJSON)
				}
				sa.SummaryJSON = ""
				names, _ := db.MetricNames(r.ID)
				for _, n := range names {
					if m, err := db.LastMetric(r.ID, n); err == nil {
						sa.Metrics[n] = m.Value
					}
				}
				sa.Tasks, _ = db.TaskResults(r.ID)
				sa.Artifacts, _ = db.Artifacts(r.ID)
				atts = append(atts, sa)
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"hash": h, "config": config, "attempts": atts})
			}
			fmt.Println("hash:", h)
			if config != nil {
				fmt.Printf("config: %d bytes of canonical JSON (`harness show %s --json` prints it; `harness config` resolves presets)\n", len(config), h[:12])
			}
			if len(atts) == 0 {
				fmt.Println("no runs recorded for this hash")
			}
			for _, r := range atts {
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
				if r.ParentHash != "" {
					fmt.Printf("  parent %s\n", r.ParentHash)
				}
				if r.Error != "" {
					fmt.Printf("  error: %s\n", r.Error)
				}
				if len(r.Metrics) > 0 {
					mt := &table{header: []string{"  metric", "last value"}}
					for _, n := range sortedMetricNames(r.Metrics) {
						mt.add("  "+n, r.Metrics[n])
					}
					mt.write(os.Stdout, "text")
				}
				if len(r.Tasks) > 0 {
					tt := &table{header: []string{"  task", "metric", "value", "stderr", "n"}}
					hidden := 0
					for _, x := range r.Tasks {
						if strings.HasPrefix(x.Task, "blimp_") {
							hidden++ // the group line summarises the paradigms
							continue
						}
						tt.add("  "+x.Task, x.Metric, x.Value, x.Stderr, x.N)
					}
					tt.write(os.Stdout, "text")
					if hidden > 0 {
						fmt.Printf("  (%d BLiMP paradigm rows in --json)\n", hidden)
					}
				}
				for _, ar := range r.Artifacts {
					fmt.Printf("  artifact %-10s %s sha256 %s %d bytes\n", ar.Kind, ar.Path, ar.SHA256[:16], ar.Bytes)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the config, every attempt, its summary, final metrics, task results and artifacts as JSON")
	return cmd
}

func sortedMetricNames(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metricsCmd exports metric series for other tools.
func (a *app) metricsCmd() *cobra.Command {
	var asJSON, asCSV bool
	var names []string
	cmd := &cobra.Command{
		Use:   "metrics <hash>...",
		Short: "Export the metric series of runs (every attempt), long form: hash, attempt, metric, step, value",
		Args:  cobra.MinimumNArgs(1),
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
			runs, err := db.Runs(registry.RunFilter{})
			if err != nil {
				return err
			}
			t := &table{header: []string{"hash", "attempt", "metric", "step", "value"}}
			for _, arg := range args {
				h, err := resolve(db, arg)
				if err != nil {
					return err
				}
				for i := len(runs) - 1; i >= 0; i-- {
					r := runs[i]
					if r.Hash != h {
						continue
					}
					have, err := db.MetricNames(r.ID)
					if err != nil {
						return err
					}
					ns := names
					if len(ns) == 0 {
						ns = have
					}
					for _, n := range names {
						if !slices.Contains(have, n) {
							return fmt.Errorf("--metric %q: run %s attempt %d has no such series (it has: %s)", n, h[:12], r.Attempt, strings.Join(have, ", "))
						}
					}
					for _, n := range ns {
						ms, err := db.Metrics(r.ID, n)
						if err != nil {
							return err
						}
						for _, m := range ms {
							t.add(h, r.Attempt, n, m.Step, m.Value)
						}
					}
				}
			}
			return t.write(os.Stdout, format)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	cmd.Flags().StringSliceVar(&names, "metric", nil, "only these metrics (repeatable or comma-separated)")
	return cmd
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func (a *app) diffCmd() *cobra.Command {
	var asJSON, asCSV bool
	cmd := &cobra.Command{
		Use:   "diff <hash-a> <hash-b>",
		Short: "Config keys that differ between two runs, and their metric deltas (--json / --csv: one table of both)",
		Args:  cobra.ExactArgs(2),
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
			if format == "text" {
				w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(w, "KEY\t%s\t%s\n", hs[0][:12], hs[1][:12])
				for _, k := range ks {
					fmt.Fprintf(w, "%s\t%s\t%s\n", k, orDash(flat[0][k]), orDash(flat[1][k]))
				}
				w.Flush()
			}
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
			if format != "text" {
				t := &table{header: []string{"kind", "name", "a", "b", "delta"}}
				for _, k := range ks {
					t.add("config", k, flat[0][k], flat[1][k], nil)
				}
				for _, n := range ms {
					t.add("metric", n, vals[0][n], vals[1][n], vals[1][n]-vals[0][n])
				}
				return t.write(os.Stdout, format)
			}
			if len(ms) > 0 {
				fmt.Println()
				w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(w, "METRIC (last)\t%s\t%s\tDELTA (b-a)\n", hs[0][:12], hs[1][:12])
				for _, n := range ms {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n, sig(vals[0][n]), sig(vals[1][n]), sig(vals[1][n]-vals[0][n]))
				}
				w.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	return cmd
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
