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
// shapes.
func TestPrefixLogitsMatchLogits(t *testing.T) {
	mc := hybridConfig()
	for _, c := range []struct {
		name    string
		subln   bool
		actBits int
		q       QuantState
		threads int
	}{
		{"float", false, 0, QuantState{Float, Float, 0}, 1},
		{"ternary-subln-a8", true, 8, QuantState{Ternary, Ternary, 1}, 1},
		{"ramp-a8-2threads", false, 8, QuantState{Float, Ternary, 0.5}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(mc, quantConfig(c.subln, c.actBits), 3)
			if err != nil {
				t.Fatal(err)
			}
			m.SetQuant(c.q)
			m.SetThreads(c.threads)
			ps := NewPrefixScorer(m)
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
			for pass, group := range [][][]int32{seqs[:5], seqs, seqs[3:9]} {
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
				for b, s := range group {
					want, err := m.Logits(s, 1, len(s))
					if err != nil {
						t.Fatal(err)
					}
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
