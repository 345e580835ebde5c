package tasks

import "testing"

// BenchmarkEvaluateArcEasy measures request building, scheduling and metric
// aggregation on real data with a closed-form model (no network cost).
func BenchmarkEvaluateArcEasy(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Evaluate(projectRoot, uniformLM(256), Options{Tasks: []string{"arc_easy"}, NumFewshot: 5, Threads: 2}); err != nil {
			b.Fatal(err)
		}
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
