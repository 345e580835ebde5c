package tasks

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
)

// fixture writes data files under a temp root and builds a catalog from YAML.
func fixture(t *testing.T, files map[string]string, yamls ...string) (string, *Catalog) {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat := &Catalog{Tasks: map[string]*TaskConfig{}, Groups: map[string]*GroupConfig{}}
	for _, y := range yamls {
		c, err := ParseTaskConfig([]byte(y))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		cat.Tasks[c.Task] = c
	}
	return root, cat
}

func run(t *testing.T, cat *Catalog, root string, lm LM, opt Options) *Results {
	t.Helper()
	opt = opt.withDefaults()
	r, err := evaluateCatalog(cat, root, lm, opt)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func metric(t *testing.T, r *Results, task, key string) float64 {
	t.Helper()
	v, ok := r.Metric(task, key)
	if !ok {
		t.Fatalf("%s: no metric %q in %v", task, key, r.Results[task])
	}
	return v
}

const mcYAML = `
task: mc
dataset_path: d
test_split: mc.jsonl
output_type: multiple_choice
doc_to_text: "{{.q}}"
doc_to_target: gold
doc_to_choice: choices
metric_list: [{metric: acc}, {metric: acc_norm}, {metric: acc_bytes}, {metric: exact_match}]
metadata: {version: 2.0}
`

func TestMultipleChoiceMetricsUniform(t *testing.T) {
	// Uniform LM: ll = -(len(" "+choice) bytes)·log V. acc picks the fewest
	// bytes (ties: first), acc_norm divides by characters, acc_bytes by bytes.
	data := strings.Join([]string{
		`{"q":"Q1","choices":["éé","abc"],"gold":1}`, // acc→abc(1) norm→abc(1) bytes→éé(0)
		`{"q":"Q2","choices":["xy","zw"],"gold":0}`,  // tie → first (0) for all
		`{"q":"Q3","choices":["a","bbbb"],"gold":1}`, // acc→a(0); norm: -2/1 vs -5/4 → bbbb(1)
		`{"q":"Q4","choices":["aa","b"],"gold":1}`,   // acc→b(1); norm: -3/2 vs -2/1 → aa(0)
	}, "\n") + "\n"
	root, cat := fixture(t, map[string]string{"d/mc.jsonl": data}, mcYAML)
	lm := uniformLM(64)
	r := run(t, cat, root, lm, Options{Tasks: []string{"mc"}, NumFewshot: -1})
	want := map[string][]float64{
		"acc":       {1, 1, 0, 1},
		"acc_norm":  {1, 1, 1, 0},
		"acc_bytes": {0, 1, 1, 0},
	}
	for m, hits := range want {
		mean := (hits[0] + hits[1] + hits[2] + hits[3]) / 4
		if got := metric(t, r, "mc", m); !near(got, mean) {
			t.Errorf("%s = %v, want %v", m, got, mean)
		}
		ss := 0.0
		for _, h := range hits {
			ss += (h - mean) * (h - mean)
		}
		se := math.Sqrt(ss/3) / 2
		if got := r.Results["mc"][m+"_stderr,none"].(float64); !near(got, se) {
			t.Errorf("%s stderr = %v, want %v", m, got, se)
		}
	}
	// exact_match: greedy iff every target token is byte 0: never here.
	if got := metric(t, r, "mc", "exact_match"); got != 0 {
		t.Errorf("exact_match = %v, want 0", got)
	}
	// The requests: context "Q1", continuation " éé" with the space moved in.
	var seen bool
	for _, call := range lm.calls {
		for _, q := range call {
			if string(byteTok{}.Decode(q.Input[:q.Start+1])) == "Q1" && len(q.Targets) == 5 {
				seen = true
			}
		}
	}
	if !seen {
		t.Error("no request scoring \" éé\" (5 bytes) after \"Q1\"")
	}
}

func TestLoglikelihoodUnigram(t *testing.T) {
	y := `
task: ll
dataset_path: d
test_split: ll.jsonl
output_type: loglikelihood
doc_to_text: context
doc_to_target: " {{.continuation}}"
metric_list: [{metric: perplexity}, {metric: acc}]
metadata: {version: 1.0}
`
	data := `{"context":"x","continuation":"aa"}
{"context":"y","continuation":"ab"}
{"context":"z","continuation":"b"}
`
	root, cat := fixture(t, map[string]string{"d/ll.jsonl": data}, y)
	p := map[byte]float64{' ': 0.5, 'a': 0.25, 'b': 0.125}
	lm := unigramLM(64, p)
	r := run(t, cat, root, lm, Options{Tasks: []string{"ll"}, NumFewshot: -1, BootstrapIters: 2000})
	lp := func(s string) float64 {
		v := 0.0
		for i := 0; i < len(s); i++ {
			v += kernels.Log(p[s[i]])
		}
		return v
	}
	lls := []float64{lp(" aa"), lp(" ab"), lp(" b")}
	ppl := kernels.Exp(-(lls[0] + lls[1] + lls[2]) / 3)
	if got := metric(t, r, "ll", "perplexity"); !near(got, ppl) {
		t.Errorf("perplexity = %v, want %v", got, ppl)
	}
	// The argmax byte is ' ', so no continuation is all-greedy.
	if got := metric(t, r, "ll", "acc"); got != 0 {
		t.Errorf("acc = %v, want 0", got)
	}
	se, ok := r.Results["ll"]["perplexity_stderr,none"].(float64)
	if !ok || !(se > 0) || math.IsInf(se, 0) {
		t.Errorf("perplexity stderr = %v, want a positive bootstrap value", r.Results["ll"]["perplexity_stderr,none"])
	}
	r2 := run(t, cat, root, unigramLM(64, p), Options{Tasks: []string{"ll"}, NumFewshot: -1, BootstrapIters: 2000, Threads: 3})
	if r2.Results["ll"]["perplexity_stderr,none"] != r.Results["ll"]["perplexity_stderr,none"] {
		t.Errorf("bootstrap stderr depends on threads: %v vs %v", r2.Results["ll"]["perplexity_stderr,none"], se)
	}
}

func TestBootstrapConstantItemsHasZeroStderr(t *testing.T) {
	items := []item{{v: -2}, {v: -2}, {v: -2}}
	val, se, ok := aggregate(aggPerplexity, items, "t", "perplexity", 500, 2)
	if !ok || se > 1e-12 || !near(val, kernels.Exp(2)) {
		t.Errorf("got %v ± %v (%v), want exp(2) ± 0", val, se, ok)
	}
}

func TestRollingMetricsUniform(t *testing.T) {
	y := `
task: roll
dataset_path: d
dataset_format: text
test_split: text.txt
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
metric_list: [{metric: word_perplexity}, {metric: byte_perplexity}, {metric: bits_per_byte}]
metadata: {version: 1.0}
`
	doc1 := "one two three four five six seven eight nine ten" // 50 bytes, 10 words
	doc2 := "eleven twelve\nthirteen"                          // 22 bytes, 3 words
	root, cat := fixture(t, map[string]string{"d/text.txt": doc1 + "\n\n\n" + doc2 + "\n"}, y)
	lm := uniformLM(16)
	r := run(t, cat, root, lm, Options{Tasks: []string{"roll"}, NumFewshot: -1})
	lv := kernels.Log(byteVocab)
	bytesN, words := 70.0, 13.0
	if len(doc1)+len(doc2) != 70 {
		t.Fatalf("fixture has %d bytes", len(doc1)+len(doc2))
	}
	ll := -bytesN * lv
	checks := map[string]float64{
		"word_perplexity": kernels.Exp(-ll / words),
		"byte_perplexity": kernels.Exp(-ll / bytesN),
		"bits_per_byte":   -ll / (bytesN * math.Ln2),
	}
	for m, want := range checks {
		if got := metric(t, r, "roll", m); !near(got, want) {
			t.Errorf("%s = %v, want %v", m, got, want)
		}
		if v := r.Results["roll"][m+"_stderr,none"]; v != nil {
			t.Errorf("%s stderr = %v, want null (N/A)", m, v)
		}
	}
	if got := metric(t, r, "roll", "byte_perplexity"); math.Abs(got-byteVocab) > 1e-9 {
		t.Errorf("byte perplexity of a uniform byte model = %v, want %d", got, byteVocab)
	}
	// 48 bytes in windows of 16 → 3 windows; 22 bytes → 2. Every byte scored once.
	windows, scored := 0, 0
	for _, c := range lm.calls {
		for _, q := range c {
			windows++
			scored += len(q.Targets)
			if len(q.Input) > 16 {
				t.Errorf("window input %d > 16", len(q.Input))
			}
		}
	}
	if windows != 5 || scored != 70 {
		t.Errorf("%d windows scoring %d tokens, want 5 and 70", windows, scored)
	}
}

func TestWinograndePartialScoring(t *testing.T) {
	y := `
task: wino
dataset_path: d
validation_split: w.jsonl
output_type: multiple_choice
doc_to_text: gold
doc_to_target: continuation
doc_to_choice: context_options
metric_list: [{metric: acc}]
metadata: {version: 1.0}
`
	data := `{"context_options":["The cup fell so the cup","The cup fell so the Y"],"continuation":"broke.","gold":1}
{"context_options":["Y said that Bob","Ann said that Bob"],"continuation":"left.","gold":0}
{"context_options":["Ann was there","Bob was there"],"continuation":"too.","gold":1}
`
	root, cat := fixture(t, map[string]string{"d/w.jsonl": data}, y)
	// The continuation is likelier (p=1/2 a byte) after a context holding 'Y'.
	lm := &closedLM{tok: byteTok{}, maxLen: 64, logp: func(in []int32, pos int, _ int32) (float64, bool) {
		for _, x := range in[:pos+1] {
			if x == 'Y' {
				return kernels.Log(0.5), true
			}
		}
		return kernels.Log(0.25), false
	}}
	r := run(t, cat, root, lm, Options{Tasks: []string{"wino"}, NumFewshot: -1})
	// Docs 1 and 2 pick the 'Y' context (correct); doc 3 ties → first (wrong).
	if got := metric(t, r, "wino", "acc"); !near(got, 2.0/3) {
		t.Errorf("acc = %v, want 2/3", got)
	}
	// Each choice scores only " " + continuation, after its own context.
	n := 0
	for _, c := range lm.calls {
		for _, q := range c {
			ctx := byteTok{}.Decode(q.Input[:q.Start+1])
			cont := byteTok{}.Decode(q.Targets)
			if !(cont == " broke." || cont == " left." || cont == " too.") {
				t.Errorf("scored continuation %q, want the shared text after the blank", cont)
			}
			if !strings.Contains(data, ctx) {
				t.Errorf("context %q is not one of the context options", ctx)
			}
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
}

func TestGenerateUntilExactMatchWithFilter(t *testing.T) {
	y := `
task: gen
dataset_path: d
test_split: g.jsonl
output_type: generate_until
doc_to_text: "Q: {{.q}}\nA:"
doc_to_target: a
generation_kwargs: {until: ["\n\n"], max_gen_toks: 8}
filter_list:
  - name: get-answer
    filter:
      - {function: regex, regex_pattern: "answer is (\\d+)"}
      - {function: take_first}
metric_list: [{metric: exact_match, kwargs: {ignore_case: true}}]
metadata: {version: 1.0}
`
	data := `{"q":"6*7","a":"42"}
{"q":"1+1","a":"2"}
`
	root, cat := fixture(t, map[string]string{"d/g.jsonl": data}, y)
	lm := uniformLM(64)
	lm.gen = " The answer is 42.\n\nQ: next"
	r := run(t, cat, root, lm, Options{Tasks: []string{"gen"}, NumFewshot: -1})
	if got := metric(t, r, "gen", "exact_match,get-answer"); !near(got, 0.5) {
		t.Errorf("exact_match,get-answer = %v, want 0.5", got)
	}
	if _, ok := r.Results["gen"]["exact_match,none"]; ok {
		t.Error("with a filter list there should be no \"none\" filter key")
	}
}

const fsYAML = `
task: fs
dataset_path: d
test_split: test.jsonl
training_split: train.jsonl
output_type: multiple_choice
description: "D: "
doc_to_text: "Q: {{.q}}"
doc_to_target: gold
doc_to_choice: choices
target_delimiter: " -> "
fewshot_delimiter: " || "
num_fewshot: 2
metric_list: [{metric: acc}]
metadata: {version: 1.0}
`

func fsData() map[string]string {
	var tr, te strings.Builder
	for i := 0; i < 5; i++ {
		tr.WriteString(`{"q":"t` + string(rune('0'+i)) + `","choices":["x` + string(rune('0'+i)) + `","y"],"gold":0}` + "\n")
	}
	for i := 0; i < 3; i++ {
		te.WriteString(`{"q":"e` + string(rune('0'+i)) + `","choices":["p","q"],"gold":1}` + "\n")
	}
	return map[string]string{"d/train.jsonl": tr.String(), "d/test.jsonl": te.String()}
}

func contexts(t *testing.T, root string, c *TaskConfig, nShot int) []string {
	t.Helper()
	p, _, _, err := prepare(root, c, Options{NumFewshot: nShot})
	if err != nil {
		t.Fatal(err)
	}
	return p.contexts
}

func TestFewshotPromptAssembly(t *testing.T) {
	root, cat := fixture(t, fsData(), fsYAML)
	c := cat.Tasks["fs"]
	c.FewshotConfig.Sampler = "first_n"
	got := contexts(t, root, c, -1)
	want := "D: Q: t0 -> x0 || Q: t1 -> x1 || Q: e0"
	if got[0] != want {
		t.Errorf("first_n context = %q, want %q", got[0], want)
	}
	c.FewshotConfig.Sampler = ""
	got = contexts(t, root, c, -1)
	// Pinned draws of the rng stream (seed 1234, purpose "fewshot/fs").
	wantSeeded := []string{
		"D: Q: t4 -> x4 || Q: t0 -> x0 || Q: e0",
		"D: Q: t2 -> x2 || Q: t0 -> x0 || Q: e1",
		"D: Q: t2 -> x2 || Q: t3 -> x3 || Q: e2",
	}
	for i := range wantSeeded {
		if got[i] != wantSeeded[i] {
			t.Errorf("seeded context %d = %q, want %q", i, got[i], wantSeeded[i])
		}
	}
	if again := contexts(t, root, c, -1); strings.Join(again, "|") != strings.Join(got, "|") {
		t.Error("few-shot contexts are not reproducible")
	}
	if zero := contexts(t, root, c, 0); zero[1] != "D: Q: e1" {
		t.Errorf("0-shot context = %q", zero[1])
	}
}

func TestFewshotSameSplitDropsEvalDoc(t *testing.T) {
	files := fsData()
	y := strings.Replace(fsYAML, "training_split: train.jsonl\n", "", 1)
	y = strings.Replace(y, "test_split: test.jsonl", "test_split: train.jsonl", 1)
	root, cat := fixture(t, files, y)
	c := cat.Tasks["fs"]
	c.FewshotConfig.Sampler = "first_n"
	got := contexts(t, root, c, -1)
	// first_n draws t0,t1,t2; for eval doc t0 it drops t0 and keeps t1,t2.
	if want := "D: Q: t1 -> x1 || Q: t2 -> x2 || Q: t0"; got[0] != want {
		t.Errorf("context 0 = %q, want %q", got[0], want)
	}
	if want := "D: Q: t0 -> x0 || Q: t2 -> x2 || Q: t1"; got[1] != want {
		t.Errorf("context 1 = %q, want %q", got[1], want)
	}
	if want := "D: Q: t0 -> x0 || Q: t1 -> x1 || Q: t4"; got[4] != want {
		t.Errorf("context 4 = %q, want %q", got[4], want)
	}
	c.FewshotConfig.Sampler = ""
	for n := 1; n <= 4; n++ {
		for i, ctx := range contexts(t, root, c, n) {
			self := "Q: t" + string(rune('0'+i))
			if strings.Count(ctx, self) != 1 || !strings.HasSuffix(ctx, self) {
				t.Errorf("%d-shot context %d holds its own document as an example: %q", n, i, ctx)
			}
			if k := strings.Count(ctx, " -> "); k != n {
				t.Errorf("%d-shot context %d has %d examples", n, i, k)
			}
		}
	}
}

func TestThreadsDoNotChangeResults(t *testing.T) {
	root, cat := fixture(t, fsData(), fsYAML, strings.Replace(mcYAML, "d\ntest_split: mc.jsonl", "d\ntest_split: train.jsonl", 1))
	p := map[byte]float64{'x': 0.3, 'y': 0.2, 'p': 0.1}
	var out [][]byte
	for _, th := range []int{1, 4} {
		for _, bs := range []int{1, 3} {
			r := run(t, cat, root, unigramLM(16, p), Options{Tasks: []string{"fs", "mc"}, NumFewshot: -1, Threads: th, BatchSize: bs})
			r.Config = RunConfig{} // batch size is recorded there
			b, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	for i := 1; i < len(out); i++ {
		if !bytes.Equal(out[0], out[i]) {
			t.Fatalf("results differ between thread/batch settings:\n%s\n%s", out[0], out[i])
		}
	}
}

func TestResultsJSONLayout(t *testing.T) {
	files := fsData()
	files["d/mc.jsonl"] = `{"q":"a","choices":["x","yy"],"gold":0}` + "\n" + `{"q":"b","choices":["x","yy"],"gold":1}` + "\n" + `{"q":"c","choices":["x","yy"],"gold":0}` + "\n"
	mc2 := strings.Replace(mcYAML, "task: mc", "task: mc2", 1)
	root, cat := fixture(t, files, mcYAML, mc2)
	cat.Groups["grp"] = &GroupConfig{Group: "grp", Task: []string{"mc", "mc2"},
		AggregateMetricList: []GroupMetricSpec{{Metric: "acc", Aggregation: "mean"}}}
	cat.Groups["grp"].Metadata.Version = 3
	r := run(t, cat, root, uniformLM(32), Options{Tasks: []string{"grp"}, NumFewshot: -1, Limit: 2, Model: "closed-form"})
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing top-level key %q", k)
		}
	}
	res := m["results"].(map[string]any)
	mc := res["mc"].(map[string]any)
	for _, k := range []string{"alias", "acc,none", "acc_stderr,none", "acc_norm,none", "exact_match,none"} {
		if _, ok := mc[k]; !ok {
			t.Errorf("results.mc lacks %q: %v", k, mc)
		}
	}
	if mc["alias"] != " - mc" {
		t.Errorf("subtask alias = %v", mc["alias"])
	}
	// acc with a uniform model picks the shorter choice "x": docs a (gold 0) hit, b miss.
	if mc["acc,none"] != 0.5 {
		t.Errorf("mc acc = %v, want 0.5", mc["acc,none"])
	}
	grp := m["groups"].(map[string]any)["grp"].(map[string]any)
	if grp["acc,none"] != 0.5 {
		t.Errorf("group acc = %v, want 0.5", grp["acc,none"])
	}
	// pooled stderr: two tasks of size 2 with se = sqrt(0.5)/sqrt(2) = 0.5 each.
	wantSE := math.Sqrt((1*0.25*2 + 1*0.25*2) / (4 - 2) / 4)
	if got := grp["acc_stderr,none"].(float64); !near(got, wantSE) {
		t.Errorf("group stderr = %v, want %v", got, wantSE)
	}
	ns := m["n-samples"].(map[string]any)["mc"].(map[string]any)
	if ns["original"] != 3.0 || ns["effective"] != 2.0 {
		t.Errorf("n-samples = %v, want original 3 effective 2", ns)
	}
	cfg := m["config"].(map[string]any)
	if cfg["fewshot_seed"] != 1234.0 || cfg["limit"] != 2.0 || cfg["model"] != "closed-form" {
		t.Errorf("config = %v", cfg)
	}
	if gs := m["group_subtasks"].(map[string]any)["grp"].([]any); len(gs) != 2 {
		t.Errorf("group_subtasks = %v", gs)
	}
	if v := m["versions"].(map[string]any); v["mc"] != 2.0 || v["grp"] != 3.0 {
		t.Errorf("versions = %v", v)
	}
	if h := m["higher_is_better"].(map[string]any)["mc"].(map[string]any); h["acc"] != true {
		t.Errorf("higher_is_better = %v", h)
	}
	if c := m["configs"].(map[string]any)["mc"].(map[string]any); c["output_type"] != "multiple_choice" || c["target_delimiter"] != nil && c["target_delimiter"] != " " {
		t.Errorf("configs.mc = %v", c)
	}
}

func TestErrors(t *testing.T) {
	root, cat := fixture(t, map[string]string{"d/mc.jsonl": `{"q":"a","choices":["x"],"gold":0}` + "\n\n" + `{"q": broken}` + "\n"}, mcYAML)
	_, err := evaluateCatalog(cat, root, uniformLM(8), Options{Tasks: []string{"nope"}}.withDefaults())
	if err == nil || !strings.Contains(err.Error(), `unknown task "nope"`) || !strings.Contains(err.Error(), "mc") {
		t.Errorf("unknown task error = %v", err)
	}
	_, err = evaluateCatalog(cat, root, uniformLM(8), Options{Tasks: []string{"mc"}}.withDefaults())
	if err == nil || !strings.Contains(err.Error(), "mc.jsonl:3") {
		t.Errorf("malformed line error = %v, want file:line 3", err)
	}
	for _, bad := range []string{
		strings.Replace(mcYAML, "multiple_choice", "ranking", 1),
		strings.Replace(mcYAML, "{metric: acc}", "{metric: bleu}", 1),
		strings.Replace(mcYAML, "metadata:", "mystery: 1\nmetadata:", 1),
		strings.Replace(mcYAML, `"{{.q}}"`, `"{{.q"`, 1),
	} {
		if _, err := ParseTaskConfig([]byte(bad)); err == nil {
			t.Errorf("bad config accepted:\n%s", bad)
		}
	}
	if _, err := Evaluate(root, uniformLM(8), Options{Tasks: []string{"x"}, NumFewshot: -2}); err == nil {
		t.Error("num_fewshot -2 accepted")
	}
}
