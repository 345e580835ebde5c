package tasks

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// scheduler sends groups of score requests to the model: longest group
// first, groups never split across batches (so requests sharing a context
// reach the model together), batches run on several goroutines. Results are
// written to slots chosen by group index, so they do not depend on timing.
type scheduler struct {
	ctx       context.Context // stops feeding requests when done; nil = never
	lm        LM
	batchSize int
	threads   int
	progress  func(done, total int)
}

func (s *scheduler) cancelled() bool { return s.err() != nil }

func (s *scheduler) err() error {
	if s.ctx == nil {
		return nil
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("evaluation interrupted: %w", err)
	}
	return nil
}

func groupLen(g []ScoreRequest) int {
	n := 0
	for _, r := range g {
		n = max(n, len(r.Input))
	}
	return n
}

func lessTokens(a, b []int32) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// run scores every group and returns the results in group order.
func (s *scheduler) run(groups [][]ScoreRequest) ([][]ScoreResult, error) {
	order := make([]int, len(groups))
	lens := make([]int, len(groups))
	total := 0
	for i, g := range groups {
		order[i] = i
		lens[i] = groupLen(g)
		total += len(g)
	}
	sort.SliceStable(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if lens[ia] != lens[ib] {
			return lens[ia] > lens[ib]
		}
		if len(groups[ia]) > 0 && len(groups[ib]) > 0 {
			return lessTokens(groups[ia][0].Input, groups[ib][0].Input)
		}
		return false
	})
	// At most batchSize requests a call, and few enough that every thread
	// gets about two calls' worth of work.
	batchSize := max(1, min(s.batchSize, (total+2*s.threads-1)/max(1, 2*s.threads)))
	var batches [][]int
	var cur []int
	n := 0
	for _, gi := range order {
		cur = append(cur, gi)
		n += len(groups[gi])
		if n >= batchSize {
			batches = append(batches, cur)
			cur, n = nil, 0
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}

	out := make([][]ScoreResult, len(groups))
	errs := make([]error, len(batches))
	var mu sync.Mutex
	done := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(1, s.threads); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				errs[b] = s.runBatch(groups, batches[b], out)
				if s.progress != nil {
					cnt := 0
					for _, gi := range batches[b] {
						cnt += len(groups[gi])
					}
					mu.Lock()
					done += cnt
					s.progress(done, total)
					mu.Unlock()
				}
			}
		}()
	}
	for b := range batches {
		if s.cancelled() {
			break
		}
		next <- b
	}
	close(next)
	wg.Wait()
	if err := s.err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *scheduler) runBatch(groups [][]ScoreRequest, batch []int, out [][]ScoreResult) error {
	var reqs []ScoreRequest
	for _, gi := range batch {
		reqs = append(reqs, groups[gi]...)
	}
	res, err := s.lm.Score(reqs)
	if err != nil {
		return fmt.Errorf("score %d requests: %w", len(reqs), err)
	}
	if len(res) != len(reqs) {
		return fmt.Errorf("score: model returned %d results for %d requests", len(res), len(reqs))
	}
	k := 0
	for _, gi := range batch {
		out[gi] = res[k : k+len(groups[gi])]
		k += len(groups[gi])
	}
	return nil
}

// genRequest is one generate_until request.
type genRequest struct {
	ctx   []int32
	max   int
	until []string
}

// generate runs the generation requests longest first on several goroutines.
func (s *scheduler) generate(reqs []genRequest) ([]string, error) {
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(reqs[order[a]].ctx) > len(reqs[order[b]].ctx) })
	out := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < max(1, s.threads); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := reqs[i]
				out[i], errs[i] = s.lm.Generate(r.ctx, r.max, r.until)
				if s.progress != nil {
					mu.Lock()
					done++
					s.progress(done, len(reqs))
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range order {
		if s.cancelled() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := s.err(); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("generate request %d: %w", i, err)
		}
	}
	return out, nil
}
