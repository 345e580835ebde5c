package engine

import (
	"math"
	"os"
	"testing"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// TestEmbeddingBPB reports the validation bits per byte of the trained
// micro run with its tied embedding stored as F32, F16, Q8_0 and Q4_0 (and
// Q3_K where d_model is a multiple of 256), as
// the training path computes them with the de-quantized embedding (the
// packed engine with the exact head agrees with it; see
// TestAgreesWithTrainingPath) over the run's train.eval_tokens validation
// window, and for Q8_0 / Q4_0 / Q3_K also with the packed engine's int8 head
// (decoding each seq_len window from a fresh state). Bytes are those of the
// scored targets' text, separators counting none, as train's validation
// does.
func TestEmbeddingBPB(t *testing.T) {
	embeddingBPB(t, microTrained(t))
}

// TestEmbeddingBPBRun is TestEmbeddingBPB for a finished training run of a
// registry: EDGE_BPB_RUN=<hash> EDGE_BPB_REGISTRY=<a copy of registry.db>
// EDGE_BPB_ROOT=<project root with runs/ and datasets/>. The registry copy
// is opened read-write by the registry package, so point it at a copy.
func TestEmbeddingBPBRun(t *testing.T) {
	hash, reg, root := os.Getenv("EDGE_BPB_RUN"), os.Getenv("EDGE_BPB_REGISTRY"), os.Getenv("EDGE_BPB_ROOT")
	if hash == "" || reg == "" || root == "" {
		t.Skip("set EDGE_BPB_RUN, EDGE_BPB_REGISTRY and EDGE_BPB_ROOT to measure a trained run")
	}
	db, err := registry.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: t.TempDir()}
	tr, err := env.LoadTrained(hash)
	if err != nil {
		t.Fatal(err)
	}
	embeddingBPB(t, tr)
}

func embeddingBPB(t *testing.T, tr *experiment.Trained) {
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
	types := []gguf.Type{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0}
	if tr.Config.Model.DModel%gguf.QK_K == 0 {
		types = append(types, gguf.Q3_K) // its 256-element blocks fit the rows
	}
	wt := gguf.TQ2_0
	if q := tr.Model.Quant(); q.From == models.Float && q.To == models.Float {
		wt = gguf.F16 // a float-weight run (e.g. a distillation teacher)
	}
	for _, et := range types {
		e, f := exportEngine(t, tr, edge.Options{Weights: wt, Embed: et})
		ref := reference(t, tr, f)
		sum, _, err := ref.Loss(val[:nSeq*seq], val[1:nSeq*seq+1], nSeq, seq)
		if err != nil {
			t.Fatal(err)
		}
		results[et.String()] = bpb(sum)
		t.Logf("embedding %s, training path (exact head): val bpb %.5f over %d tokens, %d bytes", et, bpb(sum), nSeq*seq, bytes)
		if et != gguf.Q8_0 && et != gguf.Q4_0 && et != gguf.Q3_K {
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
		t.Logf("embedding %s, packed engine with the int8 head: val bpb %.5f", et, bpb(nats))
	}
	for k, v := range results {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s: val bpb %v", k, v)
		}
	}
}
