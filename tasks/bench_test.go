package tasks

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"testing"
	"unicode/utf8"
)

// arcEasyUniform returns the known arc_easy (test split) acc and acc_norm
// of the uniform byte model for the first limit documents (0: all), read
// straight from the data file. Each choice scores −(bytes of " "+choice)·log V,
// so acc picks the first choice with the fewest bytes, and acc_norm the first
// choice with the smallest (bytes+1)/characters (compared exactly, in
// integers). The few-shot context does not change any of it.
func arcEasyUniform(tb testing.TB, limit int) (acc, accNorm []float64) {
	tb.Helper()
	f, err := os.Open(projectRoot + "/datasets/eval/arc_easy/ARC-Easy-Test.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	hit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for sc.Scan() && (limit == 0 || len(acc) < limit) {
		var doc struct {
			Question struct {
				Choices []struct{ Text, Label string } `json:"choices"`
			} `json:"question"`
			AnswerKey string `json:"answerKey"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			tb.Fatal(err)
		}
		gold := -1
		bestBytes, bestNorm := 0, 0
		for i, c := range doc.Question.Choices {
			if c.Label == doc.AnswerKey {
				gold = i
			}
			b := len(c.Text) + 1 // the target delimiter " " is scored too
			if b < len(doc.Question.Choices[bestBytes].Text)+1 {
				bestBytes = i
			}
			// (b/r < b'/r') ⇔ b·r' < b'·r for positive r, r'.
			r := max(1, utf8.RuneCountInString(c.Text))
			bb, rb := len(doc.Question.Choices[bestNorm].Text)+1, max(1, utf8.RuneCountInString(doc.Question.Choices[bestNorm].Text))
			if b*rb < bb*r {
				bestNorm = i
			}
		}
		if gold < 0 {
			tb.Fatalf("document %d: answer key %q is not a choice label", len(acc), doc.AnswerKey)
		}
		acc = append(acc, hit(bestBytes == gold))
		accNorm = append(accNorm, hit(bestNorm == gold))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return acc, accNorm
}

// checkArcEasyUniform compares the results of arc_easy under uniformLM with
// the known answer: the mean of the per-document hits and its standard
// error (sample standard deviation over √n).
func checkArcEasyUniform(tb testing.TB, r *Results, limit int) {
	tb.Helper()
	acc, accNorm := arcEasyUniform(tb, limit)
	if len(acc) == 0 {
		tb.Fatal("no arc_easy documents read")
	}
	if got := r.Results["arc_easy"]["alias"]; got != "arc_easy" {
		tb.Errorf("alias = %v, want arc_easy", got)
	}
	if n := r.NSamples["arc_easy"].Effective; n != len(acc) {
		tb.Errorf("%d documents scored, want %d", n, len(acc))
	}
	for name, hits := range map[string][]float64{"acc": acc, "acc_norm": accNorm} {
		n := float64(len(hits))
		var sum float64
		for _, h := range hits {
			sum += h
		}
		mean := sum / n
		var ss float64
		for _, h := range hits {
			ss += (h - mean) * (h - mean)
		}
		se := math.Sqrt(ss/(n-1)) / math.Sqrt(n)
		if got, ok := r.Metric("arc_easy", name); !ok || !near(got, mean) {
			tb.Errorf("%s = %v, want %v (%v of %v documents)", name, got, mean, sum, n)
		}
		if got, ok := r.Results["arc_easy"][name+"_stderr,none"].(float64); !ok || math.Abs(got-se) > 1e-12 {
			tb.Errorf("%s stderr = %v, want %v", name, r.Results["arc_easy"][name+"_stderr,none"], se)
		}
	}
}

// TestEvaluateArcEasyUniformKnownAnswer runs the shipped arc_easy task
// (5-shot, all 2376 documents, as the benchmark does) with the uniform byte
// model and checks its metrics against the answer computed from the data
// file; a limited run checks the first documents only.
func TestEvaluateArcEasyUniformKnownAnswer(t *testing.T) {
	for _, limit := range []int{0, 100} {
		r, err := Evaluate(projectRoot, uniformLM(256), Options{Tasks: []string{"arc_easy"}, NumFewshot: 5, Limit: limit, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkArcEasyUniform(t, r, limit)
	}
}

// BenchmarkEvaluateArcEasy measures request building, scheduling and metric
// aggregation on real data with a closed-form model (no network cost), and
// checks every run's metrics against the known answer.
func BenchmarkEvaluateArcEasy(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r, err := Evaluate(projectRoot, uniformLM(256), Options{Tasks: []string{"arc_easy"}, NumFewshot: 5, Threads: 2})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkArcEasyUniform(b, r, 0)
		b.StartTimer()
	}
}

func BenchmarkBootstrapPerplexity(b *testing.B) {
	items := make([]item, 5153)
	for i := range items {
		items[i].v = -float64(i%17) / 3
	}
	for i := 0; i < b.N; i++ {
		aggregate(aggPerplexity, items, "bench", "perplexity", DefaultBootstrapIters, 2)
	}
}
