package tasks

import (
	"encoding/json"
	"strings"
	"testing"
)

// gsm8kConfig is the shipped gsm8k definition.
func gsm8kConfig(t *testing.T) *TaskConfig {
	t.Helper()
	cat, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	c := cat.Tasks["gsm8k"]
	if c == nil {
		t.Fatal("no gsm8k task shipped")
	}
	return c
}

// TestGSM8KFiltersKnownAnswers runs lm-eval's two gsm8k filters and the
// exact_match kwargs of the shipped definition on crafted model outputs
// whose extracted answers and scores are known.
func TestGSM8KFiltersKnownAnswers(t *testing.T) {
	c := gsm8kConfig(t)
	if len(c.FilterList) != 2 || c.FilterList[0].Name != "strict-match" || c.FilterList[1].Name != "flexible-extract" {
		t.Fatalf("filters %+v, want strict-match and flexible-extract", c.FilterList)
	}
	kw := c.MetricList[0].Kwargs
	const gold18 = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18"
	for _, k := range []struct {
		out, gold              string
		strict, flexible       string
		strictHit, flexibleHit float64
	}{
		{"9 * 2 = 18 dollars.\n#### 18", gold18, "18", "18", 1, 1},
		// No "#### ": strict falls back; the last number-like string is
		// "$18.", which the kwargs reduce to "18".
		{"She makes $18.", gold18, "[invalid]", "$18.", 0, 1},
		// Thousands separators are ignored on both sides.
		{"#### 70,000", "... #### 70000", "70,000", "70,000", 1, 1},
		// strict takes the first "#### ", flexible the last number.
		{"#### 12 then 13", "#### 12", "12", "13", 1, 0},
		// A one-digit answer comes from the second alternative.
		{"so 3", "#### 3", "[invalid]", "3", 0, 1},
		{"-4 degrees #### -4", "#### -4", "-4", "-4", 1, 1},
		{"no idea", "#### 5", "[invalid]", "[invalid]", 0, 0},
		{"3.5 apples, 10.", "#### 10", "[invalid]", "10.", 0, 1},
		{"", "#### 0", "[invalid]", "[invalid]", 0, 0},
	} {
		got := [2]string{}
		for i, f := range c.FilterList {
			p, err := applyFilters(f, k.out)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = p
		}
		if got != [2]string{k.strict, k.flexible} {
			t.Errorf("%q: filtered %q, want [%q %q]", k.out, got, k.strict, k.flexible)
			continue
		}
		for i, want := range []float64{k.strictHit, k.flexibleHit} {
			v, err := exactMatch(got[i], k.gold, kw)
			if err != nil {
				t.Fatal(err)
			}
			if v != want {
				t.Errorf("%q, filter %s: exact_match %v, want %v", k.out, c.FilterList[i].Name, v, want)
			}
		}
	}
}

// scriptLM answers each generation request with the output scripted for
// the question its prompt ends with.
type scriptLM struct {
	*closedLM
	answers map[string]string
}

func (s *scriptLM) Generate(ctx []int32, maxTokens int, until []string) (string, error) {
	text := s.tok.Decode(ctx)
	q := text[strings.LastIndex(text, "Question: ")+len("Question: "):]
	for prefix, a := range s.answers {
		if strings.HasPrefix(q, prefix) {
			return a, nil
		}
	}
	return "", nil
}

// TestGSM8KEndToEnd evaluates the shipped gsm8k (8-shot prompts from the
// train split) on its first four test questions with scripted outputs and
// checks both filters' scores, the prompts and the logged samples.
func TestGSM8KEndToEnd(t *testing.T) {
	lm := &scriptLM{closedLM: uniformLM(1 << 16), answers: map[string]string{
		"Janet":  " 16 - 3 - 4 = 9, 9 * 2 = 18\n#### 18\n\nQuestion: next", // both filters right
		"A robe": " 2 + 1 = 3 bolts",                                       // flexible only
		"Josh":   " #### 70,000 Question: ",                                // both (cut at "Question:")
		"James":  " #### 54",                                               // neither
	}}
	r, err := Evaluate(projectRoot, lm, Options{Tasks: []string{"gsm8k"}, NumFewshot: -1, Limit: 4, Threads: 2, LogSamples: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := metric(t, r, "gsm8k", "exact_match,strict-match"); !near(got, 0.5) {
		t.Errorf("strict-match = %v, want 0.5", got)
	}
	if got := metric(t, r, "gsm8k", "exact_match,flexible-extract"); !near(got, 0.75) {
		t.Errorf("flexible-extract = %v, want 0.75", got)
	}
	if r.NShot["gsm8k"] != 8 || r.NSamples["gsm8k"].Original != 1319 {
		t.Errorf("n-shot %d, original %d; want 8 and 1319", r.NShot["gsm8k"], r.NSamples["gsm8k"].Original)
	}
	ss := r.Samples["gsm8k"]
	if len(ss) != 8 {
		t.Fatalf("%d samples, want 4 documents × 2 filters", len(ss))
	}
	wantHit := map[[2]any]float64{{0, "strict-match"}: 1, {0, "flexible-extract"}: 1, {1, "strict-match"}: 0, {1, "flexible-extract"}: 1,
		{2, "strict-match"}: 1, {2, "flexible-extract"}: 1, {3, "strict-match"}: 0, {3, "flexible-extract"}: 0}
	for _, s := range ss {
		if v := s.Values["exact_match"]; v != wantHit[[2]any{s.DocID, s.Filter}] {
			t.Errorf("doc %d %s: exact_match %v", s.DocID, s.Filter, v)
		}
		prompt := s.Arguments[0][0].(string)
		if strings.Count(prompt, "Question: ") != 9 || !strings.HasSuffix(prompt, "\nAnswer:") {
			t.Errorf("doc %d: prompt has %d questions, want 8 shots + the question:\n%s", s.DocID, strings.Count(prompt, "Question: "), prompt)
		}
	}
	b, err := json.Marshal(ss[4]) // document 2, strict-match
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["resps"].([]any)[0].([]any)[0] != " #### 70,000 " || back["filtered_resps"].([]any)[0] != "70,000" {
		t.Errorf("doc 2 strict-match record: resps %v, filtered %v", back["resps"], back["filtered_resps"])
	}
}
