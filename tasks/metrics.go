package tasks

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/rng"
)

// Aggregations.
const (
	aggMean               = "mean"
	aggPerplexity         = "perplexity"
	aggWeightedPerplexity = "weighted_perplexity"
	aggBitsPerByte        = "bits_per_byte"
)

type metricSpec struct {
	agg    string
	higher bool
}

// metricSpecs lists the metrics each output type computes, with lm-eval's
// default aggregation and direction.
var metricSpecs = map[string]map[string]metricSpec{
	MultipleChoice: {
		"acc":         {aggMean, true},
		"acc_norm":    {aggMean, true},
		"acc_bytes":   {aggMean, true},
		"exact_match": {aggMean, true},
	},
	Loglikelihood: {
		"perplexity": {aggPerplexity, false},
		"acc":        {aggMean, true},
	},
	LoglikelihoodRolling: {
		"word_perplexity": {aggWeightedPerplexity, false},
		"byte_perplexity": {aggWeightedPerplexity, false},
		"bits_per_byte":   {aggBitsPerByte, false},
	},
	GenerateUntil: {
		"exact_match": {aggMean, true},
	},
}

// item is one document's contribution to a metric: a value, and for the
// weighted aggregations a weight (words or bytes).
type item struct{ v, w float64 }

// DefaultBootstrapIters is the number of bootstrap resamples behind a
// perplexity standard error. lm-eval defaults to 100000; 1000 keeps a
// 5000-document task to a fraction of a second on two cores (100000 takes
// about 20 s) and gives the standard error to about 2% relative. Set
// Options.BootstrapIters to 100000 to match lm-eval's count.
const DefaultBootstrapIters = 1000

const bootstrapChunk = 1000

// aggregate turns items into a value and a standard error; ok is false when
// the standard error is not defined (lm-eval's "N/A").
func aggregate(agg string, items []item, task, metric string, iters, threads int) (val, se float64, seOK bool) {
	n := len(items)
	if n == 0 {
		return 0, 0, false
	}
	switch agg {
	case aggMean:
		val = meanOf(items)
		if n < 2 {
			return val, 0, false
		}
		return val, sampleSD(items, val) / math.Sqrt(float64(n)), true
	case aggPerplexity:
		val = kernels.Exp(-meanOf(items))
		if iters <= 0 {
			return val, 0, false
		}
		return val, bootstrapPerplexity(items, task, metric, iters, threads), true
	case aggWeightedPerplexity:
		sv, sw := sums(items)
		return kernels.Exp(-sv / sw), 0, false
	case aggBitsPerByte:
		sv, sw := sums(items)
		return -sv / (sw * math.Ln2), 0, false
	}
	return 0, 0, false
}

func meanOf(items []item) float64 {
	s := 0.0
	for _, it := range items {
		s += it.v
	}
	return s / float64(len(items))
}

func sums(items []item) (sv, sw float64) {
	for _, it := range items {
		sv += it.v
		sw += it.w
	}
	return sv, sw
}

// sampleSD is the standard deviation with an n-1 denominator.
func sampleSD(items []item, mean float64) float64 {
	ss := 0.0
	for _, it := range items {
		d := it.v - mean
		ss += float64(d * d)
	}
	return math.Sqrt(ss / float64(len(items)-1))
}

// bootstrapPerplexity resamples the items with replacement iters times
// (in chunks of bootstrapChunk, each chunk with its own rng stream keyed by
// seed 0, task, metric and chunk index) and returns the sample standard
// deviation of exp(-mean) over the resamples.
func bootstrapPerplexity(items []item, task, metric string, iters, threads int) float64 {
	vals := make([]float64, iters)
	chunks := (iters + bootstrapChunk - 1) / bootstrapChunk
	n := len(items)
	kernels.Parallel(threads, chunks, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			s := rng.New(0, fmt.Sprintf("bootstrap/%s/%s/%d", task, metric, c))
			for k := c * bootstrapChunk; k < min(iters, (c+1)*bootstrapChunk); k++ {
				sum := 0.0
				for j := 0; j < n; j++ {
					sum += items[s.Intn(n)].v
				}
				vals[k] = kernels.Exp(-sum / float64(n))
			}
		}
	})
	vi := make([]item, iters)
	for i, v := range vals {
		vi[i].v = v
	}
	if iters < 2 {
		return 0
	}
	return sampleSD(vi, meanOf(vi))
}

