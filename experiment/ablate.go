package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// ArmRun is one (arm, seed) member of an ablation with its outcome.
type ArmRun struct {
	ablations.Member
	Train *train.Result
	Eval  *EvalResult
	// Items holds the eval run's per-document scores as recorded in the
	// registry (nil when it has none). ItemsErr says why they could not be
	// read; the member's task metrics then use the paired t.
	Items    []registry.ItemScores
	ItemsErr error
	Err      error
}

// Metrics returns the member's reported values by metric name: the
// training metrics (val_bpb, val_loss, train_loss) and "task/metric" for
// every task metric.
func (a *ArmRun) Metrics() map[string]float64 {
	out := map[string]float64{}
	if a.Train != nil {
		out["val_bpb"] = a.Train.ValBPB
		out["val_loss"] = a.Train.ValLoss
		out["train_loss"] = a.Train.TrainLoss
	}
	if a.Eval != nil {
		for _, r := range Rows(a.Eval.Results) {
			if strings.HasPrefix(r.Task, "blimp_") {
				continue
			}
			out[r.Task+"/"+r.Metric] = r.Value
		}
	}
	return out
}

// Summary is one (arm, metric) cell of an ablation summary.
type Summary struct {
	Arm, Metric string
	Est         ablations.Estimate
	// Delta compares the arm with the baseline over shared seeds; nil for
	// the baseline itself.
	Delta *ablations.Paired
	// Primary marks the matrix's primary metric; PHolm is Delta.P adjusted
	// (Holm–Bonferroni) within its family: the primary metric's
	// comparisons, or all exploratory ones. MinDetect is the smallest
	// difference these seeds detect with 80% power (NaN if unknown).
	Primary          bool
	PHolm, MinDetect float64
	// Method is how Delta's p (and PHolm) was computed: MethodPairedT, or
	// MethodBootstrap when every shared seed of both arms has per-document
	// samples of a metric that is a mean over documents; Boot then holds
	// the bootstrap's estimate, 95% interval and p. MethodNote says why
	// a task metric fell back to the paired t.
	Method     string
	Boot       *ablations.HierBootstrap
	MethodNote string
	Values     []float64
	Hashes     []string // the training runs behind the values, in seed order
}

// AblationReport is an ablation's members and their summary.
type AblationReport struct {
	Matrix   *ablations.Matrix
	ID       int64
	Members  []*ArmRun
	Summary  []Summary
	Baseline string
	Reused   int    // members that were already done
	DefHash  string // the recorded definition's identity (registry.AblationDef.Hash)
}

// MatrixDef expands m (with extra overrides) under the project root and
// returns its fully resolved definition, without recording anything.
func MatrixDef(root string, m *ablations.Matrix, extra []string) (registry.AblationDef, error) {
	e := &Env{Root: root}
	members, err := m.Expand(extra, e.fingerprinter())
	if err != nil {
		return registry.AblationDef{}, err
	}
	return AblationDef(m, members), nil
}

// AblationDef is the fully resolved definition of an expanded matrix: its
// members' run hashes (which cover base preset, overrides, seeds and data),
// tasks, limit, metrics and baseline.
func AblationDef(m *ablations.Matrix, members []ablations.Member) registry.AblationDef {
	d := registry.AblationDef{Name: m.Name, Baseline: m.Baseline, Metrics: m.Metrics, Tasks: m.Tasks, Limit: m.Limit}
	for _, mb := range members {
		d.Members = append(d.Members, registry.AblationMember{RunHash: mb.Hash, Arm: mb.Arm, Seed: mb.Seed})
	}
	return d
}

// Failed returns the members that did not finish.
func (r *AblationReport) Failed() []*ArmRun {
	var out []*ArmRun
	for _, m := range r.Members {
		if m.Err != nil {
			out = append(out, m)
		}
	}
	return out
}

