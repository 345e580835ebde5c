package tasks

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

const projectRoot = ".."

// Row counts from the data snapshot's SOURCES.md.
var wantDocs = map[string]int{
	"hellaswag": 10042, "arc_easy": 2376, "arc_challenge": 1172, "piqa": 1838, "siqa": 1954,
	"winogrande": 1267, "lambada_openai": 5153, "boolq": 3270, "copa": 100, "openbookqa": 500,
	"commonsense_qa": 1221, "wsc273": 273, "gsm8k": 1319,
}

func TestShippedTasksLoadAndRender(t *testing.T) {
	cat, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	g := cat.Groups["blimp"]
	if g == nil || len(g.Task) != 67 {
		t.Fatalf("blimp group missing or wrong size: %v", g)
	}
	raw, err := os.ReadFile(projectRoot + "/datasets/corpus/tinystories/TinyStories-hf-validation.prefix.txt")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, b := range regexp.MustCompile(`\n[ \t]*\n`).Split(string(raw), -1) {
		if strings.TrimSpace(b) != "" {
			blocks++
		}
	}
	wantDocs["tinystories_bpb"] = blocks
	for _, name := range g.Task {
		wantDocs[name] = 1000
	}
	if len(cat.Tasks) != len(wantDocs) {
		t.Errorf("%d tasks defined, want %d", len(cat.Tasks), len(wantDocs))
	}
	for name, want := range wantDocs {
		c := cat.Tasks[name]
		if c == nil {
			t.Errorf("task %s not defined", name)
			continue
		}
		if strings.TrimSpace(c.Notes) == "" && !strings.HasPrefix(name, "blimp_") {
			t.Errorf("task %s has no notes", name)
		}
		p, _, original, err := prepare(projectRoot, c, Options{NumFewshot: -1})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if original != want || len(p.docs) != want {
			t.Errorf("%s: %d documents, want %d", name, original, want)
		}
		for i, d := range p.docs {
			if c.OutputType == MultipleChoice && (len(d.choices) < 2 || d.gold < 0 || d.gold >= len(d.choices)) {
				t.Errorf("%s doc %d: %d choices, gold %d", name, i, len(d.choices), d.gold)
				break
			}
			if d.goldText == "" {
				t.Errorf("%s doc %d: empty target", name, i)
				break
			}
		}
	}
}

func TestShippedPrompts(t *testing.T) {
	cat, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ task, ctx, gold string }{
		{"arc_easy", "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:", "Sunlight is the source of energy for nearly all ecosystems."},
		{"piqa", "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:", "Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish."},
		{"siqa", "Q: Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?\nA:", "Find somewhere to go"},
		{"hellaswag", "Roof shingle removal: A man is sitting on a roof. he", "starts pulling up roofing on a roof."},
		{"copa", "The man turned on the faucet, therefore", "water flowed from the spout."},
		{"commonsense_qa", "Question: A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?\nA. bank\nB. library\nC. department store\nD. mall\nE. new york\nAnswer:", "A"},
		{"winogrande", "", "always got the easier cases."},
		{"lambada_openai", "", " signs"},
	}
	for _, c := range cases {
		p, _, _, err := prepare(projectRoot, cat.Tasks[c.task], Options{NumFewshot: -1, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if c.ctx != "" && p.contexts[0] != c.ctx {
			t.Errorf("%s context = %q, want %q", c.task, p.contexts[0], c.ctx)
		}
		if p.docs[0].goldText != c.gold {
			t.Errorf("%s gold = %q, want %q", c.task, p.docs[0].goldText, c.gold)
		}
	}
	// Multiple-input few-shot: the example is its gold context + " " + continuation.
	p, _, _, err := prepare(projectRoot, cat.Tasks["winogrande"], Options{NumFewshot: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.contexts[0], ".\n\n") || strings.Count(p.contexts[0], "\n\n") != 1 {
		t.Errorf("winogrande 1-shot prefix = %q", p.contexts[0])
	}
}

// With a uniform byte model, BLiMP acc is the share of pairs whose good
// sentence has no more bytes than the bad one (ties go to the first choice).
func TestBlimpUniformKnownAnswer(t *testing.T) {
	const paradigm = "determiner_noun_agreement_irregular_1"
	f, err := os.Open(projectRoot + "/datasets/blimp/" + paradigm + ".jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 200
	sc := bufio.NewScanner(zr)
	hits, n := 0, 0
	for sc.Scan() && n < limit {
		var row struct {
			Good string `json:"sentence_good"`
			Bad  string `json:"sentence_bad"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if len(row.Good) <= len(row.Bad) {
			hits++
		}
		n++
	}
	r, err := Evaluate(projectRoot, uniformLM(128), Options{Tasks: []string{"blimp_" + paradigm}, NumFewshot: -1, Limit: limit, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := metric(t, r, "blimp_"+paradigm, "acc"), float64(hits)/limit; !near(got, want) {
		t.Errorf("acc = %v, want %v", got, want)
	}
}

func TestListShipped(t *testing.T) {
	infos, err := List(projectRoot)
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Name != "blimp" || infos[0].OutputType != "group" || infos[0].Docs != 67000 || len(infos[0].Subtasks) != 67 {
		t.Errorf("first entry = %+v, want the blimp group with 67000 docs", infos[0])
	}
	found := false
	for _, ti := range infos {
		if ti.Name == "lambada_openai" {
			found = ti.OutputType == Loglikelihood && ti.Docs == 5153 && strings.Join(ti.Metrics, ",") == "perplexity,acc"
		}
	}
	if !found {
		t.Error("lambada_openai missing or wrong in List")
	}
	_, err = Evaluate(projectRoot, uniformLM(8), Options{Tasks: []string{"hellaswagg"}, NumFewshot: -1})
	if err == nil || !strings.Contains(err.Error(), "hellaswag") || !strings.Contains(err.Error(), "blimp (group") {
		t.Errorf("unknown task error = %v", err)
	}
}
