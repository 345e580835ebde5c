package engine

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// TestEmbeddingBPB reports the validation bits per byte of the trained
// micro run with its tied embedding stored as F32, F16, Q8_0 and Q4_0, as
// the training path computes them with the de-quantized embedding (the
// packed engine with the exact head agrees with it; see
// TestAgreesWithTrainingPath) over the run's train.eval_tokens validation
// window, and for Q8_0 / Q4_0 also with the packed engine's int8 head
// (decoding each seq_len window from a fresh state). Bytes are those of the
// scored targets' text, separators counting none, as train's validation
// does.
func TestEmbeddingBPB(t *testing.T) {
	tr := microTrained(t)
	val := tr.Dataset.Val
	seq := tr.Config.Data.SeqLen
	avail := len(val) - 1
	if et := tr.Config.Train.EvalTokens; et > 0 && et < avail {
		avail = et
	}
	nSeq := avail / seq
	if nSeq == 0 {
		t.Skip("validation split shorter than one window")
	}
	tok := tr.Tokenizer
	var bytes int
	for _, id := range val[1 : nSeq*seq+1] {
		if id != tok.EOS() && id != tok.BOS() {
			bytes += len(tok.Token(id))
		}
	}
	bpb := func(nats float64) float64 { return nats / (float64(bytes) * math.Ln2) }
	results := map[string]float64{}
	for _, et := range []gguf.Type{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0} {
		e, f := exportEngine(t, tr, edge.Options{Weights: gguf.TQ2_0, Embed: et})
		ref := reference(t, tr, f)
		sum, _, err := ref.Loss(val[:nSeq*seq], val[1:nSeq*seq+1], nSeq, seq)
		if err != nil {
			t.Fatal(err)
		}
		results[et.String()] = bpb(sum)
		t.Logf("embedding %s, training path (exact head): val bpb %.4f over %d tokens, %d bytes", et, bpb(sum), nSeq*seq, bytes)
		if et != gguf.Q8_0 && et != gguf.Q4_0 {
			continue
		}
		if err := e.SetHead(HeadInt8); err != nil {
			t.Fatal(err)
		}
		var nats float64
		st := e.NewState()
		for s := 0; s < nSeq; s++ {
			st.Reset()
			for i := 0; i < seq; i++ {
				l, err := e.Next(st, val[s*seq+i])
				if err != nil {
					t.Fatal(err)
				}
				mx := math.Inf(-1)
				for _, v := range l {
					mx = max(mx, float64(v))
				}
				var z float64
				for _, v := range l {
					z += math.Exp(float64(v) - mx)
				}
				nats += mx + math.Log(z) - float64(l[val[s*seq+i+1]])
			}
		}
		results[et.String()+" int8 head"] = bpb(nats)
		t.Logf("embedding %s, packed engine with the int8 head: val bpb %.4f", et, bpb(nats))
	}
	for k, v := range results {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s: val bpb %v", k, v)
		}
	}
}