// Ablate expands a matrix, trains and evaluates every member not yet done
// (resuming interrupted ones from their checkpoints), and summarises the
// results. jobs members run at once, each with Threads/jobs threads. A
// member that fails is recorded as failed; the others still run.
func (e *Env) Ablate(ctx context.Context, m *ablations.Matrix, extra []string, jobs int, progress io.Writer) (*AblationReport, error) {
	members, err := m.Expand(extra, e.fingerprinter())
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": extra})
	rep := &AblationReport{Matrix: m, Baseline: m.BaselineArm()}
	for _, mb := range members {
		if err := e.DB.PutConfig(mb.Hash, mb.Config.Canonical()); err != nil {
			return nil, err
		}
		rep.Members = append(rep.Members, &ArmRun{Member: mb})
	}
	def := AblationDef(m, members)
	if rep.ID, err = e.DB.PutAblation(def, string(spec)); err != nil {
		return nil, err
	}
	rep.DefHash = def.Hash()
	if jobs < 1 {
		jobs = 1
	}
	sub := *e
	sub.Threads = max(1, e.Threads/jobs)
	if jobs > 1 {
		sub.Progress = nil // interleaved bars are unreadable; the matrix line reports progress
	}
	start := time.Now()
	var mu sync.Mutex
	done, ran := 0, 0
	total := len(rep.Members)
	report := func(a *ArmRun, took time.Duration, reused bool) {
		mu.Lock()
		defer mu.Unlock()
		done++
		status := "done"
		switch {
		case a.Err != nil:
			status = "FAILED: " + a.Err.Error()
		case reused:
			status = "reused"
			rep.Reused++
		default:
			ran++
		}
		eta := "-"
		if ran > 0 && done < total {
			per := time.Since(start) / time.Duration(ran)
			eta = (per * time.Duration(total-done) / time.Duration(jobs)).Round(time.Second).String()
		}
		if progress != nil {
			fmt.Fprintf(progress, "[ablate %s] %d/%d arms  %s seed %d (%s) %s in %s  ETA %s\n",
				m.Name, done, total, a.Arm, a.Seed, a.Hash[:12], status, took.Round(time.Second), eta)
		}
	}
	work := make(chan *ArmRun)
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				t0 := time.Now()
				reused := sub.runMember(ctx, m, a)
				report(a, time.Since(t0), reused)
			}
		}()
	}
	for _, a := range rep.Members {
		if ctx.Err() != nil {
			break
		}
		work <- a
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("ablation %s interrupted after %d/%d arms (run it again to resume): %w", m.Name, done, total, err)
	}
	rep.Summary = Summarize(rep.Members, rep.Baseline, m.Seeds, m.PrimaryMetric())
	return rep, nil
}

func (e *Env) runMember(ctx context.Context, m *ablations.Matrix, a *ArmRun) (reused bool) {
	tr, err := e.Train(ctx, a.Config, TrainOptions{Kind: "ablation-arm"})
	if err != nil {
		a.Err = fmt.Errorf("train: %w", err)
		return false
	}
	a.Train = tr
	if len(m.Tasks) > 0 {
		ev, err := e.Evaluate(ctx, EvalRequest{Model: a.Hash, Tasks: m.Tasks, Shots: -1, Limit: m.Limit, LogSamples: true})
		if err != nil {
			a.Err = fmt.Errorf("eval: %w", err)
			return false
		}
		a.Eval = ev
		if len(ev.Samples) > 0 {
			if a.Items, err = LoadItemScores(e.DB, ev.RunID); err != nil {
				a.Items, a.ItemsErr = nil, fmt.Errorf("eval %s: %w", short(ev.Hash), err)
				if e.Progress != nil {
					fmt.Fprintf(e.Progress, "warning: %v; its task metrics are compared with the paired t over seeds\n", a.ItemsErr)
				}
			}
		}
		return tr.Reused && ev.Reused
	}
	return tr.Reused
}

func (e *Env) fingerprinter() configs.Fingerprinter {
	return func(s configs.DataSource) (string, error) { return data.Fingerprint(e.Root, s) }
}

