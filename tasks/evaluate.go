package tasks

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Options selects what Evaluate runs and how.
type Options struct {
	// Context, when set, stops the evaluation (with its error) once done.
	Context context.Context
	// Tasks are task or group names.
	Tasks []string
	// NumFewshot overrides every task's num_fewshot; -1 keeps the defaults.
	NumFewshot int
	// Limit caps the documents per task (the first Limit of the eval split); 0 = all.
	Limit int
	// Threads is how many goroutines call the model at once (minimum 1).
	Threads int
	// Progress, when set, receives one line per tenth of each task's requests.
	Progress io.Writer
	// BatchSize is the largest number of requests per LM.Score call
	// (default 1024; fewer when that would leave a thread idle); requests
	// that share a context are never split across calls.
	BatchSize int
	// LogSamples keeps lm-eval's per-document records (Results.Samples).
	// It changes no result.
	LogSamples bool
	// BootstrapIters is the number of bootstrap resamples for perplexity
	// standard errors: 0 means DefaultBootstrapIters, negative skips them.
	BootstrapIters int
	// Model and ModelArgs are recorded in the results' "config" section.
	Model, ModelArgs string
}

func (o Options) withDefaults() Options {
	if o.Threads < 1 {
		o.Threads = 1
	}
	if o.BatchSize < 1 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BootstrapIters == 0 {
		o.BootstrapIters = DefaultBootstrapIters
	}
	return o
}

// DefaultBatchSize is the default Options.BatchSize.
const DefaultBatchSize = 1024

// metricValue is one aggregated metric of a task.
type metricValue struct {
	metric, filter string
	val, se        float64
	seOK           bool
	higher         bool
}

func (m metricValue) key() string { return m.metric + "," + m.filter }

// taskResult is what one task produced.
type taskResult struct {
	cfg                 *TaskConfig
	nShot               int
	original, effective int
	metrics             []metricValue
	samples             []Sample
}

// Evaluate runs the named tasks against lm. root is the project root under
// which every task's dataset_path lies.
func Evaluate(root string, lm LM, opt Options) (*Results, error) {
	if lm == nil {
		return nil, fmt.Errorf("evaluate: no model given")
	}
	if lm.MaxLength() < 1 {
		return nil, fmt.Errorf("evaluate: model max length %d, want at least 1", lm.MaxLength())
	}
	if len(opt.Tasks) == 0 {
		return nil, fmt.Errorf("evaluate: no tasks given")
	}
	if opt.NumFewshot < -1 {
		return nil, fmt.Errorf("evaluate: num_fewshot %d, want -1 (task default) or >= 0", opt.NumFewshot)
	}
	if opt.Limit < 0 {
		return nil, fmt.Errorf("evaluate: limit %d, want >= 0 (0 = all documents)", opt.Limit)
	}
	opt = opt.withDefaults()
	cat, err := LoadCatalog()
	if err != nil {
		return nil, fmt.Errorf("load task definitions: %w", err)
	}
	return evaluateCatalog(cat, root, lm, opt)
}

// Check validates the task names, few-shot count and limit without running
// anything, so a caller can refuse bad arguments before it records a run.
func Check(opt Options) error {
	if len(opt.Tasks) == 0 {
		return fmt.Errorf("evaluate: no tasks given")
	}
	if opt.NumFewshot < -1 {
		return fmt.Errorf("evaluate: num_fewshot %d, want -1 (task default) or >= 0", opt.NumFewshot)
	}
	if opt.Limit < 0 {
		return fmt.Errorf("evaluate: limit %d, want >= 0 (0 = all documents)", opt.Limit)
	}
	cat, err := LoadCatalog()
	if err != nil {
		return fmt.Errorf("load task definitions: %w", err)
	}
	_, _, err = cat.expand(opt.Tasks)
	return err
}

