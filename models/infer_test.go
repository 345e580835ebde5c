package models

import (
	"math"
	"strings"
	"testing"
)

// TestPrefixLogitsMatchLogits: every node's logits from PrefixScorer are
// bit for bit those of Model.Logits run on each sequence alone (unpadded),
// for sequences that share prefixes of every length (including whole
// sequences that are prefixes of others), in a batch padded past several
// SSD chunks, for float and quantized models, with and without SubLN, at 1
// and 2 threads, and with the scorer reused across passes of different
// shapes; static scorers keep their packed weights from pass to pass.
func TestPrefixLogitsMatchLogits(t *testing.T) {
	mc := hybridConfig()
	for _, c := range []struct {
		name    string
		subln   bool
		actBits int
		q       QuantState
		threads int
		static  bool
	}{
		{"float", false, 0, QuantState{Float, Float, 0}, 1, false},
		{"ternary-subln-a8", true, 8, QuantState{Ternary, Ternary, 1}, 1, false},
		{"ramp-a8-2threads", false, 8, QuantState{Float, Ternary, 0.5}, 2, false},
		{"static-ternary-subln-a8", true, 8, QuantState{Ternary, Ternary, 1}, 1, true},
		{"static-ramp-a8-2threads", false, 8, QuantState{Float, Ternary, 0.5}, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(mc, quantConfig(c.subln, c.actBits), 3)
			if err != nil {
				t.Fatal(err)
			}
			m.SetQuant(c.q)
			m.SetThreads(c.threads)
			ps := NewPrefixScorer(m)
			ps.SetStatic(c.static)
			base := randTokens(7, mc.Context, mc.Vocab)
			other := randTokens(8, mc.Context, mc.Vocab)
			// Sequences: shared prefixes of lengths 0..9 then a divergence.
			var seqs [][]int32
			for _, sh := range []int{0, 1, 2, 3, 5, 9, 11} {
				for _, n := range []int{sh + 1, sh + 4, mc.Context} {
					if n > mc.Context {
						continue
					}
					s := append(append([]int32(nil), base[:sh]...), other[sh:n]...)
					seqs = append(seqs, s)
				}
				seqs = append(seqs, append([]int32(nil), base[:max(sh, 1)]...))
			}
			// Each sequence alone, before the passes: Logits refreshes the
			// weights, which would drop a static scorer's packing.
			wants := make([][]float32, len(seqs))
			for i, s := range seqs {
				if wants[i], err = m.Logits(s, 1, len(s)); err != nil {
					t.Fatal(err)
				}
			}
			for pass, idx := range [][]int{seqRange(0, 5), seqRange(0, len(seqs)), seqRange(3, 9)} {
				group := make([][]int32, len(idx))
				for i, j := range idx {
					group[i] = seqs[j]
				}
				T := 0
				for _, s := range group {
					T = max(T, len(s))
				}
				toks := make([]int32, len(group)*T)
				lens := make([]int, len(group))
				for b, s := range group {
					copy(toks[b*T:], s)
					lens[b] = len(s)
				}
				logits, node, err := ps.PrefixLogits(toks, lens, len(group), T)
				if err != nil {
					t.Fatal(err)
				}
				V := mc.Vocab
				nodes := len(logits) / V
				if nodes >= len(group)*T-len(group) {
					t.Errorf("pass %d: %d nodes for %d sequences of at most %d tokens: no prefix shared", pass, nodes, len(group), T)
				}
				if m.weightsPacked() != c.static {
					t.Fatalf("pass %d: weights packed %v, want %v (static %v)", pass, m.weightsPacked(), c.static, c.static)
				}
				for b, s := range group {
					want := wants[idx[b]]
					for p := 0; p < T; p++ {
						u := node[b*T+p]
						if p >= len(s) {
							if u != -1 {
								t.Fatalf("pass %d seq %d pos %d past the end: node %d", pass, b, p, u)
							}
							continue
						}
						got := logits[int(u)*V : int(u)*V+V]
						for j, v := range want[p*V : p*V+V] {
							if math.Float32bits(v) != math.Float32bits(got[j]) {
								t.Fatalf("pass %d seq %d pos %d logit %d: prefix %v, alone %v", pass, b, p, j, got[j], v)
							}
						}
					}
				}
			}
		})
	}
}

