package experiment

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/tasks"
)

func boot(t *testing.T, d [][][]float64, threads int) ablations.HierBootstrap {
	t.Helper()
	r, err := ablations.HierarchicalBootstrap(d, ablations.DefaultBootstrapDraws, 7, threads)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Constant differences leave nothing to resample: a zero-width interval
// at the constant and p = 0; all-zero differences give p = 1.
func TestHierarchicalBootstrapConstant(t *testing.T) {
	d := [][][]float64{{{0.25, 0.25, 0.25}}, {{0.25, 0.25}}, {{0.25, 0.25, 0.25, 0.25}}}
	r := boot(t, d, 2)
	if r.Mean != 0.25 || r.Lo != 0.25 || r.Hi != 0.25 || r.P != 0 || r.Seeds != 3 || r.Draws != 10000 {
		t.Errorf("constant 0.25: %+v, want mean = lo = hi = 0.25, p = 0", r)
	}
	z := boot(t, [][][]float64{{{0, 0}}, {{0, 0}}}, 2)
	if z.Mean != 0 || z.Lo != 0 || z.Hi != 0 || z.P != 1 {
		t.Errorf("all zero: %+v, want a zero interval and p = 1", z)
	}
}

// Three seeds whose items are constant within the seed (0, 1, 2): item
// resampling changes nothing, so each draw is the mean of three uniform
// picks from {0, 1, 2}; sums 0…6 have probabilities 1, 3, 6, 7, 6, 3, 1
// over 27. The 2.5% and 97.5% quantiles are then 0 and 2 exactly (each end
// holds 1/27 > 2.5%), and p = 2·P(draw ≤ 0) = 2/27.
func TestHierarchicalBootstrapThreeSeedsAnalytic(t *testing.T) {
	d := [][][]float64{{{0, 0, 0, 0}}, {{1, 1, 1}}, {{2, 2, 2, 2, 2}}}
	r := boot(t, d, 2)
	if r.Mean != 1 || r.Lo != 0 || r.Hi != 2 {
		t.Errorf("mean %v interval [%v, %v], want 1 [0, 2]", r.Mean, r.Lo, r.Hi)
	}
	// Binomial Monte-Carlo error of the share: sqrt(p(1−p)/10000) ≈ 0.0019,
	// doubled in p; allow four of them.
	if want := 2.0 / 27; math.Abs(r.P-want) > 4*2*math.Sqrt((1.0/27)*(26.0/27)/10000) {
		t.Errorf("p = %v, want %v", r.P, want)
	}
}

// One seed, one stratum: the draws are bootstrap means of n items, whose
// spread is σ/√n with σ² the plug-in (1/n) variance; the interval is about
// mean ± 1.96·σ/√n. Two seeds whose items differ by a constant add the
// seed level, whose mixture gives the interval's ends in closed form.
func TestHierarchicalBootstrapVariance(t *testing.T) {
	const n = 400
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i%2) + 0.001*float64(i%7) // about half 0, half 1
	}
	mean, v := meanVar(xs)
	r := boot(t, [][][]float64{{xs}}, 3)
	half := 1.959964 * math.Sqrt(v/n)
	if math.Abs(r.Mean-mean) > 1e-12 || math.Abs((r.Hi-r.Lo)/2-half) > 0.05*half || math.Abs((r.Hi+r.Lo)/2-mean) > 0.1*half {
		t.Errorf("one seed: %+v, want %v ± %v", r, mean, half)
	}
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = xs[i] + 0.3
	}
	m2, v2 := meanVar(ys)
	r2 := boot(t, [][][]float64{{xs}, {ys}}, 2)
	// Each draw picks the seeds (x,x), (x,y), (y,x) or (y,y) with chance
	// 1/4, then averages two independent item means (variance v/n each).
	// The (x,x) draws, normal with mean m and variance v/(2n), hold the
	// lowest 25%, so the 2.5% quantile is their 10% quantile; likewise the
	// 97.5% quantile is the 90% quantile of the (y,y) draws (the mixed
	// draws lie 0.15 away, about 8 standard deviations).
	lo := mean - 1.281552*math.Sqrt(v/(2*n))
	hi := m2 + 1.281552*math.Sqrt(v2/(2*n))
	if math.Abs(r2.Mean-(mean+m2)/2) > 1e-12 || math.Abs(r2.Lo-lo) > 0.003 || math.Abs(r2.Hi-hi) > 0.003 {
		t.Errorf("two seeds: %+v, want interval [%v, %v]", r2, lo, hi)
	}
}

