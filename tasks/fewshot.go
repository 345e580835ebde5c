package tasks

import (
	"fmt"
	"strings"

	"github.com/nanomamba-edge/harness/rng"
)

// FewshotSeed seeds the few-shot sampler, as lm-eval's fewshot_random_seed.
const FewshotSeed = 1234

// sampler draws few-shot examples for one task from one rng stream, consumed
// in document order.
type sampler struct {
	pool      []*rendered
	sameSplit bool // the pool is the eval split: draw n+1, drop the eval doc
	firstN    bool
	stream    *rng.Stream
}

func newSampler(task string, pool []*rendered, sameSplit, firstN bool) *sampler {
	return &sampler{pool: pool, sameSplit: sameSplit, firstN: firstN,
		stream: rng.New(FewshotSeed, "fewshot/"+task)}
}

// draw returns the pool indices of n distinct examples in draw order
// (a uniformly random ordered sample without replacement, or the first n).
func (s *sampler) draw(n int) []int {
	n = min(n, len(s.pool))
	out := make([]int, 0, n)
	if s.firstN {
		for i := 0; i < n; i++ {
			out = append(out, i)
		}
		return out
	}
	taken := make(map[int]bool, n)
	for len(out) < n {
		i := s.stream.Intn(len(s.pool))
		if !taken[i] {
			taken[i] = true
			out = append(out, i)
		}
	}
	return out
}

// examples picks n few-shot examples for the eval document at index docIdx.
func (s *sampler) examples(n, docIdx int) ([]*rendered, error) {
	if n == 0 {
		return nil, nil
	}
	need := n
	if s.sameSplit {
		need = n + 1
		if need > len(s.pool) {
			need = len(s.pool)
		}
	}
	if need > len(s.pool) || (!s.sameSplit && n > len(s.pool)) {
		return nil, fmt.Errorf("num_fewshot %d exceeds the few-shot pool of %d documents", n, len(s.pool))
	}
	idx := s.draw(need)
	out := make([]*rendered, 0, n)
	for _, i := range idx {
		if s.sameSplit && i == docIdx {
			continue
		}
		if len(out) < n {
			out = append(out, s.pool[i])
		}
	}
	return out, nil
}

// buildContext assembles description + Σ(q + target_delimiter + a +
// fewshot_delimiter) + q. In multiple-input mode the document's own text is
// left out: each choice is appended to the context instead.
func buildContext(c *TaskConfig, doc *rendered, shots []*rendered) string {
	var sb strings.Builder
	sb.WriteString(c.Description)
	for _, ex := range shots {
		sb.WriteString(ex.text)
		sb.WriteString(c.targetDelimiter())
		sb.WriteString(ex.goldText)
		sb.WriteString(c.fewshotDelimiter())
	}
	if !doc.multi {
		sb.WriteString(doc.text)
	}
	return sb.String()
}
