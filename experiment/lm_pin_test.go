package experiment

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/tasks"
)

// scorePinHash is the SHA-256 of the scores that the eval adapter gave the
// requests of TestScorePinnedBits when the registry's task scores were
// recorded: per request, the float64 bits of the log-likelihood (little
// endian) and one byte for the greedy flag. Any change of the scoring path
// (batching, padding, the softmax sum, its vector form) must keep it.
const scorePinHash = "33ff3d5f6bf52e40c6c3a8eb9d1669a4ca75227cde61e1b7c1cad206a6c4f1c7"

// TestScorePinnedBits: ModelLM.Score gives, bit for bit, the scores recorded
// with the code that produced the registry's results, on the requests of
// several task types (BLiMP pairs, multiple choice with shared contexts,
// WinoGrande's partial scoring, LAMBADA) plus long pseudo-random inputs up
// to the full context, for the tiny preset with random weights at its
// end-of-schedule quantization.
func TestScorePinnedBits(t *testing.T) {
	if testing.Short() {
		t.Skip("scores a few hundred requests")
	}
	lm := tinyEvalLM(t, 1)
	rec := &recordingLM{ModelLM: lm}
	names := []string{"blimp_anaphor_gender_agreement", "blimp_wh_island", "piqa", "hellaswag", "winogrande", "lambada_openai"}
	if _, err := tasks.Evaluate(benchRoot(t), rec, tasks.Options{Tasks: names, NumFewshot: -1, Limit: 12, Threads: 1, BootstrapIters: -1}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{lm.MaxLength(), 200, 65, 17, 3} {
		in := make([]int32, n)
		for i := range in {
			in[i] = int32((i*7919 + n*104729) % 2048)
		}
		k := max(1, n/2)
		tg := append(append([]int32(nil), in[n-k+1:]...), int32(n%2048))
		rec.reqs = append(rec.reqs, tasks.ScoreRequest{Input: in, Targets: tg, Start: n - k})
	}
	// Requests whose targets are the model's own greedy choices (found by
	// one forward pass here), so the greedy flag is pinned true as well.
	m := <-lm.replicas
	for _, n := range []int{24, 9} {
		in := make([]int32, n)
		for i := range in {
			in[i] = int32((i*31 + n*17) % 2048)
		}
		vocab := m.Config().Vocab
		start := n / 2
		tg := make([]int32, n-start)
		// Each target is the argmax after the inputs before it, which are
		// final when it is taken (the model is causal).
		for j := range tg {
			logits, err := m.Logits(in, 1, n)
			if err != nil {
				t.Fatal(err)
			}
			p := start + j - 1
			tg[j] = int32(vec.Argmax(logits[p*vocab : (p+1)*vocab]))
			in[start+j] = tg[j]
		}
		rec.reqs = append(rec.reqs, tasks.ScoreRequest{Input: in, Targets: tg, Start: start - 1})
	}
	lm.replicas <- m
	got, err := lm.Score(rec.reqs)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	greedy := 0
	for _, r := range got {
		var b [9]byte
		binary.LittleEndian.PutUint64(b[:8], math.Float64bits(r.LogLik))
		if r.Greedy {
			b[8] = 1
			greedy++
		}
		h.Write(b[:])
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if sum != scorePinHash {
		t.Errorf("scores of %d requests (%d greedy; first %v) hash to %s, recorded %s", len(got), greedy, got[0].LogLik, sum, scorePinHash)
	}
	if len(got) < 150 || greedy == 0 {
		t.Errorf("%d requests, %d greedy: the pin covers too little", len(got), greedy)
	}
}
