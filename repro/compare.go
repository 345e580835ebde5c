package repro

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// timingMetrics are series that measure wall-clock speed: they are listed
// in the report but never compared.
var timingMetrics = []string{"tokens_per_sec"}

func isTimingMetric(name string) bool {
	return slices.Contains(timingMetrics, name) || strings.HasSuffix(name, "_per_sec") || strings.HasSuffix(name, "_seconds")
}

// sameFloat is bit-exact equality, with every NaN equal to every NaN (the
// registry stores NaN as NULL, so payloads do not survive anyway).
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

const missing = "missing"

// compareSeries compares two series of one metric step by step; both are in
// ascending step order.
func compareSeries(name string, rec, rep []registry.Metric) Check {
	c := Check{Name: "metric " + name, Status: Identical}
	if isTimingMetric(name) {
		c.Status, c.Note, c.Compared = Skipped, "wall-clock timing, not deterministic", max(len(rec), len(rep))
		return c
	}
	diverge := func(step int64, a, b string) {
		if c.First == nil {
			c.Status = Differs
			c.First = &Divergence{Check: c.Name, Metric: name, Step: step, Recorded: a, Reproduced: b}
		}
	}
	i, j := 0, 0
	for i < len(rec) || j < len(rep) {
		c.Compared++
		switch {
		case j >= len(rep) || (i < len(rec) && rec[i].Step < rep[j].Step):
			diverge(rec[i].Step, formatFloat(rec[i].Value), missing)
			i++
		case i >= len(rec) || rep[j].Step < rec[i].Step:
			diverge(rep[j].Step, missing, formatFloat(rep[j].Value))
			j++
		default:
			if !sameFloat(rec[i].Value, rep[j].Value) {
				diverge(rec[i].Step, formatFloat(rec[i].Value), formatFloat(rep[j].Value))
			}
			i++
			j++
		}
	}
	return c
}

// compareMetrics compares every series either run logged, in name order.
func compareMetrics(recDB *registry.DB, recID int64, repDB *registry.DB, repID int64) ([]Check, error) {
	recNames, err := recDB.MetricNames(recID)
	if err != nil {
		return nil, err
	}
	repNames, err := repDB.MetricNames(repID)
	if err != nil {
		return nil, err
	}
	names := append(slices.Clone(recNames), repNames...)
	slices.Sort(names)
	names = slices.Compact(names)
	var checks []Check
	for _, n := range names {
		rec, err := recDB.Metrics(recID, n)
		if err != nil {
			return nil, err
		}
		rep, err := repDB.Metrics(repID, n)
		if err != nil {
			return nil, err
		}
		checks = append(checks, compareSeries(n, rec, rep))
	}
	return checks, nil
}

// valueCheck compares one final value.
func valueCheck(name, metric, rec, rep string) Check {
	c := Check{Name: name, Compared: 1, Status: Identical}
	if rec != rep {
		c.Status = Differs
		c.First = &Divergence{Check: name, Metric: metric, Step: -1, Recorded: rec, Reproduced: rep}
	}
	return c
}

// compareSummaries compares the final checkpoint and the final numbers of
// two training results; tokens/s and paths are not compared.
func compareSummaries(rec, rep *train.Result) []Check {
	checks := []Check{valueCheck("checkpoint sha256", "checkpoint_sha256", rec.CheckpointSHA, rep.CheckpointSHA)}
	ints := []struct {
		name   string
		ra, rb int64
	}{{"steps", rec.Steps, rep.Steps}, {"tokens", rec.Tokens, rep.Tokens}}
	for _, f := range ints {
		checks = append(checks, valueCheck("summary "+f.name, f.name, strconv.FormatInt(f.ra, 10), strconv.FormatInt(f.rb, 10)))
	}
	floats := []struct {
		name   string
		ra, rb float64
	}{{"train_loss", rec.TrainLoss, rep.TrainLoss}, {"val_loss", rec.ValLoss, rep.ValLoss}, {"val_bpb", rec.ValBPB, rep.ValBPB}}
	for _, f := range floats {
		c := valueCheck("summary "+f.name, f.name, formatFloat(f.ra), formatFloat(f.rb))
		if sameFloat(f.ra, f.rb) { // NaN == NaN
			c.Status, c.First = Identical, nil
		}
		checks = append(checks, c)
	}
	samples := Check{Name: "summary samples", Compared: max(len(rec.Samples), len(rep.Samples)), Status: Identical}
	for i := 0; i < samples.Compared; i++ {
		a, b := missing, missing
		if i < len(rec.Samples) {
			a = strconv.Quote(rec.Samples[i])
		}
		if i < len(rep.Samples) {
			b = strconv.Quote(rep.Samples[i])
		}
		if a != b {
			samples.Status = Differs
			samples.First = &Divergence{Check: samples.Name, Metric: fmt.Sprintf("samples[%d]", i), Step: -1, Recorded: a, Reproduced: b}
			break
		}
	}
	return append(checks, samples)
}

// compareTaskResults compares the rows of one eval run: value, standard
// error and sample count of each task metric, bit for bit.
func compareTaskResults(evalHash string, rec, rep []registry.TaskResult) []Check {
	type key struct{ task, metric string }
	byKey := map[key][2]*registry.TaskResult{}
	var keys []key
	for i := range rec {
		k := key{rec[i].Task, rec[i].Metric}
		p := byKey[k]
		p[0] = &rec[i]
		byKey[k] = p
		keys = append(keys, k)
	}
	for i := range rep {
		k := key{rep[i].Task, rep[i].Metric}
		p := byKey[k]
		if p[0] == nil && p[1] == nil {
			keys = append(keys, k)
		}
		p[1] = &rep[i]
		byKey[k] = p
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.task, b.task); c != 0 {
			return c
		}
		return strings.Compare(a.metric, b.metric)
	})
	keys = slices.Compact(keys)
	text := func(r *registry.TaskResult) string {
		if r == nil {
			return missing
		}
		return fmt.Sprintf("%s ± %s (n=%d)", formatFloat(r.Value), formatFloat(r.Stderr), r.N)
	}
	var checks []Check
	for _, k := range keys {
		p := byKey[k]
		name := fmt.Sprintf("task %s %s [eval %s]", k.task, k.metric, short(evalHash))
		c := Check{Name: name, Compared: 1, Status: Identical}
		a, b := p[0], p[1]
		if a == nil || b == nil || !sameFloat(a.Value, b.Value) || !sameFloat(a.Stderr, b.Stderr) || a.N != b.N {
			c.Status = Differs
			c.First = &Divergence{Check: name, Metric: k.task + "/" + k.metric, Step: -1, Recorded: text(a), Reproduced: text(b)}
		}
		checks = append(checks, c)
	}
	return checks
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
