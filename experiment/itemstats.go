package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/tasks"
)

// How a comparison in an ablation summary was tested.
const (
	// MethodPairedT is the paired t-test over seeds (one number per seed).
	MethodPairedT = "paired t"
	// MethodBootstrap is the hierarchical bootstrap over seeds and items
	// (ablations.HierarchicalBootstrap) on the per-document samples.
	MethodBootstrap = "hierarchical bootstrap"
)

// LoadItemScores reads the per-document scores recorded in the registry
// for an eval run (none for a run recorded without them). They live in
// the registry itself, not only in the run's samples files, so the
// paired comparisons over documents are the same on every clone.
func LoadItemScores(db *registry.DB, runID int64) ([]registry.ItemScores, error) {
	return db.ItemScores(runID)
}

// ItemScoresOf turns a task's logged samples into the registry's
// per-document columns: one per (filter, metric) that every document has
// with a finite value, in doc_id order, with the digest of the documents
// (their ids and content hashes, in order) that pairs two runs' columns.
func ItemScoresOf(task string, ss []tasks.LoggedSample) []registry.ItemScores {
	type col struct{ filter, metric string }
	byFilter := map[string][]tasks.LoggedSample{}
	for _, s := range ss {
		byFilter[s.Filter] = append(byFilter[s.Filter], s)
	}
	var out []registry.ItemScores
	for _, filter := range slices.Sorted(maps.Keys(byFilter)) {
		rows := byFilter[filter]
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].DocID < rows[j].DocID })
		h := sha256.New()
		for _, r := range rows {
			fmt.Fprintf(h, "%d:%s\n", r.DocID, r.DocHash)
		}
		digest := hex.EncodeToString(h.Sum(nil))
		metrics := map[string]bool{}
		for _, r := range rows {
			for m := range r.Values {
				metrics[m] = true
			}
		}
	metric:
		for _, m := range slices.Sorted(maps.Keys(metrics)) {
			vals := make([]float64, len(rows))
			for i, r := range rows {
				v, ok := r.Values[m]
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					continue metric
				}
				vals[i] = v
			}
			out = append(out, registry.ItemScores{Task: task, Filter: filter, Metric: m, DocDigest: digest, Values: vals})
		}
	}
	return out
}

// itemColumn finds a recorded column of per-document scores.
func (a *ArmRun) itemColumn(task, filter, metric string) (registry.ItemScores, bool) {
	for _, it := range a.Items {
		if it.Task == task && it.Filter == filter && it.Metric == metric {
			return it, true
		}
	}
	return registry.ItemScores{}, false
}

// itemStrata returns one seed's per-document values of a "task/metric"
// key (metric "name" or "name,filter"): one stratum per task, or per
// subtask of a group, documents in doc_id order, with each stratum's
// document digest.
// ok is false when the run has no samples for it, or when the reported
// value is not the (group: unweighted) mean of the document values, as
// for perplexities and bits per byte, whose items are log-likelihoods.
func (a *ArmRun) itemStrata(key string) (vals [][]float64, hashes []string, ok bool) {
	if a.Items == nil || a.Eval == nil || a.Eval.Results == nil {
		return nil, nil, false
	}
	task, metric, found := strings.Cut(key, "/")
	if !found {
		return nil, nil, false
	}
	name, filter, hasFilter := strings.Cut(metric, ",")
	if !hasFilter {
		filter = "none"
	}
	reported, ok := a.Metrics()[key]
	if !ok {
		return nil, nil, false
	}
	subtasks := []string{task}
	if subs := a.Eval.Results.GroupSubtasks[task]; len(subs) > 0 {
		subtasks = subs
	}
	mean := 0.0
	for _, t := range subtasks {
		it, ok := a.itemColumn(t, filter, name)
		if !ok {
			return nil, nil, false
		}
		m := 0.0
		for _, x := range it.Values {
			m += x
		}
		mean += m / float64(len(it.Values))
		vals, hashes = append(vals, it.Values), append(hashes, it.DocDigest)
	}
	mean /= float64(len(subtasks))
	if math.Abs(mean-reported) > 1e-9*math.Max(1, math.Abs(reported)) {
		return nil, nil, false
	}
	return vals, hashes, true
}

// itemBootstrap compares arm with base over the seeds both finished with
// the hierarchical bootstrap on the per-document differences of key. It
// returns nil, with the reason, when some seed lacks samples, the metric
// is not a mean over documents, or the two arms' documents differ.
func itemBootstrap(arm, base map[int64]*ArmRun, seeds []int64, key, label string) (*ablations.HierBootstrap, string) {
	var d [][][]float64
	for _, s := range seeds {
		a, b := arm[s], base[s]
		if a == nil || b == nil {
			continue
		}
		for _, r := range []*ArmRun{a, b} {
			if r.ItemsErr != nil {
				return nil, "samples unusable: " + r.ItemsErr.Error()
			}
		}
		av, ah, okA := a.itemStrata(key)
		bv, bh, okB := b.itemStrata(key)
		if !okA || !okB {
			return nil, "no per-document samples"
		}
		if len(av) != len(bv) {
			return nil, "the arms' tasks differ"
		}
		diff := make([][]float64, len(av))
		for k := range av {
			if len(av[k]) != len(bv[k]) || ah[k] != bh[k] {
				return nil, "the arms scored different documents"
			}
			diff[k] = make([]float64, len(av[k]))
			for i := range av[k] {
				diff[k][i] = av[k][i] - bv[k][i]
			}
		}
		d = append(d, diff)
	}
	if len(d) == 0 {
		return nil, "no shared seeds"
	}
	h := fnv.New64a()
	h.Write([]byte(label))
	res, err := ablations.HierarchicalBootstrap(d, ablations.DefaultBootstrapDraws, int64(h.Sum64()>>1), runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err.Error()
	}
	return &res, ""
}