func meanVar(xs []float64) (float64, float64) {
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, v / float64(len(xs))
}

// The draws come from counter-based streams: any thread count gives the
// same result; strata are averaged unweighted, as a group averages its
// subtasks.
func TestHierarchicalBootstrapThreadsAndStrata(t *testing.T) {
	d := [][][]float64{{{1, 0, 1, 1}, {0, 0}}, {{1, 1, 0, 0}, {1, -1}}, {{0, 1, 1, 1}, {0, 1}}}
	a, b := boot(t, d, 1), boot(t, d, 5)
	if a != b {
		t.Errorf("1 thread %+v, 5 threads %+v", a, b)
	}
	want := ((0.75+0)/2 + (0.5+0)/2 + (0.75+0.5)/2) / 3
	if math.Abs(a.Mean-want) > 1e-15 || a.Items != 6 {
		t.Errorf("mean %v (items %d), want %v (6)", a.Mean, a.Items, want)
	}
}

func TestHierarchicalBootstrapErrors(t *testing.T) {
	for name, d := range map[string][][][]float64{
		"no seeds":      nil,
		"no strata":     {{}},
		"strata differ": {{{1}}, {{1}, {2}}},
		"empty stratum": {{{1}, {}}},
		"NaN":           {{{1, math.NaN()}}},
	} {
		if _, err := ablations.HierarchicalBootstrap(d, 100, 1, 1); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ablations.HierarchicalBootstrap([][][]float64{{{1}}}, 0, 1, 1); err == nil {
		t.Error("0 draws accepted")
	}
}

// fakeMember is an (arm, seed) member with a piqa acc and perplexity-like
// lambada value, and, when items is not nil, per-document samples.
func fakeMember(arm string, seed int64, acc []float64, withItems bool) *ArmRun {
	mean := 0.0
	var ss []tasks.LoggedSample
	for i, v := range acc {
		mean += v
		ss = append(ss, tasks.LoggedSample{DocID: i, DocHash: strings.Repeat("ab", 32) + string(rune('a'+i)), Filter: "none",
			Values: map[string]float64{"acc": v}})
	}
	mean /= float64(len(acc))
	res := &tasks.Results{
		Results:       map[string]map[string]any{"piqa": {"acc,none": mean, "acc_stderr,none": 0.1}, "lambada_openai": {"perplexity,none": 100 + mean}},
		GroupSubtasks: map[string][]string{"piqa": {}, "lambada_openai": {}},
		NSamples:      map[string]tasks.SampleCount{"piqa": {Original: 10, Effective: len(acc)}},
	}
	a := &ArmRun{Eval: &EvalResult{Results: res}}
	a.Arm, a.Seed, a.Hash = arm, seed, arm+string(rune('0'+seed))+strings.Repeat("0", 60)
	if withItems {
		a.Items = append(ItemScoresOf("piqa", ss), ItemScoresOf("lambada_openai", []tasks.LoggedSample{{DocID: 0, DocHash: "x", Filter: "none", Values: map[string]float64{"perplexity": -3}}})...)
	}
	return a
}

// Summarize uses the hierarchical bootstrap for a task metric when every
// shared seed of both arms has samples, and the paired t otherwise (with
// the reason); metrics that are not means over documents never use it.
func TestSummarizeItemLevel(t *testing.T) {
	base := [][]float64{{1, 0, 1, 0, 1, 1}, {0, 0, 1, 1, 1, 0}, {1, 1, 1, 0, 0, 0}}
	arm := [][]float64{{1, 1, 1, 0, 1, 1}, {1, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}}
	var members []*ArmRun
	for s := range base {
		members = append(members, fakeMember("a", int64(s+1), base[s], true), fakeMember("b", int64(s+1), arm[s], true))
	}
	find := func(out []Summary, metric string) Summary {
		for _, s := range out {
			if s.Arm == "b" && s.Metric == metric {
				return s
			}
		}
		t.Fatalf("no row b %s", metric)
		return Summary{}
	}
	out := Summarize(members, "a", []int64{1, 2, 3}, "piqa/acc")
	s := find(out, "piqa/acc")
	if s.Method != MethodBootstrap || s.Boot == nil || s.Boot.Seeds != 3 || s.Boot.Items != 6 {
		t.Fatalf("piqa/acc: method %q boot %+v note %q", s.Method, s.Boot, s.MethodNote)
	}
	if math.Abs(s.Boot.Mean-s.Delta.Delta.Mean) > 1e-12 || s.PHolm != s.Boot.P || !(s.Boot.Lo <= s.Boot.Mean && s.Boot.Mean <= s.Boot.Hi) {
		t.Errorf("bootstrap %+v vs paired mean %v, Holm p %v", s.Boot, s.Delta.Delta.Mean, s.PHolm)
	}
	if l := find(out, "lambada_openai/perplexity"); l.Method != MethodPairedT || l.Boot != nil {
		t.Errorf("perplexity compared by %q", l.Method)
	}
	members[5].ItemsErr = errors.New("item scores unreadable")
	s = find(Summarize(members, "a", []int64{1, 2, 3}, "piqa/acc"), "piqa/acc")
	if s.Method != MethodPairedT || !strings.Contains(s.MethodNote, "item scores unreadable") {
		t.Errorf("with unusable samples: method %q note %q", s.Method, s.MethodNote)
	}
	members[5].ItemsErr = nil
	members[5].Items = nil // seed 3 of arm b has no samples
	s = find(Summarize(members, "a", []int64{1, 2, 3}, "piqa/acc"), "piqa/acc")
	if s.Method != MethodPairedT || s.Boot != nil || s.MethodNote == "" || s.PHolm != s.Delta.P {
		t.Errorf("without all samples: method %q note %q", s.Method, s.MethodNote)
	}
}

// An eval run with LogSamples records each task's samples as artifacts
// (sha256 checked on load) without changing its hash or results; a done
// run is reused with or without them, and RequireSamples evaluates a done
// run without samples again as a new attempt with the same results.
func TestEvalLogSamples(t *testing.T) {
	root := testRoot(t)
	lm, _, id, err := LoadLlama2C(filepath.Join(root, "datasets/llama2c/stories260K.bin"), filepath.Join(root, "datasets/llama2c/tok512.bin"), 2)
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := &Env{Root: root, DB: db, Threads: 2}
	req := EvalRequest{Model: id, Tasks: []string{"copa", "blimp_anaphor_gender_agreement"}, Shots: -1, Limit: 5}
	h, _ := req.Hash()
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, "runs", h)) })
	plain, err := env.EvaluateWith(context.Background(), req, lm)
	if err != nil || len(plain.Samples) != 0 {
		t.Fatalf("plain eval: %+v, %v", plain, err)
	}
	withLog := req
	withLog.LogSamples = true
	if h2, _ := withLog.Hash(); h2 != h {
		t.Fatalf("LogSamples changed the hash: %s vs %s", h2, h)
	}
	again, err := env.EvaluateWith(context.Background(), withLog, lm)
	if err != nil || !again.Reused || again.RunID != plain.RunID {
		t.Fatalf("LogSamples without RequireSamples should reuse the done run: %+v, %v", again, err)
	}
	withLog.RequireSamples = true
	rerun, err := env.EvaluateWith(context.Background(), withLog, lm)
	if err != nil || rerun.Reused || rerun.RunID == plain.RunID || len(rerun.Samples) != 2 {
		t.Fatalf("RequireSamples: %+v, %v", rerun, err)
	}
	if a, b := Rows(plain.Results), Rows(rerun.Results); len(a) != len(b) {
		t.Fatal("rows differ")
	} else {
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("row %d: %+v then %+v", i, a[i], b[i])
			}
		}
	}
	items, err := LoadItemScores(db, rerun.RunID)
	if err != nil {
		t.Fatal(err)
	}
	col := func(task, metric string) registry.ItemScores {
		for _, it := range items {
			if it.Task == task && it.Filter == "none" && it.Metric == metric {
				return it
			}
		}
		t.Fatalf("no item scores %s/%s in %d columns", task, metric, len(items))
		return registry.ItemScores{}
	}
	copa := col("copa", "acc")
	if len(copa.Values) != 5 || len(col("blimp_anaphor_gender_agreement", "acc").Values) != 5 {
		t.Fatalf("items %d, %v", len(copa.Values), err)
	}
	acc := 0.0
	for _, v := range copa.Values {
		acc += v
	}
	if got, _ := rerun.Results.Metric("copa", "acc"); math.Abs(got-acc/5) > 1e-12 {
		t.Errorf("copa acc %v, item scores average %v", got, acc/5)
	}
	// The recorded columns are the samples file's values in doc_id order.
	b, err := os.ReadFile(filepath.Join(root, rerun.Samples["copa"]))
	if err != nil {
		t.Fatal(err)
	}
	logged, err := tasks.ParseSamples(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range ItemScoresOf("copa", logged) {
		if got := col("copa", it.Metric); it.DocDigest != got.DocDigest || !slices.Equal(it.Values, got.Values) {
			t.Errorf("copa/%s: recorded %v (%s), samples file %v (%s)", it.Metric, got.Values, got.DocDigest[:8], it.Values, it.DocDigest[:8])
		}
	}
	reused, err := env.EvaluateWith(context.Background(), withLog, lm)
	if err != nil || !reused.Reused || reused.RunID != rerun.RunID || reused.Samples["copa"] != filepath.Join("runs", h, "samples_copa.jsonl") {
		t.Fatalf("reuse with samples: %+v, %v", reused, err)
	}
}

