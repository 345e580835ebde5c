package engine

import (
	"fmt"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/models"
)

// TestDecodeAllocatesNothing checks that a decoding step allocates nothing
// on the heads the decode bench runs, at one thread and where its parallel
// regions (the packed rows, the Mamba-2 heads, the output head) are shared
// out: a decoder's memory is then what it holds, not garbage waiting for
// the collector. The model is nano's width with d_inner 1024 (so that the
// state update is split too), two blocks and a small vocabulary.
func TestDecodeAllocatesNothing(t *testing.T) {
	c, err := configs.Load(configs.Options{Preset: "nano", Env: []string{}, Sets: []string{
		"model.n_layers=2", "model.attn_layers=[1]", "model.vocab=2048", "model.context=128", "model.expand=2", "data.seq_len=128"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	for _, tc := range []struct {
		o    edge.Options
		head Head
	}{
		{edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F16}, HeadFloat},
		{edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0}, HeadInt8},
		{edge.Options{Weights: gguf.TQ1_0, Embed: gguf.Q4_0}, HeadInt8},
		{edge.Options{Weights: gguf.TQ1_0, Embed: gguf.Q3_K}, HeadInt8},
	} {
		f, err := edge.Export(m, c.Quant, nil, tc.o, edge.Provenance{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetHead(tc.head); err != nil {
			t.Fatal(err)
		}
		for _, th := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s-%s-%s/threads=%d", tc.o.Weights, tc.o.Embed, tc.head, th), func(t *testing.T) {
				e.SetThreads(th)
				st := e.NewState()
				if _, err := e.Prefill(st, []int32{1, 2, 3}); err != nil {
					t.Fatal(err)
				}
				tok := int32(5)
				if n := testing.AllocsPerRun(20, func() {
					if _, err := e.Next(st, tok); err != nil {
						t.Fatal(err)
					}
				}); n != 0 {
					t.Errorf("%v allocations per decoded token, want 0", n)
				}
				if th > 1 && (e.rowThreads(e.layers[0].inProj) < 2 || min(th, e.heads*e.headDim*e.state>>15) < 2) {
					t.Errorf("the parallel regions were not shared out (rows %d, heads %d)", e.rowThreads(e.layers[0].inProj), e.heads*e.headDim*e.state>>15)
				}
			})
		}
	}
}
