package models

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/rng"
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

// loraStepHash runs two LoRA training steps of two micro-batches each
// (dropout on, every micro-batch its own masks; the gradients of the
// second step accumulate onto the first's) on a ternary base and hashes
// the losses, the adapters' gradients and the gradient of every parameter
// that is not a BitLinear weight (embedding, norms, SubLN gains, Mamba's
// scalars). With frozen, FreezeBase(true) runs first.
func loraStepHash(t *testing.T, mc configs.ModelConfig, subln bool, actBits, threads int, frozen bool) string {
	t.Helper()
	m, err := New(mc, quantConfig(subln, actBits), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AttachLoRA(LoRAOptions{Rank: 3, Alpha: 6, Dropout: 0.25, Targets: LoRATargetKinds, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	m.SetThreads(threads)
	m.SetQuant(QuantState{From: Int4, To: Ternary, Lambda: 0.5})
	for i, p := range m.LoRAParams() {
		if i%2 == 1 {
			copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.3))
		}
	}
	if frozen {
		m.FreezeBase(true)
	}
	weights := map[string]bool{}
	for _, l := range m.lins {
		weights[l.w.Name] = true
	}
	const B, T = 2, 7
	h := sha256.New()
	put32 := func(v []float32) {
		var b [4]byte
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	m.ZeroGrad()
	for _, p := range m.LoRAParams() {
		clear(p.Grad)
	}
	for step := int64(3); step < 5; step++ {
		for mi := 0; mi < 2; mi++ {
			tokens := randTokens(10*step+int64(mi), B*T, mc.Vocab)
			targets := randTokens(20*step+int64(mi), B*T, mc.Vocab)
			targets[2] = -1
			m.SetLoRADropout(true, step, mi)
			loss, err := m.ForwardBackward(tokens, targets, B, T, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(loss))
			h.Write(b[:])
		}
	}
	m.SetLoRADropout(false, 0, 0)
	for _, p := range m.LoRAParams() {
		h.Write([]byte(p.Name))
		put32(p.Grad)
	}
	for _, p := range m.Params() {
		if !weights[p.Name] {
			h.Write([]byte(p.Name))
			put32(p.Grad)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestLoRAFrozenBaseBits: with the base frozen (no weight-gradient GEMMs,
// no weight-gradient buffers) a LoRA step gives the bits of the unfrozen
// step — losses, adapter gradients, and every other parameter's gradient
// (they depend on the input gradients) — and both equal the hashes
// recorded from the adapters' first implementation (per-step dropout
// masks, per-adapter buffers), at several thread counts.
func TestLoRAFrozenBaseBits(t *testing.T) {
	for _, c := range []struct {
		name    string
		mc      configs.ModelConfig
		subln   bool
		actBits int
		want    string
	}{
		{"hybrid_subln_act8", hybridConfig(), true, 8, "1da07650bdb7f7d75cc5cc8a4b583d25c0860c7f250a0417ed6f657b66ac8702"},
		{"hybrid_nosubln_noact", hybridConfig(), false, 0, "b7eb801ce7b33ea205f707aa7d39934ef44016f36e679f37cbd806a3c7b3d659"},
		{"wide_subln_act8", wideConfig(), true, 8, "343fc4017badcaf7cfb89ee9efdb1580ad613cad44dcd5ccfbb72d1de1f34920"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, frozen := range []bool{false, true} {
				for _, th := range []int{1, 2, 3} {
					if got := loraStepHash(t, c.mc, c.subln, c.actBits, th, frozen); got != c.want {
						t.Errorf("frozen %v threads %d: hash %s, want %s", frozen, th, got, c.want)
					}
				}
			}
		})
	}
}

// TestFreezeBase: frozen BitLinear weights have no gradient buffer and a
// training step leaves them without one, while the adapters and the
// other parameters get gradients; thawing gives zeroed buffers that the
// next step fills.
func TestFreezeBase(t *testing.T) {
	m := loraModel(t, true, 0.1, 8)
	m.SetQuant(QuantState{From: Ternary, To: Ternary, Lambda: 1})
	for i, p := range m.LoRAParams() {
		if i%2 == 1 {
			copy(p.Data, randVec(int64(i), "test/loraB", len(p.Data), 0.3))
		}
	}
	const B, T = 2, 5
	tokens, targets := randTokens(1, B*T, 32), randTokens(2, B*T, 32)
	nonzero := func(g []float32) bool {
		for _, v := range g {
			if v != 0 {
				return true
			}
		}
		return false
	}
	for _, frozen := range []bool{true, false} {
		m.FreezeBase(frozen)
		if m.BaseFrozen() != frozen {
			t.Fatalf("BaseFrozen() = %v after FreezeBase(%v)", m.BaseFrozen(), frozen)
		}
		for _, l := range m.lins {
			if (l.w.Grad == nil) != frozen || (!frozen && (len(l.w.Grad) != len(l.w.Data) || nonzero(l.w.Grad))) {
				t.Fatalf("frozen %v: %s has a gradient buffer of %d elements", frozen, l.w.Name, len(l.w.Grad))
			}
		}
		m.ZeroGrad()
		for _, p := range m.LoRAParams() {
			clear(p.Grad)
		}
		m.SetLoRADropout(true, 1, 0)
		if _, err := m.ForwardBackward(tokens, targets, B, T, 1); err != nil {
			t.Fatal(err)
		}
		for _, l := range m.lins {
			if frozen && l.w.Grad != nil || !frozen && !nonzero(l.w.Grad) {
				t.Errorf("frozen %v: %s's gradient after a step: %d elements", frozen, l.w.Name, len(l.w.Grad))
			}
		}
		for _, p := range append(m.LoRAParams(), m.Param("norm_f"), m.Param("tok_embed")) {
			if !nonzero(p.Grad) {
				t.Errorf("frozen %v: %s got no gradient", frozen, p.Name)
			}
		}
	}
}

// TestDropMask: the branchless, row-parallel mask keeps exactly the
// elements whose sequential Float64 draw is ≥ p, at any thread count,
// including probabilities whose p·2⁵³ is not an integer.
func TestDropMask(t *testing.T) {
	const rows, in = 13, 37
	for _, p := range []float64{0.1, 0.25, 0.5, 1.0 / 3, 0.999, 1e-300} {
		want := make([]uint8, rows*in)
		st := rng.New(5, "test/dropmask")
		for i := range want {
			if st.Float64() >= p {
				want[i] = 1
			}
		}
		for _, th := range []int{1, 2, 5} {
			got := make([]uint8, rows*in)
			for i := range got {
				got[i] = 7 // overwritten
			}
			dropMask(th, got, *rng.New(5, "test/dropmask"), p, rows, in)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("p %v threads %d: element %d kept %d, want %d", p, th, i, got[i], want[i])
				}
			}
		}
	}
}