func evaluateCatalog(cat *Catalog, root string, lm LM, opt Options) (*Results, error) {
	names, groups, err := cat.expand(opt.Tasks)
	if err != nil {
		return nil, err
	}
	// Every scored task's requests go to the model in one scheduler pass,
	// so batches of similar length form across tasks (BLiMP's 67
	// paradigms); generation tasks run one by one.
	res := map[string]*taskResult{}
	var scored []*scoredTask
	var all [][]ScoreRequest
	for _, n := range names {
		c := cat.Tasks[n]
		p, nShot, original, err := prepare(root, c, opt)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", n, err)
		}
		tr := &taskResult{cfg: c, nShot: nShot, original: original, effective: len(p.docs)}
		res[n] = tr
		if c.OutputType == GenerateUntil {
			sched := &scheduler{ctx: opt.Context, lm: lm, batchSize: opt.BatchSize, threads: opt.Threads,
				progress: progressFunc(opt.Progress, c.Task)}
			items, samples, err := runGenerate(lm, c, p, sched, opt.LogSamples)
			if err != nil {
				return nil, fmt.Errorf("task %s: %w", n, err)
			}
			tr.samples = samples
			tr.metrics = taskMetrics(c, items, opt)
			continue
		}
		st := buildScored(lm, c, p, opt.LogSamples)
		if !opt.LogSamples {
			// Only the sample records need the raw documents and the
			// prompts; dropping them keeps the heap (and the garbage
			// collector's work) small while the requests are scored.
			p.raw, p.contexts = nil, nil
		}
		st.name, st.tr, st.first = n, tr, len(all)
		all = append(all, st.groups...)
		scored = append(scored, st)
	}
	if len(scored) > 0 {
		label := scored[0].name
		if len(scored) > 1 {
			label = fmt.Sprintf("%d scored tasks", len(scored))
		}
		sched := &scheduler{ctx: opt.Context, lm: lm, batchSize: opt.BatchSize, threads: opt.Threads,
			progress: progressFunc(opt.Progress, label)}
		out, err := sched.run(all)
		if err != nil {
			if len(scored) == 1 {
				return nil, fmt.Errorf("task %s: %w", scored[0].name, err)
			}
			return nil, err
		}
		for _, st := range scored {
			items, samples := st.finish(out[st.first : st.first+len(st.groups)])
			st.tr.samples = samples
			st.tr.metrics = taskMetrics(st.c, items, opt)
		}
	}
	r := buildResults(cat, names, groups, res, opt)
	r.Config.MaxLength = lm.MaxLength()
	return r, nil
}

func progressFunc(w io.Writer, task string) func(done, total int) {
	if w == nil {
		return nil
	}
	last := -1
	return func(done, total int) {
		tenth := done * 10 / max(1, total)
		if tenth != last {
			last = tenth
			fmt.Fprintf(w, "%s: %d/%d requests\n", task, done, total)
		}
	}
}

// prepared holds one task's rendered documents and their contexts.
type prepared struct {
	docs     []*rendered
	raw      []map[string]any
	contexts []string
}

