package engine

import (
	"fmt"
	"time"

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
	t0 := time.Now()
	logits, err := m.Prefill(st, ctx)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	m.gen = Generation{PromptTokens: len(ctx), Prefill: t1.Sub(t0)}
	defer func() { m.gen.Decode = time.Since(t1) }()
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
		m.gen.Steps++
	}
	return gen, nil
}

// Generation is the timing of a model's last GenerateTokens (or Generate)
// call: the prompt's tokens fed by Prefill, and the decoding steps after it
// (each a Next call, which feeds one generated token and gives the next
// token's logits; the first generated token comes from the prefill's).
type Generation struct {
	PromptTokens, Steps int
	Prefill, Decode     time.Duration
}

// PrefillTokS is the prompt's tokens per second of prefill.
func (g Generation) PrefillTokS() float64 { return rate(g.PromptTokens, g.Prefill) }

// DecodeTokS is decoding steps per second.
func (g Generation) DecodeTokS() float64 { return rate(g.Steps, g.Decode) }

func rate(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// String reports both phases, e.g. (nmrun on CI's exported micro model)
// "prefill 9 tokens in 22.311ms (403.4 tokens/s), decode 40 tokens in
// 45.008ms (888.7 tokens/s)".
func (g Generation) String() string {
	return fmt.Sprintf("prefill %d tokens in %v (%.1f tokens/s), decode %d tokens in %v (%.1f tokens/s)",
		g.PromptTokens, g.Prefill.Round(time.Microsecond), g.PrefillTokS(), g.Steps, g.Decode.Round(time.Microsecond), g.DecodeTokS())
}

// LastGeneration is the timing of this model's last GenerateTokens or
// Generate call (the zero Generation before any).
func (m *Model) LastGeneration() Generation { return m.gen }

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
