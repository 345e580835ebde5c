package models

import (
	"fmt"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

// TestBatchDecoderMatchesStep: stepping sequences together gives every
// sequence the logits of Step on its own State, bit for bit, at any thread
// count, on ternary and float models with and without SubLN and activation
// quantization; a full sequence and bad tokens are refused.
// decoderCase is one model and thread count of the BatchDecoder tests.
type decoderCase struct {
	mc      configs.ModelConfig
	qc      configs.QuantConfig
	qs      QuantState
	threads int
}

// decoderCases: ternary and float models, with and without SubLN and
// activation quantization, a QAT ramp, 1 to 3 threads.
func decoderCases() []decoderCase {
	return []decoderCase{
		{hybridConfig(), quantConfig(true, 8), QuantState{From: Ternary, To: Ternary, Lambda: 1}, 1},
		{hybridConfig(), quantConfig(false, 0), QuantState{}, 2},
		{wideConfig(), quantConfig(true, 8), QuantState{From: Int2, To: Ternary, Lambda: 0.5}, 3},
	}
}

func (c decoderCase) name() string {
	return fmt.Sprintf("%d_%v_%d", c.mc.DModel, c.qc.SubLN, c.threads)
}

// model builds the case's model from seed, at its quant state and threads.
func (c decoderCase) model(t *testing.T, seed int64) *Model {
	t.Helper()
	m, err := New(c.mc, c.qc, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(c.qs)
	m.SetThreads(c.threads)
	return m
}

func TestBatchDecoderMatchesStep(t *testing.T) {
	for _, c := range decoderCases() {
		t.Run(c.name(), func(t *testing.T) {
			m := c.model(t, 3)
			const n = 5
			T := c.mc.Context
			V := c.mc.Vocab
			seqs := make([][]int32, n)
			for i := range seqs {
				seqs[i] = randTokens(int64(50+i), T, V)
			}
			want := make([][]float32, n) // per sequence: T×V
			for i, s := range seqs {
				st := m.NewState()
				for _, tok := range s {
					lg, err := m.Step(st, tok)
					if err != nil {
						t.Fatal(err)
					}
					want[i] = append(want[i], lg...)
				}
			}
			bd, err := m.NewBatchDecoder(n)
			if err != nil {
				t.Fatal(err)
			}
			toks := make([]int32, n)
			for p := 0; p < T; p++ {
				for i := range toks {
					toks[i] = seqs[i][p]
				}
				lg, err := bd.Step(toks)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i++ {
					if j := bitsEqual(lg[i*V:i*V+V], want[i][p*V:p*V+V]); j != -1 {
						t.Fatalf("sequence %d position %d: logit %d %v, Step %v", i, p, j, lg[i*V+j], want[i][p*V+j])
					}
				}
			}
			if bd.Pos(0) != T || bd.Len() != n {
				t.Errorf("Pos %d Len %d, want %d %d", bd.Pos(0), bd.Len(), T, n)
			}
			if _, err := bd.Step(toks); err == nil {
				t.Error("a step past model.context accepted")
			}
		})
	}
	m, _ := New(hybridConfig(), quantConfig(true, 8), 1)
	if _, err := m.NewBatchDecoder(0); err == nil {
		t.Error("NewBatchDecoder(0) accepted")
	}
	bd, _ := m.NewBatchDecoder(2)
	for _, toks := range [][]int32{{1}, {1, 32}, {-1, 0}} {
		if _, err := bd.Step(toks); err == nil {
			t.Errorf("Step(%v) accepted", toks)
		}
	}
	if bd.Pos(0) != 0 {
		t.Errorf("a refused step advanced the position to %d", bd.Pos(0))
	}
}