func prepare(root string, c *TaskConfig, opt Options) (*prepared, int, int, error) {
	spec, err := compileDoc(c)
	if err != nil {
		return nil, 0, 0, err
	}
	all, err := loadSplit(root, c, c.evalSplit())
	if err != nil {
		return nil, 0, 0, err
	}
	original := len(all)
	docs := all
	if opt.Limit > 0 && opt.Limit < len(docs) {
		docs = docs[:opt.Limit]
	}
	p := &prepared{raw: docs}
	renderAll := func(ds []map[string]any, split string) ([]*rendered, error) {
		out := make([]*rendered, len(ds))
		for i, d := range ds {
			r, err := spec.render(d)
			if err != nil {
				return nil, fmt.Errorf("split %s document %d: %w", split, i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	if p.docs, err = renderAll(docs, c.evalSplit()); err != nil {
		return nil, 0, 0, err
	}
	nShot := c.NumFewshot
	if opt.NumFewshot >= 0 {
		nShot = opt.NumFewshot
	}
	var smp *sampler
	if nShot > 0 {
		poolSplit := c.fewshotPool()
		same := poolSplit == c.evalSplit()
		var pool []*rendered
		if same {
			pool, err = renderAll(all, poolSplit)
		} else {
			var raw []map[string]any
			if raw, err = loadSplit(root, c, poolSplit); err == nil {
				pool, err = renderAll(raw, poolSplit)
			}
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("few-shot pool: %w", err)
		}
		smp = newSampler(c.Task, pool, same, c.FewshotConfig.Sampler == "first_n")
	}
	p.contexts = make([]string, len(p.docs))
	for i, d := range p.docs {
		var shots []*rendered
		if smp != nil {
			if shots, err = smp.examples(nShot, i); err != nil {
				return nil, 0, 0, err
			}
		}
		p.contexts[i] = buildContext(c, d, shots)
	}
	return p, nShot, original, nil
}

// taskMetrics aggregates a task's per-document items into its metrics,
// for every filter.
func taskMetrics(c *TaskConfig, items map[string][]item, opt Options) []metricValue {
	var out []metricValue
	for _, f := range taskFilters(c) {
		for _, m := range c.MetricList {
			spec := metricSpecs[c.OutputType][m.Metric]
			agg := spec.agg
			if m.Aggregation != "" {
				agg = m.Aggregation
			}
			higher := spec.higher
			if m.HigherIsBetter != nil {
				higher = *m.HigherIsBetter
			}
			val, se, ok := aggregate(agg, items[m.Metric+","+f], c.Task, m.Metric, opt.BootstrapIters, opt.Threads)
			out = append(out, metricValue{metric: m.Metric, filter: f, val: val, se: se, seOK: ok, higher: higher})
		}
	}
	return out
}

// taskFilters names a task's filters: its filter_list for generate_until
// tasks that have one, else "none".
func taskFilters(c *TaskConfig) []string {
	if c.OutputType != GenerateUntil || len(c.FilterList) == 0 {
		return []string{"none"}
	}
	var fs []string
	for _, f := range c.FilterList {
		fs = append(fs, f.Name)
	}
	return fs
}

// scoredTask is a scored task's requests, built before any is run, and
// what turns their results into per-document items.
type scoredTask struct {
	name    string
	tr      *taskResult
	c       *TaskConfig
	p       *prepared
	first   int // index of the task's first group in the scheduler pass
	groups  [][]ScoreRequest
	owner   []int        // document of each group
	weights [][2]float64 // rolling: words and bytes of each document
	args    [][][]string // with samples: each document's requests as (context, continuation) texts
}

// buildScored builds the log-likelihood requests of a task; with samples
// it also keeps each request's text arguments.
func buildScored(lm LM, c *TaskConfig, p *prepared, samples bool) *scoredTask {
	tok := lm.Tokenizer()
	maxLen := lm.MaxLength()
	delim := c.targetDelimiter()
	st := &scoredTask{c: c, p: p, groups: make([][]ScoreRequest, 0, len(p.docs)), owner: make([]int, 0, len(p.docs)),
		weights: make([][2]float64, len(p.docs))}
	if samples {
		st.args = make([][][]string, len(p.docs))
	}
	arg := func(i int, a ...string) {
		if samples {
			st.args[i] = append(st.args[i], a)
		}
	}
	for i, d := range p.docs {
		ctx := p.contexts[i]
		switch c.OutputType {
		case MultipleChoice:
			g := make([]ScoreRequest, len(d.choices))
			for k, ch := range d.choices {
				var ce, te []int32
				if d.multi {
					ce, te = EncodePair(tok, ctx+ch, delim+d.target)
					arg(i, ctx+ch, delim+d.target)
				} else {
					ce, te = EncodePair(tok, ctx, delim+ch)
					arg(i, ctx, delim+ch)
				}
				g[k] = NewScoreRequest(ce, te, maxLen)
			}
			st.groups, st.owner = append(st.groups, g), append(st.owner, i)
		case Loglikelihood:
			ce, te := EncodePair(tok, ctx, d.goldText)
			arg(i, ctx, d.goldText)
			st.groups, st.owner = append(st.groups, []ScoreRequest{NewScoreRequest(ce, te, maxLen)}), append(st.owner, i)
		case LoglikelihoodRolling:
			text := d.goldText
			arg(i, text)
			st.weights[i] = [2]float64{float64(CountWords(text)), float64(len(text))}
			for _, w := range RollingWindows(tok.Encode(text), prefixToken(tok), maxLen) {
				st.groups, st.owner = append(st.groups, []ScoreRequest{NewScoreRequest(w.Ctx, w.Cont, maxLen)}), append(st.owner, i)
			}
		}
	}
	return st
}

// finish turns the scored groups into per-document metric items keyed
// "metric,none" (item j belongs to document j) and, when arguments were
// kept, the documents' sample records.
func (st *scoredTask) finish(res [][]ScoreResult) (map[string][]item, []Sample) {
	c, p := st.c, st.p
	items := map[string][]item{}
	resps := make([][]any, len(p.docs))
	switch c.OutputType {
	case MultipleChoice:
		for gi, g := range res {
			d := p.docs[st.owner[gi]]
			lls := make([]float64, len(g))
			greedy := make([]bool, len(g))
			for k, r := range g {
				lls[k], greedy[k] = r.LogLik, r.Greedy
				resps[st.owner[gi]] = append(resps[st.owner[gi]], []any{r.LogLik, r.Greedy})
			}
			names := d.choices
			for _, m := range c.MetricList {
				items[m.Metric+",none"] = append(items[m.Metric+",none"], item{v: mcItem(m.Metric, lls, greedy, names, d.gold)})
			}
		}
	case Loglikelihood:
		for gi, g := range res {
			acc := 0.0
			if g[0].Greedy {
				acc = 1
			}
			items["perplexity,none"] = append(items["perplexity,none"], item{v: g[0].LogLik})
			items["acc,none"] = append(items["acc,none"], item{v: acc})
			resps[st.owner[gi]] = []any{[]any{g[0].LogLik, g[0].Greedy}}
		}
	case LoglikelihoodRolling:
		ll := make([]float64, len(p.docs))
		for gi, g := range res {
			ll[st.owner[gi]] += g[0].LogLik
		}
		for i := range p.docs {
			items["word_perplexity,none"] = append(items["word_perplexity,none"], item{v: ll[i], w: st.weights[i][0]})
			items["byte_perplexity,none"] = append(items["byte_perplexity,none"], item{v: ll[i], w: st.weights[i][1]})
			items["bits_per_byte,none"] = append(items["bits_per_byte,none"], item{v: ll[i], w: st.weights[i][1]})
			resps[i] = []any{[]any{ll[i]}}
		}
	}
	if st.args == nil {
		return items, nil
	}
	samples := make([]Sample, len(p.docs))
	for i, d := range p.docs {
		args := make([][]any, len(st.args[i]))
		for k, a := range st.args[i] {
			for _, x := range a {
				args[k] = append(args[k], x)
			}
		}
		var target any = d.goldText
		if c.OutputType == MultipleChoice {
			target = d.gold
		}
		nested := make([]any, len(resps[i]))
		for k, r := range resps[i] {
			nested[k] = []any{r}
		}
		samples[i] = newSample(c, i, p.raw[i], target, args, nested, resps[i], "none", items, i)
	}
	return items, samples
}

// runGenerate runs greedy generation and scores exact_match per filter;
// with samples it also returns one record per document and filter.
func runGenerate(lm LM, c *TaskConfig, p *prepared, sched *scheduler, samples bool) (map[string][]item, []Sample, error) {
	tok := lm.Tokenizer()
	until := c.GenerationKwargs.Until
	if len(until) == 0 {
		until = []string{c.fewshotDelimiter()}
	}
	maxGen := c.GenerationKwargs.MaxGenToks
	if maxGen <= 0 {
		maxGen = 256
	}
	reqs := make([]genRequest, len(p.docs))
	for i := range p.docs {
		enc := tok.Encode(p.contexts[i])
		keep := max(1, lm.MaxLength()-maxGen)
		if len(enc) > keep {
			enc = enc[len(enc)-keep:]
		}
		reqs[i] = genRequest{ctx: enc, max: maxGen, until: until}
	}
	outs, err := sched.generate(reqs)
	if err != nil {
		return nil, nil, err
	}
	filters := c.FilterList
	if len(filters) == 0 {
		filters = []FilterConfig{{Name: "none"}}
	}
	items := map[string][]item{}
	preds := make([][]string, len(outs))
	for i, out := range outs {
		for _, u := range until {
			if k := strings.Index(out, u); k >= 0 && u != "" {
				out = out[:k]
			}
		}
		outs[i] = out
		for _, f := range filters {
			pred, err := applyFilters(f, out)
			if err != nil {
				return nil, nil, err
			}
			preds[i] = append(preds[i], pred)
			for _, m := range c.MetricList {
				v, err := exactMatch(pred, p.docs[i].goldText, m.Kwargs)
				if err != nil {
					return nil, nil, err
				}
				items[m.Metric+","+f.Name] = append(items[m.Metric+","+f.Name], item{v: v})
			}
		}
	}
	if !samples {
		return items, nil, nil
	}
	var out []Sample
	gen := map[string]any{"until": until, "max_gen_toks": maxGen}
	for i := range p.docs {
		for k, f := range filters {
			out = append(out, newSample(c, i, p.raw[i], p.docs[i].goldText, [][]any{{p.contexts[i], gen}},
				[]any{[]any{outs[i]}}, []any{preds[i][k]}, f.Name, items, i))
		}
	}
	return items, out, nil
}
