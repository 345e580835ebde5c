package engine

import (
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// TestLastGeneration checks the timing GenerateTokens keeps: the prompt's
// tokens (after the cut to the context), one decoding step per generated
// token (none after a stop at the context's end), positive durations, and
// the rates and report derived from them.
func TestLastGeneration(t *testing.T) {
	m := randomEngine(t, "tiny", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0}, "model.context=32", "data.seq_len=32")
	if g := m.LastGeneration(); g != (Generation{}) || g.DecodeTokS() != 0 || g.PrefillTokS() != 0 {
		t.Fatalf("before any generation: %+v", g)
	}
	for _, tc := range []struct {
		ctx, max          int
		wantPrompt, steps int
	}{
		{5, 10, 5, 10}, // 10 tokens, each fed back by one Next
		{1, 1, 1, 1},
		{30, 8, 24, 7},   // the context cut to its last 32−8 tokens, which 8 more fill
		{20, 40, 20, 11}, // a stop at the context's end: 12 tokens, the last not fed back
	} {
		ctx := make([]int32, tc.ctx)
		for i := range ctx {
			ctx[i] = int32(3 + 7*i)
		}
		gen, err := m.GenerateTokens(ctx, tc.max, -1)
		if err != nil {
			t.Fatal(err)
		}
		g := m.LastGeneration()
		if g.PromptTokens != tc.wantPrompt || g.Steps != tc.steps || g.Steps > len(gen) {
			t.Errorf("ctx %d max %d: %d generated, timing %+v; want prompt %d, steps %d", tc.ctx, tc.max, len(gen), g, tc.wantPrompt, tc.steps)
		}
		if g.Prefill <= 0 || g.Decode <= 0 || !(g.PrefillTokS() > 0) || !(g.DecodeTokS() > 0) {
			t.Errorf("ctx %d max %d: timing %+v, rates %v %v", tc.ctx, tc.max, g, g.PrefillTokS(), g.DecodeTokS())
		}
		if s := g.String(); !strings.HasPrefix(s, "prefill ") || !strings.Contains(s, "tokens/s), decode ") {
			t.Errorf("report %q", s)
		}
	}
}