// mcItem computes a multiple-choice document's metric value. The chosen
// answer is vec.Argmax of the (normalized) log-likelihoods: the first
// maximum on ties, as numpy's argmax in lm-eval.
func mcItem(metric string, lls []float64, greedy []bool, choices []string, gold int) float64 {
	hit := func(i int) float64 {
		if i == gold {
			return 1
		}
		return 0
	}
	norm := func(length func(string) int) float64 {
		x := make([]float64, len(lls))
		for i, ll := range lls {
			x[i] = ll / float64(max(1, length(choices[i])))
		}
		return hit(vec.Argmax(x))
	}
	switch metric {
	case "acc":
		return hit(vec.Argmax(lls))
	case "acc_norm":
		return norm(utf8.RuneCountInString)
	case "acc_bytes":
		return norm(func(s string) int { return len(s) })
	case "exact_match":
		if greedy[gold] {
			return 1
		}
		return 0
	}
	return 0
}

// CountWords counts words as len(re.split(r"\s+", text)) does in Python:
// leading or trailing whitespace yields an extra (empty) piece.
func CountWords(s string) int {
	n := 1
	inSpace := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !inSpace {
				n++
			}
			inSpace = true
		} else {
			inSpace = false
		}
	}
	return n
}

// applyFilters runs a filter chain over a generated answer.
func applyFilters(f FilterConfig, s string) (string, error) {
	for _, st := range f.Filter {
		if st.Function != "regex" {
			continue // take_first: one generation per document already
		}
		re, err := regexp.Compile(st.RegexPattern)
		if err != nil {
			return "", fmt.Errorf("filter %q: regex_pattern: %w", f.Name, err)
		}
		fallback := st.Fallback
		if fallback == "" {
			fallback = "[invalid]"
		}
		matches := re.FindAllStringSubmatch(s, -1)
		sel := st.GroupSelect
		if sel < 0 {
			sel += len(matches)
		}
		if sel < 0 || sel >= len(matches) {
			s = fallback
			continue
		}
		// Python's re.findall: the whole match without groups, the group
		// with one, else a tuple whose first non-empty member lm-eval
		// takes (the fallback when all are empty).
		m := matches[sel]
		switch len(m) {
		case 1:
			s = m[0]
		case 2:
			s = m[1]
		default:
			s = fallback
			for _, g := range m[1:] {
				if g != "" {
					s = g
					break
				}
			}
			if s == fallback {
				continue
			}
		}
		s = strings.TrimSpace(s)
	}
	return s, nil
}

// exactMatch compares a prediction with a reference, with the optional
// kwargs ignore_case, ignore_punctuation and regexes_to_ignore.
func exactMatch(pred, ref string, kw map[string]any) (float64, error) {
	if rs, ok := kw["regexes_to_ignore"].([]any); ok {
		for _, r := range rs {
			re, err := regexp.Compile(toString(r))
			if err != nil {
				return 0, fmt.Errorf("exact_match regexes_to_ignore: %w", err)
			}
			pred, ref = re.ReplaceAllString(pred, ""), re.ReplaceAllString(ref, "")
		}
	}
	if b, _ := kw["ignore_case"].(bool); b {
		pred, ref = strings.ToLower(pred), strings.ToLower(ref)
	}
	if b, _ := kw["ignore_punctuation"].(bool); b {
		strip := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r < 128 && unicode.IsPunct(r) || r < 128 && unicode.IsSymbol(r) {
					return -1
				}
				return r
			}, s)
		}
		pred, ref = strip(pred), strip(ref)
	}
	if pred == ref {
		return 1, nil
	}
	return 0, nil
}
