package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"runtime"
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

// LoadItemScores reads the per-document logs recorded for an eval run
// (artifacts of kind SamplesArtifact), checking each file against its
// recorded sha256 and size, and returns each task's records.
func LoadItemScores(db *registry.DB, root string, runID int64) (map[string][]tasks.LoggedSample, error) {
	arts, err := db.Artifacts(runID)
	if err != nil {
		return nil, err
	}
	out := map[string][]tasks.LoggedSample{}
	for _, a := range arts {
		if a.Kind != SamplesArtifact {
			continue
		}
		p := a.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("samples of eval run %d: %w", runID, err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != a.SHA256 || int64(len(b)) != a.Bytes {
			return nil, fmt.Errorf("samples file %s: sha256 %s (%d bytes), recorded %s (%d bytes): the file changed after the run", a.Path, short(got), len(b), short(a.SHA256), a.Bytes)
		}
		ss, err := tasks.ParseSamples(b)
		if err != nil {
			return nil, fmt.Errorf("samples file %s: %w", a.Path, err)
		}
		t := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(a.Path), "samples_"), ".jsonl")
		out[t] = ss
	}
	return out, nil
}

// itemStrata returns one seed's per-document values of a "task/metric"
// key (metric "name" or "name,filter"): one stratum per task, or per
// subtask of a group, documents in doc_id order, with their doc hashes.
// ok is false when the run has no samples for it, or when the reported
// value is not the (group: unweighted) mean of the document values, as
// for perplexities and bits per byte, whose items are log-likelihoods.
func (a *ArmRun) itemStrata(key string) (vals [][]float64, hashes [][]string, ok bool) {
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
		var rows []tasks.LoggedSample
		for _, s := range a.Items[t] {
			if s.Filter == filter {
				rows = append(rows, s)
			}
		}
		if len(rows) == 0 {
			return nil, nil, false
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].DocID < rows[j].DocID })
		v := make([]float64, len(rows))
		h := make([]string, len(rows))
		m := 0.0
		for i, r := range rows {
			x, ok := r.Values[name]
			if !ok {
				return nil, nil, false
			}
			v[i], h[i] = x, r.DocHash
			m += x
		}
		mean += m / float64(len(v))
		vals, hashes = append(vals, v), append(hashes, h)
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
			if len(av[k]) != len(bv[k]) {
				return nil, "the arms scored different documents"
			}
			diff[k] = make([]float64, len(av[k]))
			for i := range av[k] {
				if ah[k][i] != bh[k][i] {
					return nil, "the arms scored different documents"
				}
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
