package models

import (
	"math"
	"testing"
)

// TestBatchDecoderReset: a decoder reset after decoding other sequences
// and after the weights changed (an optimizer step between two uses)
// gives bit for bit the logits of a new decoder of the changed model, at
// any thread count; Reset empties every sequence.
func TestBatchDecoderReset(t *testing.T) {
	for _, c := range decoderCases() {
		t.Run(c.name(), func(t *testing.T) {
			m := c.model(t, 5)
			const n = 3
			T, V := c.mc.Context, c.mc.Vocab
			run := func(bd *BatchDecoder, seed int64) []float32 {
				t.Helper()
				seqs := make([][]int32, n)
				for i := range seqs {
					seqs[i] = randTokens(seed+int64(i), T, V)
				}
				var all []float32
				toks := make([]int32, n)
				for p := 0; p < T; p++ {
					for i := range toks {
						toks[i] = seqs[i][p]
					}
					lg, err := bd.Step(toks)
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, lg...)
				}
				return all
			}
			bd, err := m.NewBatchDecoder(n)
			if err != nil {
				t.Fatal(err)
			}
			before := run(bd, 10) // fills every sequence to model.context
			// An "optimizer step": every weight changes.
			for _, p := range m.Params() {
				for i := range p.Data {
					p.Data[i] += float32(0.01 * math.Sin(float64(i)))
				}
			}
			bd.Reset()
			for i := 0; i < n; i++ {
				if bd.Pos(i) != 0 {
					t.Fatalf("sequence %d at position %d after Reset, want 0", i, bd.Pos(i))
				}
			}
			got := run(bd, 20)
			fresh, err := m.NewBatchDecoder(n)
			if err != nil {
				t.Fatal(err)
			}
			want := run(fresh, 20)
			same := true
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("logit %d after Reset: %v, a new decoder gives %v", i, got[i], want[i])
				}
				same = same && got[i] == before[i]
			}
			if same {
				t.Fatal("the changed weights and tokens gave the logits of the first use: the test compares nothing")
			}
		})
	}
}