// Summarize computes mean ± 95% CI per arm and metric, and the paired
// comparison with the baseline over the seeds both finished.
func Summarize(members []*ArmRun, baseline string, seeds []int64, primary string) []Summary {
	type key struct{ arm, metric string }
	vals := map[key]map[int64]float64{}
	hashes := map[key]map[int64]string{}
	var arms []string
	seenArm := map[string]bool{}
	metricSet := map[string]bool{}
	runs := map[string]map[int64]*ArmRun{}
	for _, a := range members {
		if !seenArm[a.Arm] {
			seenArm[a.Arm] = true
			arms = append(arms, a.Arm)
			runs[a.Arm] = map[int64]*ArmRun{}
		}
		if a.Err != nil {
			continue
		}
		runs[a.Arm][a.Seed] = a
		for name, v := range a.Metrics() {
			k := key{a.Arm, name}
			if vals[k] == nil {
				vals[k], hashes[k] = map[int64]float64{}, map[int64]string{}
			}
			vals[k][a.Seed] = v
			hashes[k][a.Seed] = a.Hash
			metricSet[name] = true
		}
	}
	metrics := make([]string, 0, len(metricSet))
	for n := range metricSet {
		metrics = append(metrics, n)
	}
	sort.Slice(metrics, func(i, j int) bool { return metricOrder(metrics[i]) < metricOrder(metrics[j]) })
	var out []Summary
	for _, metric := range metrics {
		for _, arm := range arms {
			k := key{arm, metric}
			s := Summary{Arm: arm, Metric: metric}
			var base, mine []float64
			for _, seed := range seeds {
				v, ok := vals[k][seed]
				if !ok {
					continue
				}
				s.Values = append(s.Values, v)
				s.Hashes = append(s.Hashes, hashes[k][seed])
				if b, ok := vals[key{baseline, metric}][seed]; ok {
					base = append(base, b)
					mine = append(mine, v)
				}
			}
			if len(s.Values) == 0 {
				continue
			}
			s.Est = ablations.Mean95(s.Values)
			s.Primary = metric == primary
			s.PHolm, s.MinDetect = math.NaN(), math.NaN()
			if arm != baseline && len(mine) > 0 {
				p := ablations.PairedTest(mine, base)
				s.Delta = &p
				s.MinDetect = ablations.MinDetectable(p.SD, p.Delta.N)
				s.Method = MethodPairedT
				if strings.Contains(metric, "/") {
					s.Boot, s.MethodNote = itemBootstrap(runs[arm], runs[baseline], seeds, metric, arm+"|"+baseline+"|"+metric)
					if s.Boot != nil {
						s.Method = MethodBootstrap
					}
				}
			}
			out = append(out, s)
		}
	}
	// Holm within each family: the primary comparisons, the exploratory ones.
	for _, fam := range []bool{true, false} {
		var idx []int
		var ps []float64
		for i, s := range out {
			if s.Delta != nil && s.Primary == fam {
				idx = append(idx, i)
				ps = append(ps, s.P())
			}
		}
		for j, q := range ablations.Holm(ps) {
			out[idx[j]].PHolm = q
		}
	}
	return out
}

// P is the comparison's unadjusted p-value by its Method (NaN for the
// baseline).
func (s Summary) P() float64 {
	switch {
	case s.Boot != nil:
		return s.Boot.P
	case s.Delta != nil:
		return s.Delta.P
	}
	return math.NaN()
}

// metricOrder puts training metrics first, then tasks alphabetically.
func metricOrder(m string) string {
	switch m {
	case "val_bpb":
		return "0"
	case "val_loss":
		return "1"
	case "train_loss":
		return "2"
	}
	return "3" + m
}

// FormatCI renders "mean ± ci" (or just the mean with one seed).
func FormatCI(e ablations.Estimate) string {
	if math.IsNaN(e.CI95) {
		return fmt.Sprintf("%.4f", e.Mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", e.Mean, e.CI95)
}
