package models

import (
	"fmt"
	"testing"
)

// TestRecomputeMatchesStored: a training step with block activations
// recomputed in the backward pass gives the stored path's loss and every
// gradient bit for bit, at 1, 2 and 3 threads, for LoRA adapters with
// dropout (the masks are drawn again in the recomputed forward pass), a
// distillation-style extra loss on the logits, and a Loss call between
// steps (which reuses the workspace).
func TestRecomputeMatchesStored(t *testing.T) {
	const B, T = 2, 13
	tokens := randTokens(8, B*T, 32)
	targets := randTokens(9, B*T, 32)
	extra := func(logits, dlogits []float32) error {
		for i, v := range logits {
			dlogits[i] += 0.01 * v
		}
		return nil
	}
	type result struct {
		losses []float64
		grads  [][]float32
	}
	run := func(t *testing.T, lora, recompute bool, threads int) result {
		var m *Model
		if lora {
			m = loraModel(t, true, 0.25, 8)
			for i, p := range m.LoRAParams() {
				if i%2 == 1 {
					copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.3))
				}
			}
		} else {
			var err error
			if m, err = New(hybridConfig(), quantConfig(true, 8), 5); err != nil {
				t.Fatal(err)
			}
		}
		m.SetThreads(threads)
		m.SetRecompute(recompute)
		m.SetQuant(QuantState{Int4, Ternary, 0.5})
		var r result
		m.ZeroGrad()
		for step := 0; step < 2; step++ {
			m.SetLoRADropout(lora, int64(step), 0)
			loss, err := m.ForwardBackwardWith(tokens, targets, B, T, 1, extra)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := m.Loss(tokens, targets, B, T)
			if err != nil {
				t.Fatal(err)
			}
			r.losses = append(r.losses, loss, s)
		}
		for _, p := range append(m.Params(), m.LoRAParams()...) {
			r.grads = append(r.grads, append([]float32(nil), p.Grad...))
		}
		return r
	}
	for _, lora := range []bool{false, true} {
		t.Run(fmt.Sprintf("lora=%v", lora), func(t *testing.T) {
			want := run(t, lora, false, 1)
			for _, th := range []int{1, 2, 3} {
				got := run(t, lora, true, th)
				for i := range want.losses {
					if got.losses[i] != want.losses[i] {
						t.Errorf("threads %d: loss %d = %v, stored %v", th, i, got.losses[i], want.losses[i])
					}
				}
				for k := range want.grads {
					if i := bitsEqual(got.grads[k], want.grads[k]); i >= 0 {
						t.Errorf("threads %d: gradient %d [%d] = %v, stored %v", th, k, i, got.grads[k][i], want.grads[k][i])
					}
				}
			}
		})
	}
}
