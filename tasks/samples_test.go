package tasks

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestLogSamplesScoredTasks: with LogSamples every document of a
// multiple_choice, loglikelihood and rolling task has a record whose
// responses are its requests' scores and whose metric values average to
// the reported metric; the results JSON is the same as without samples,
// and ParseSamples reads the JSON Lines back.
func TestLogSamplesScoredTasks(t *testing.T) {
	names := []string{"arc_easy", "lambada_openai", "tinystories_bpb", "blimp_anaphor_gender_agreement"}
	opt := Options{Tasks: names, NumFewshot: -1, Limit: 7, Threads: 2}
	plain, err := Evaluate(projectRoot, uniformLM(256), opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.LogSamples = true
	logged, err := Evaluate(projectRoot, uniformLM(256), opt)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := plain.JSON()
	b, _ := logged.JSON()
	if !bytes.Equal(a, b) {
		t.Error("results JSON differs with LogSamples")
	}
	if plain.Samples != nil {
		t.Error("samples kept without LogSamples")
	}
	for _, task := range names {
		ss := logged.Samples[task]
		if len(ss) != 7 {
			t.Fatalf("%s: %d samples, want 7", task, len(ss))
		}
		js, err := SamplesJSONL(ss)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSamples(js)
		if err != nil || len(back) != 7 {
			t.Fatalf("%s: parsed %d samples (%v)", task, len(back), err)
		}
		for i, s := range ss {
			if s.DocID != i || back[i].DocID != i || back[i].Filter != "none" || len(back[i].DocHash) != 64 {
				t.Errorf("%s sample %d: doc_id %d/%d filter %q hash %q", task, i, s.DocID, back[i].DocID, back[i].Filter, back[i].DocHash)
			}
			var line map[string]any
			if err := json.Unmarshal(bytes.Split(js, []byte("\n"))[i], &line); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics", "doc_hash", "prompt_hash", "target_hash"} {
				if _, ok := line[k]; !ok {
					t.Errorf("%s sample %d: no %q", task, i, k)
				}
			}
		}
		switch task {
		case "arc_easy", "blimp_anaphor_gender_agreement":
			for _, m := range []string{"acc", "acc_norm"} {
				if task != "arc_easy" && m == "acc_norm" {
					continue
				}
				sum := 0.0
				for i, s := range ss {
					sum += back[i].Values[m]
					if len(s.Resps) != len(s.Arguments) || len(s.FilteredResps) != len(s.Arguments) || len(s.Arguments) < 2 {
						t.Errorf("%s doc %d: %d arguments, %d resps, %d filtered", task, i, len(s.Arguments), len(s.Resps), len(s.FilteredResps))
					}
				}
				if got := metric(t, logged, task, m); !near(got, sum/7) {
					t.Errorf("%s %s = %v, samples average %v", task, m, got, sum/7)
				}
			}
		case "lambada_openai":
			for i, s := range ss {
				if _, ok := back[i].Values["perplexity"]; !ok || s.Target != s.Arguments[0][1] {
					t.Errorf("lambada doc %d: values %v, target %v, arguments %v", i, back[i].Values, s.Target, s.Arguments)
				}
			}
		case "tinystories_bpb":
			for i, s := range ss {
				w, ok := s.Values["bits_per_byte"].([]float64)
				if !ok || len(w) != 2 || w[1] <= 0 {
					t.Errorf("tinystories_bpb doc %d: bits_per_byte item %v, want [ll, bytes]", i, s.Values["bits_per_byte"])
				}
				if _, ok := back[i].Values["bits_per_byte"]; ok {
					t.Errorf("doc %d: a weighted item parsed as a number", i)
				}
			}
		}
	}
}

func TestParseSamplesErrors(t *testing.T) {
	for _, in := range []string{"{", `{"doc_id":1}`, `{"doc_id":"x","doc_hash":"","filter":"none","metrics":[]}`} {
		if _, err := ParseSamples([]byte(in + "\n")); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}
