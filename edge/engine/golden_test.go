package engine

import (
	"fmt"
	"hash/fnv"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// goldenDecode decodes steps greedy tokens after a fixed prompt and hashes
// every logit's bits.
func goldenDecode(t testing.TB, e *Model, steps int) string {
	h := fnv.New64a()
	st := e.NewState()
	var l []float32
	var err error
	for i := 0; i < steps && st.Pos() < e.Context; i++ {
		tok := int32(7919 * i % e.V)
		if i >= 16 {
			tok = int32(Argmax(l))
		}
		if l, err = e.Next(st, tok); err != nil {
			t.Fatal(err)
		}
		for _, v := range l {
			b := math.Float32bits(v)
			h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// The engine's logits are pinned to hashes recorded from the scalar engine
// (per-element FMA32 attention, scalar SSM step) before the vector kernels
// replaced it: speed work must not change a bit.
func TestGoldenDecodeBits(t *testing.T) {
	cases := []struct {
		preset string
		o      edge.Options
		head   Head
		steps  int
		want   string
	}{
		{"tiny", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F16}, HeadFloat, 256, "1bbda645b8a1e080"},
		{"tiny", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0}, HeadInt8, 256, "43aab0fd78b81891"},
		{"tiny", edge.Options{Weights: gguf.TQ1_0, Embed: gguf.Q4_0}, HeadInt8, 100, "3248dae9a258afd2"},
		{"micro", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F32}, HeadFloat, 200, "90f592fa0259b512"},
	}
	for _, c := range cases {
		e := randomEngine(t, c.preset, c.o)
		if err := e.SetHead(c.head); err != nil {
			t.Fatal(err)
		}
		for _, th := range []int{1, 3} {
			e.SetThreads(th)
			got := goldenDecode(t, e, c.steps)
			name := fmt.Sprintf("%s %s/%s head %s threads %d", c.preset, c.o.Weights, c.o.Embed, c.head, th)
			if got != c.want {
				t.Errorf("%s: logits hash %s, want %s", name, got, c.want)
			}
		}
	}
}
