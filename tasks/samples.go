package tasks

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Sample is one document's record in lm-eval's per-sample log
// (--log_samples): the document, its target, the requests' arguments, the
// model's responses before and after the filter, and the document's value
// of each metric. Generation tasks with a filter list have one record per
// document and filter. Unlike lm-eval, which writes responses as Python
// strings ("-4.25", "False"), responses are JSON numbers and booleans.
type Sample struct {
	DocID int
	Doc   map[string]any
	// Target is the gold choice index (multiple_choice) or the target text.
	Target any
	// Arguments are the requests' arguments in order: (context,
	// continuation) for log-likelihoods, (text) for rolling ones,
	// (context, generation kwargs) for generation.
	Arguments [][]any
	// Resps holds each request's responses: [[ll, is_greedy]] for a
	// log-likelihood, [[ll]] for a rolling one, [text] for generation.
	Resps []any
	// FilteredResps holds each request's response after the filter.
	FilteredResps []any
	Filter        string
	// Metrics names the task's metrics; Values holds each one's item for
	// this document: a number, or [ll, weight] for the weighted
	// aggregations (words or bytes).
	Metrics []string
	Values  map[string]any
}

func newSample(c *TaskConfig, id int, doc map[string]any, target any, args [][]any, resps, filtered []any, filter string, items map[string][]item, i int) Sample {
	s := Sample{DocID: id, Doc: doc, Target: target, Arguments: args, Resps: resps, FilteredResps: filtered, Filter: filter, Values: map[string]any{}}
	for _, m := range c.MetricList {
		s.Metrics = append(s.Metrics, m.Metric)
		its := items[m.Metric+","+filter]
		if i >= len(its) {
			continue
		}
		switch metricSpecs[c.OutputType][m.Metric].agg {
		case aggWeightedPerplexity, aggBitsPerByte:
			s.Values[m.Metric] = []float64{its[i].v, its[i].w}
		default:
			s.Values[m.Metric] = its[i].v
		}
	}
	return s
}

func hashString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// MarshalJSON writes the record with lm-eval's keys in a fixed order:
// doc_id, doc, target, arguments ({"gen_args_<i>": {"arg_<j>": …}}),
// resps, filtered_resps, filter, metrics, doc_hash (sha256 of the
// document's JSON, keys sorted), prompt_hash (of the first request's first
// argument), target_hash (of the target as text), then one key per metric.
func (s Sample) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	field := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("sample %d field %s: %w", s.DocID, k, err)
		}
		b.Write(vb)
		return nil
	}
	b.WriteByte('{')
	docJSON, err := json.MarshalIndent(s.Doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sample %d doc: %w", s.DocID, err)
	}
	args := make(map[string]map[string]any, len(s.Arguments))
	prompt := ""
	for i, a := range s.Arguments {
		m := map[string]any{}
		for j, x := range a {
			m["arg_"+strconv.Itoa(j)] = x
		}
		args["gen_args_"+strconv.Itoa(i)] = m
		if i == 0 && len(a) > 0 {
			prompt, _ = a[0].(string)
		}
	}
	resps, filtered := s.Resps, s.FilteredResps
	if resps == nil {
		resps = []any{}
	}
	if filtered == nil {
		filtered = []any{}
	}
	for _, kv := range []struct {
		k string
		v any
	}{
		{"doc_id", s.DocID}, {"doc", s.Doc}, {"target", s.Target}, {"arguments", args},
		{"resps", resps}, {"filtered_resps", filtered}, {"filter", s.Filter}, {"metrics", s.Metrics},
		{"doc_hash", hashString(string(docJSON))}, {"prompt_hash", hashString(prompt)}, {"target_hash", hashString(fmt.Sprint(s.Target))},
	} {
		if err := field(kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	for _, m := range s.Metrics {
		if v, ok := s.Values[m]; ok {
			if err := field(m, v); err != nil {
				return nil, err
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// SamplesJSONL renders records as JSON Lines, one record a line.
func SamplesJSONL(samples []Sample) ([]byte, error) {
	var b bytes.Buffer
	for _, s := range samples {
		line, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// LoggedSample is what ParseSamples reads back from one line of a sample
// log: the document, the filter and every numeric metric value (weighted
// items [ll, weight] are left out: they are not means over documents).
type LoggedSample struct {
	DocID   int
	DocHash string
	Filter  string
	Values  map[string]float64
}

// ParseSamples reads a sample log written by SamplesJSONL. A malformed
// line is an error naming the line.
func ParseSamples(b []byte) ([]LoggedSample, error) {
	var out []LoggedSample
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("sample log line %d: %w", line, err)
		}
		var s LoggedSample
		var metrics []string
		for k, dst := range map[string]any{"doc_id": &s.DocID, "doc_hash": &s.DocHash, "filter": &s.Filter, "metrics": &metrics} {
			v, ok := raw[k]
			if !ok {
				return nil, fmt.Errorf("sample log line %d: no %q", line, k)
			}
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("sample log line %d: %s: %w", line, k, err)
			}
		}
		s.Values = map[string]float64{}
		for _, m := range metrics {
			var f float64
			if v, ok := raw[m]; ok && json.Unmarshal(v, &f) == nil {
				s.Values[m] = f
			}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sample log line %d: %w", line+1, err)
	}
	return out, nil
}
