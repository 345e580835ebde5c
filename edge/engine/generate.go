package engine

import (
	"fmt"

	"github.com/nanomamba-edge/harness/kernels/vec"
)

// Argmax returns the first index of the largest logit: vec.Argmax, whose
// result is that of the scan "best = i when xs[i] > xs[best]" for every
// input (NaN logits are never chosen, unless the first one is NaN).
func Argmax(xs []float32) int { return vec.Argmax(xs) }

// GenerateTokens continues ctx greedily for at most maxTokens tokens, as
// the harness's generate does (experiment.ModelLM.Generate): the context is
// cut to its last context−maxTokens tokens, generation stops at EOS (when
// the file has a tokenizer) or at the context length. eos < 0 disables the
// EOS stop.
func (m *Model) GenerateTokens(ctx []int32, maxTokens int, eos int32) ([]int32, error) {
	if len(ctx) == 0 {
		return nil, fmt.Errorf("engine: generation needs at least one context token")
	}
	if keep := m.Context - maxTokens; keep > 0 && len(ctx) > keep {
		ctx = ctx[len(ctx)-keep:]
	}
	if len(ctx) > m.Context {
		ctx = ctx[len(ctx)-m.Context:]
	}
	st := m.NewState()
	logits, err := m.Prefill(st, ctx)
	if err != nil {
		return nil, err
	}
	var gen []int32
	for len(gen) < maxTokens {
		next := int32(Argmax(logits))
		if next == eos {
			break
		}
		gen = append(gen, next)
		if len(ctx)+len(gen) >= m.Context {
			break
		}
		if logits, err = m.Next(st, next); err != nil {
			return nil, err
		}
	}
	return gen, nil
}

// Generate continues a text prompt greedily: the context is the EOS token
// (the document separator the model was trained with) followed by the
// prompt's tokens. It returns the generated text (without the prompt).
func (m *Model) Generate(prompt string, maxTokens int) (string, error) {
	if m.tok == nil {
		return "", fmt.Errorf("engine: the file has no tokenizer (tokenizer.ggml.*); use GenerateTokens")
	}
	ctx := append([]int32{m.tok.EOS()}, m.tok.Encode(prompt)...)
	gen, err := m.GenerateTokens(ctx, maxTokens, m.tok.EOS())
	if err != nil {
		return "", err
	}
	return m.tok.Decode(gen), nil
}
