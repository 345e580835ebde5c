package experiment

import (
	"math"
	"sync"
	"testing"

	"github.com/nanomamba-edge/harness/tasks"
)

// recordingLM keeps every score request that reaches it.
type recordingLM struct {
	*ModelLM
	mu   sync.Mutex
	reqs []tasks.ScoreRequest
}

func (r *recordingLM) Score(reqs []tasks.ScoreRequest) ([]tasks.ScoreResult, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, reqs...)
	r.mu.Unlock()
	return r.ModelLM.Score(reqs)
}

// scoreAlone scores one request with its own unpadded forward pass (batch
// 1, the input's own length): the reference for the batched Score.
func scoreAlone(tb testing.TB, l *ModelLM, r tasks.ScoreRequest) tasks.ScoreResult {
	tb.Helper()
	m := <-l.replicas
	defer func() { l.replicas <- m }()
	n, vocab := len(r.Input), m.Config().Vocab
	logits, err := m.Logits(r.Input, 1, n)
	if err != nil {
		tb.Fatal(err)
	}
	res := tasks.ScoreResult{Greedy: true}
	for j, t := range r.Targets {
		pos := r.Start + j
		ll, g := logSoftmaxAt(logits[pos*vocab:(pos+1)*vocab], int(t))
		res.LogLik += ll
		res.Greedy = res.Greedy && g
	}
	return res
}

// TestScoreMatchesUnbatched: the batched, length-bucketed and padded Score
// gives bit for bit the scores of one unpadded forward pass per request,
// on the requests of every shipped scored task type (BLiMP's empty
// contexts, multiple-choice with shared contexts, WinoGrande's partial
// scoring, LAMBADA's loglikelihood, rolling windows at the full context
// length), for the tiny preset at its end-of-schedule quantization.
func TestScoreMatchesUnbatched(t *testing.T) {
	if testing.Short() {
		t.Skip("scores about a thousand requests twice")
	}
	lm := tinyEvalLM(t, 2)
	rec := &recordingLM{ModelLM: lm}
	names := []string{"blimp_anaphor_gender_agreement", "blimp_wh_island", "piqa", "hellaswag", "arc_easy", "winogrande", "lambada_openai", "tinystories_bpb"}
	if _, err := tasks.Evaluate(benchRoot(t), rec, tasks.Options{Tasks: names, NumFewshot: -1, Limit: 24, Threads: 2, BootstrapIters: -1}); err != nil {
		t.Fatal(err)
	}
	// Long inputs up to the full context, which the limited tasks above do
	// not reach: pseudo-random tokens, the last third scored.
	for _, n := range []int{lm.MaxLength(), lm.MaxLength() - 1, 129, 97, 33} {
		in := make([]int32, n)
		for i := range in {
			in[i] = int32((i*7919 + n*104729) % 2048)
		}
		k := n / 3
		tg := append(append([]int32(nil), in[n-k+1:]...), 5)
		rec.reqs = append(rec.reqs, tasks.ScoreRequest{Input: in, Targets: tg, Start: n - k})
	}
	got, err := lm.Score(rec.reqs)
	if err != nil {
		t.Fatal(err)
	}
	lens := map[int]bool{}
	for i, r := range rec.reqs {
		lens[len(r.Input)] = true
		want := scoreAlone(t, lm, r)
		if math.Float64bits(got[i].LogLik) != math.Float64bits(want.LogLik) || got[i].Greedy != want.Greedy {
			t.Fatalf("request %d (%d tokens, %d targets): batched %v/%v, alone %v/%v", i, len(r.Input), len(r.Targets), got[i].LogLik, got[i].Greedy, want.LogLik, want.Greedy)
		}
	}
	if len(rec.reqs) < 400 || !lens[lm.MaxLength()] {
		t.Errorf("%d requests of %d lengths (full context %v): the check covers too little", len(rec.reqs), len(lens), lens[lm.MaxLength()])
	}
}

func TestScoreBucket(t *testing.T) {
	for _, c := range []struct{ n, max, want int }{
		{1, 256, 4}, {4, 256, 4}, {5, 256, 8}, {16, 256, 16}, {17, 256, 20}, {32, 256, 32}, {33, 256, 40},
		{64, 256, 64}, {65, 256, 80}, {129, 256, 160}, {250, 256, 256}, {256, 256, 256}, {7, 6, 6},
	} {
		if got := scoreBucket(c.n, c.max); got != c.want {
			t.Errorf("scoreBucket(%d, %d) = %d, want %d", c.n, c.max, got, c.want)
		}
	}
}

// TestScoreErrors: malformed requests are refused with the request named.
func TestScoreErrors(t *testing.T) {
	lm := tinyEvalLM(t, 1)
	for _, r := range []tasks.ScoreRequest{
		{},
		{Input: make([]int32, lm.MaxLength()+1)},
		{Input: []int32{1, 2}, Targets: []int32{3, 4}, Start: 1},
		{Input: []int32{1, 2}, Targets: []int32{3}, Start: -1},
	} {
		if _, err := lm.Score([]tasks.ScoreRequest{{Input: []int32{1}}, r}); err == nil {
			t.Errorf("request %+v accepted", r)
		}
	}
}