// seqRange returns the indices lo, …, hi−1.
func seqRange(lo, hi int) []int {
	r := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		r = append(r, i)
	}
	return r
}

// TestStaticScorerFollowsRefresh: a static scorer's packed weights are
// dropped when the model's quantization state changes, its weights are
// refreshed after a change or adapters are merged into them, so its next
// pass gives the new model's logits, not the packed ones.
func TestStaticScorerFollowsRefresh(t *testing.T) {
	mc := hybridConfig()
	m, err := New(mc, quantConfig(true, 8), 5)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(QuantState{Ternary, Ternary, 1})
	ps := NewPrefixScorer(m)
	ps.SetStatic(true)
	seq := randTokens(11, 9, mc.Vocab)
	pass := func() []float32 {
		t.Helper()
		l, _, err := ps.PrefixLogits(seq, []int{len(seq)}, 1, len(seq))
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), l...)
	}
	first := pass()
	for _, change := range []struct {
		name  string
		apply func()
	}{
		{"SetQuant", func() { m.SetQuant(QuantState{Float, Float, 0}) }},
		{"weights changed, then Logits", func() {
			for _, p := range m.Params() {
				for i := range p.Data {
					p.Data[i] *= 1.5
				}
			}
			if _, err := m.Logits(seq, 1, len(seq)); err != nil {
				t.Fatal(err)
			}
		}},
		{"MergeLoRA after a static pass with adapters", func() {
			if err := m.AttachLoRA(LoRAOptions{Rank: 2, Alpha: 4, Targets: LoRATargetKinds, Seed: 9}); err != nil {
				t.Fatal(err)
			}
			for i, p := range m.LoRAParams() {
				for j := range p.Data {
					p.Data[j] = 0.05 * float32((i+j)%7-3)
				}
			}
			pass() // packs the base weights, the adapters run beside them
			if err := m.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		change.apply()
		got := pass()
		if !m.weightsPacked() {
			t.Fatalf("%s: a static pass left the weights unpacked", change.name)
		}
		want, err := m.Logits(seq, 1, len(seq))
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for i := range want {
			if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
				t.Fatalf("%s: logit %d = %v, want the changed model's %v", change.name, i, got[i], want[i])
			}
			same = same && math.Float32bits(first[i]) == math.Float32bits(got[i])
		}
		if same {
			t.Fatalf("%s: the change left the logits unchanged; the test cannot tell stale weights", change.name)
		}
		first = got
	}
}

// TestPrefixLogitsErrors: bad shapes and lengths are refused, naming them.
func TestPrefixLogitsErrors(t *testing.T) {
	m, err := New(hybridConfig(), quantConfig(false, 0), 1)
	if err != nil {
		t.Fatal(err)
	}
	ps := NewPrefixScorer(m)
	for _, c := range []struct {
		name  string
		toks  []int32
		lens  []int
		batch int
		T     int
		want  string
	}{
		{"lens count", []int32{1, 2, 3, 4}, []int{2}, 2, 2, "1 sequence lengths for a batch of 2"},
		{"zero length", []int32{1, 2}, []int{0}, 1, 2, "length 0"},
		{"too long", []int32{1, 2}, []int{3}, 1, 2, "length 3"},
		{"token", []int32{1, 99}, []int{2}, 1, 2, "outside the vocabulary"},
		{"shape", []int32{1, 2, 3}, []int{2}, 1, 2, "batch·seqLen"},
	} {
		if _, _, err := ps.PrefixLogits(c.toks, c.lens, c.batch, c.T); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
