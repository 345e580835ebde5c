package models

import (
	"fmt"
	"math"
	"testing"
)

func loraModel(t *testing.T, subln bool, dropout float64, actBits int) *Model {
	t.Helper()
	m, err := New(hybridConfig(), quantConfig(subln, actBits), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AttachLoRA(LoRAOptions{Rank: 3, Alpha: 6, Dropout: dropout, Targets: LoRATargetKinds, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLoRAGradients checks the adapters' gradients (and, on a float base,
// every base gradient through them) against finite differences, with
// dropout masks held fixed, on float and ternary (frozen Q(W)) bases with
// and without SubLN.
func TestLoRAGradients(t *testing.T) {
	for _, subln := range []bool{false, true} {
		for _, q := range []WeightQuant{Float, Ternary} {
			t.Run(fmt.Sprintf("subln=%v/%v", subln, q), func(t *testing.T) {
				// On the ternary base activation quantization is off: its
				// rounding (differentiated straight through) would make
				// the loss a step function of the adapters downstream.
				bits := 8
				if q == Ternary {
					bits = 0
				}
				m := loraModel(t, subln, 0.25, bits)
				m.SetQuant(QuantState{From: q, To: q, Lambda: 1})
				for i, p := range m.LoRAParams() { // B starts at 0: give it values
					if i%2 == 1 {
						copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.3))
					}
				}
				m.SetLoRADropout(true, 3, 1)
				const B, T = 2, 5
				tokens := randTokens(1, B*T, 32)
				targets := randTokens(2, B*T, 32)
				loss := func() float64 {
					s, n, err := m.Loss(tokens, targets, B, T)
					if err != nil {
						t.Fatal(err)
					}
					return s / float64(n)
				}
				m.ZeroGrad()
				for _, p := range m.LoRAParams() {
					clear(p.Grad)
				}
				if _, err := m.ForwardBackward(tokens, targets, B, T, 1); err != nil {
					t.Fatal(err)
				}
				ps := m.LoRAParams()
				if q == Float {
					ps = append(ps, m.Params()...)
				}
				// abs 3e-3: the float32 rounding noise of a directional
				// difference of the loss (±1 on every element) here; a
				// probe with steps 1e-4…3e-3 agreed with the analytic
				// gradients to 1e-5 relative.
				checkGrads(t, loss, paramTensors(ps), 3, 0, 1e-2, 3e-3)
			})
		}
	}
}

// TestLoRAZeroInitAndMerge: a fresh adapter (B = 0) leaves the logits'
// bits unchanged; merged adapters give the unmerged logits on a float base
// (up to rounding), and merging removes the adapters.
func TestLoRAZeroInitAndMerge(t *testing.T) {
	const B, T = 2, 6
	tokens := randTokens(3, B*T, 32)
	base, err := New(hybridConfig(), quantConfig(false, 0), 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := base.Logits(tokens, B, T)
	m := loraModel(t, false, 0.1, 0)
	m.SetQuant(QuantState{})
	got, _ := m.Logits(tokens, B, T)
	if i := bitsEqual(got, want); i != -1 {
		t.Fatalf("zero-initialised adapters changed logit %d", i)
	}
	for i, p := range m.LoRAParams() {
		if i%2 == 1 {
			copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.2))
		}
	}
	unmerged, _ := m.Logits(tokens, B, T)
	if err := m.MergeLoRA(); err != nil {
		t.Fatal(err)
	}
	if len(m.LoRA()) != 0 {
		t.Fatal("adapters left after MergeLoRA")
	}
	merged, _ := m.Logits(tokens, B, T)
	var maxd, diff float64
	for i := range merged {
		maxd = math.Max(maxd, math.Abs(float64(merged[i]-unmerged[i])))
		diff = math.Max(diff, math.Abs(float64(unmerged[i]-want[i])))
	}
	if maxd > 1e-4 || diff < 1e-3 {
		t.Errorf("merged vs unmerged logits differ by %g (adapters changed them by %g)", maxd, diff)
	}
}

// TestLoRADecodeMatchesForward: Step (decoding) applies the adapters like
// the full forward pass does.
func TestLoRADecodeMatchesForward(t *testing.T) {
	m := loraModel(t, true, 0, 8)
	m.SetQuant(QuantState{From: Ternary, To: Ternary, Lambda: 1})
	for i, p := range m.LoRAParams() {
		if i%2 == 1 {
			copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.2))
		}
	}
	const T = 6
	tokens := randTokens(5, T, 32)
	full, err := m.Logits(tokens, 1, T)
	if err != nil {
		t.Fatal(err)
	}
	st := m.NewState()
	V := m.Config().Vocab
	for i, tok := range tokens {
		lg, err := m.Step(st, tok)
		if err != nil {
			t.Fatal(err)
		}
		for v := range lg {
			if d := math.Abs(float64(lg[v] - full[i*V+v])); d > 1e-4 {
				t.Fatalf("position %d logit %d: step %g, forward %g", i, v, lg[v], full[i*V+v])
			}
		}
	}
}

func TestLoRAErrors(t *testing.T) {
	m, _ := New(hybridConfig(), quantConfig(false, 8), 1)
	for _, o := range []LoRAOptions{
		{Rank: 0, Alpha: 1, Targets: []string{"wq"}},
		{Rank: 2, Alpha: 0, Targets: []string{"wq"}},
		{Rank: 2, Alpha: 1, Dropout: 1, Targets: []string{"wq"}},
		{Rank: 2, Alpha: 1, Targets: []string{"q_proj"}},
		{Rank: 100, Alpha: 1, Targets: []string{"wq"}},
	} {
		if err := m.AttachLoRA(o); err == nil {
			t.Errorf("AttachLoRA(%+v) accepted", o)
		}
	}
	if err := m.MergeLoRA(); err == nil {
		t.Error("MergeLoRA without adapters accepted")
	}
}
