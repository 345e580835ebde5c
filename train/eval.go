package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/data"
)

// samplePrompts are the prompts of the greedy samples stored with a run;
// the empty prompt starts from the document separator alone.
var samplePrompts = []string{"", "Once upon a time", "The little dog"}

// validate returns the mean validation loss (nats per token) and the bits
// per byte over the first train.eval_tokens tokens of the validation split
// (all of it when eval_tokens is 0), cut into non-overlapping windows of
// data.seq_len tokens scored in micro_batch-sized batches. The bytes are
// those of the scored target tokens' text; the EOS and BOS separators count
// no bytes (their loss still counts).
func (t *trainer) validate() (float64, float64, error) {
	val := t.ds.Val
	if len(val) < 2 {
		return 0, 0, errors.New("validation: the validation split holds fewer than 2 tokens")
	}
	avail := len(val) - 1
	if et := t.o.Config.Train.EvalTokens; et > 0 && et < avail {
		avail = et
	}
	seqLen, micro := t.plan.seqLen, t.plan.micro
	nSeq := avail / seqLen
	if nSeq == 0 { // shorter than one window: score what there is
		seqLen, nSeq = avail, 1
	}
	var sum float64
	var count int
	for s := 0; s < nSeq; s += micro {
		b := min(micro, nSeq-s)
		lo, hi := s*seqLen, (s+b)*seqLen
		l, n, err := t.model.Loss(val[lo:hi], val[lo+1:hi+1], b, seqLen)
		if err != nil {
			return 0, 0, fmt.Errorf("validation: %w", err)
		}
		sum += l
		count += n
	}
	if count == 0 {
		return 0, 0, errors.New("validation: no tokens were scored")
	}
	bytes := textBytes(t.ds.Tokenizer, val[1:nSeq*seqLen+1])
	if bytes == 0 {
		return 0, 0, errors.New("validation: the scored tokens decode to no bytes")
	}
	return sum / float64(count), sum / (float64(bytes) * math.Ln2), nil
}

// samples decodes train.sample_tokens greedy tokens (models.Model.Greedy)
// after each sample prompt, every prompt preceded by the document separator.
func (t *trainer) samples() ([]string, error) {
	n := t.o.Config.Train.SampleTokens
	if n <= 0 {
		return nil, nil
	}
	tok := t.ds.Tokenizer
	start := tok.BOS()
	if start < 0 {
		start = tok.EOS()
	}
	var out []string
	for _, prompt := range samplePrompts {
		ids := append([]int32{start}, tok.Encode(prompt)...)
		limit := n
		if ctxLen := t.o.Config.Model.Context; ctxLen > 0 {
			limit = min(n, ctxLen-len(ids))
		}
		st := t.model.NewState()
		var logits []float32
		var err error
		for _, id := range ids {
			if logits, err = t.model.Step(st, id); err != nil {
				return nil, fmt.Errorf("sample %q: %w", prompt, err)
			}
		}
		gen, err := t.model.Greedy(st, logits, limit, tok.EOS(), nil)
		if err != nil {
			return nil, fmt.Errorf("sample %q: %w", prompt, err)
		}
		out = append(out, prompt+tok.Decode(gen))
	}
	return out, nil
}

// textBytes counts the text bytes of ids, leaving out EOS and BOS.
func textBytes(tok *data.Tokenizer, ids []int32) int {
	n := 0
	eos, bos := tok.EOS(), tok.BOS()
	for _, id := range ids {
		if id != eos && id != bos {
			n += len(tok.Token(id))
		}
	}
	return n
}
