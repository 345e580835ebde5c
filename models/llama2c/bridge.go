package llama2c

import (
	"fmt"
	"slices"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/rng"
)

// ModelConfig returns the project model configuration that reproduces ck:
// attention in every layer, a SwiGLU FFN of width hidden_dim, RMSNorm eps
// 1e-5, RoPE θ = 10000 over adjacent pairs, context seq_len.
func ModelConfig(ck *Checkpoint) configs.ModelConfig {
	attn := make([]int, ck.NLayers)
	for i := range attn {
		attn[i] = i
	}
	return configs.ModelConfig{
		DModel:     ck.Dim,
		NLayers:    ck.NLayers,
		AttnLayers: attn,
		NHeads:     ck.NHeads,
		NKVHeads:   ck.NKVHeads,
		RopeTheta:  10000,
		FFN:        true,
		DFF:        ck.HiddenDim,
		Vocab:      ck.Vocab,
		Context:    ck.SeqLen,
		NormEps:    1e-5,
		InitStd:    0.02,
	}
}

// QuantConfig returns the quantization settings under which the project
// model computes in plain float32: no SubLN, no activation quantization
// (the weight quantizer stays at its Float state).
func QuantConfig() configs.QuantConfig {
	return configs.QuantConfig{SubLN: false, Scale: "absmean", ActBits: 0, Alpha4: 1, Alpha2: 1}
}

// tensor is one checkpoint tensor with the project parameter it fills.
type tensor struct {
	name  string
	shape []int
	data  []float32
}

func (ck *Checkpoint) tensors() []tensor {
	dim, hid, kv := ck.Dim, ck.HiddenDim, ck.KVDim()
	ts := []tensor{{"tok_embed", []int{ck.Vocab, dim}, ck.TokenEmbedding}}
	for i, l := range ck.Layers {
		p := fmt.Sprintf("layers.%d.", i)
		ts = append(ts,
			tensor{p + "norm1", []int{dim}, l.AttnNorm},
			tensor{p + "attn.wq", []int{dim, dim}, l.WQ},
			tensor{p + "attn.wk", []int{kv, dim}, l.WK},
			tensor{p + "attn.wv", []int{kv, dim}, l.WV},
			tensor{p + "attn.wo", []int{dim, dim}, l.WO},
			tensor{p + "norm2", []int{dim}, l.FFNNorm},
			tensor{p + "ffn.w1", []int{hid, dim}, l.W1},
			tensor{p + "ffn.w2", []int{dim, hid}, l.W2},
			tensor{p + "ffn.w3", []int{hid, dim}, l.W3},
		)
	}
	return append(ts, tensor{"norm_f", []int{dim}, ck.FinalNorm})
}

// Load reads a llama2.c checkpoint and builds the project model holding
// its weights, copied in by parameter name. It fails on an unshared
// classifier (the project model ties the LM head to the embedding) and on
// any missing parameter or shape mismatch.
func Load(path string) (*models.Model, *Checkpoint, error) {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromCheckpoint(ck)
	if err != nil {
		return nil, nil, fmt.Errorf("llama2c: load %s: %w", path, err)
	}
	return m, ck, nil
}

// FromCheckpoint builds the project model holding ck's weights.
func FromCheckpoint(ck *Checkpoint) (*models.Model, error) {
	if !ck.SharedClassifier {
		return nil, fmt.Errorf("checkpoint has an unshared classifier (negative vocab_size); the project model ties its LM head to tok_embed")
	}
	m, err := models.New(ModelConfig(ck), QuantConfig(), 0)
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	filled := map[string]bool{}
	for _, t := range ck.tensors() {
		filled[t.name] = true
		p := m.Param(t.name)
		if p == nil {
			return nil, fmt.Errorf("model has no parameter %q for the checkpoint tensor of shape %v", t.name, t.shape)
		}
		if !slices.Equal(p.Shape, t.shape) || len(p.Data) != len(t.data) {
			return nil, fmt.Errorf("parameter %q has shape %v, checkpoint tensor has %v", t.name, p.Shape, t.shape)
		}
		copy(p.Data, t.data)
	}
	for _, p := range m.Params() {
		if !filled[p.Name] {
			return nil, fmt.Errorf("model parameter %q (shape %v) has no llama2.c tensor", p.Name, p.Shape)
		}
	}
	return m, nil
}

// Generate runs run.c's generate loop on the project model via Step: the
// prompt (encoded with BOS) is forced, then each next token is the argmax
// of the logits at temperature 0, or a draw from softmax(logits/T) using
// rng.New(seed, "generate") otherwise. It stops when BOS is produced or
// after steps positions (steps ≤ 0 or above the context means the
// context).
func Generate(m *models.Model, tok *Tokenizer, prompt string, steps int, temperature float64, seed int64) (string, error) {
	if temperature < 0 || temperature != temperature {
		return "", fmt.Errorf("llama2c: temperature %v, want ≥ 0", temperature)
	}
	st := m.NewState()
	draws := rng.New(seed, "generate")
	return generateLoop(tok, prompt, steps, m.Config().Context, func(token int32, pos int) (int32, error) {
		logits, err := m.Step(st, token)
		if err != nil {
			return 0, fmt.Errorf("llama2c: generate at position %d: %w", pos, err)
		}
		if temperature == 0 {
			return int32(vec.Argmax(logits)), nil
		}
		return models.Sample(logits, temperature, draws.Float64()), nil
	})
}

// TeacherForcedLoss returns the mean next-token cross-entropy (nats per
// token) of the project model on text encoded with a leading BOS, and the
// number of tokens scored. The token stream is cut into disjoint windows of
// at most seqLen predictions; each window starts with an empty context, and
// every token after the first is scored exactly once.
func TeacherForcedLoss(m *models.Model, tok *Tokenizer, text string, seqLen int) (float64, int, error) {
	if ctx := m.Config().Context; seqLen < 1 || seqLen > ctx {
		return 0, 0, fmt.Errorf("llama2c: loss window %d, want 1..%d (the model context)", seqLen, ctx)
	}
	toks := tok.Encode(text, true, false)
	if len(toks) < 2 {
		return 0, 0, fmt.Errorf("llama2c: text %q encodes to %d tokens, need at least 2 to score one", text, len(toks))
	}
	var total float64
	n := 0
	for start := 0; start+1 < len(toks); start += seqLen {
		w := min(seqLen, len(toks)-1-start)
		sum, count, err := m.Loss(toks[start:start+w], toks[start+1:start+w+1], 1, w)
		if err != nil {
			return 0, 0, fmt.Errorf("llama2c: loss window at token %d: %w", start, err)
		}
		total += sum
		n += count
	}
	return total / float64(n), n, nil
}