// TestAblateItemLevelStatistics runs a small matrix whose eval includes a
// multiple-choice task: its task metrics are compared with the
// hierarchical bootstrap on the recorded samples. With the samples files
// gone (a fresh clone: runs/ is not committed), the matrix is still
// reused whole and still compared item by item: the scores are in the
// registry.
func TestAblateItemLevelStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four micro runs")
	}
	m, err := ablations.Parse("test", []byte(strings.Replace(testMatrix, "tasks: [tinystories_bpb]\nlimit: 3", "tasks: [copa, tinystories_bpb]\nlimit: 12", 1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := testEnv(t, filepath.Join(dir, "r.db"), filepath.Join(dir, "cache"))
	root := t.TempDir()
	if err := os.Symlink(filepath.Join(env.Root, "datasets"), filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	env.Root = root
	rep, err := env.Ablate(context.Background(), m, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := func(rep *AblationReport, metric string) Summary {
		for _, s := range rep.Summary {
			if s.Arm == "no-subln" && s.Metric == metric {
				return s
			}
		}
		t.Fatalf("no row no-subln %s", metric)
		return Summary{}
	}
	if s := row(rep, "copa/acc"); s.Method != MethodBootstrap || s.Boot == nil || s.Boot.Seeds != 2 || s.Boot.Items != 12 {
		t.Errorf("copa/acc: %q %+v (%s)", s.Method, s.Boot, s.MethodNote)
	}
	if s := row(rep, "tinystories_bpb/bits_per_byte"); s.Method != MethodPairedT {
		t.Errorf("bits_per_byte compared by %q", s.Method)
	}
	if err := os.RemoveAll(filepath.Join(root, "runs")); err != nil {
		t.Fatal(err)
	}
	again, err := env.Ablate(context.Background(), m, nil, 1, nil)
	if err != nil || again.Reused != 4 || len(again.Failed()) != 0 {
		t.Fatalf("reuse without samples files: %v, reused %d, failed %d", err, again.Reused, len(again.Failed()))
	}
	if s, w := row(again, "copa/acc"), row(rep, "copa/acc"); s.Method != MethodBootstrap || s.Boot == nil || *s.Boot != *w.Boot {
		t.Errorf("without samples files: %q %+v (%s), want the same bootstrap %+v", s.Method, s.Boot, s.MethodNote, w.Boot)
	}
}
