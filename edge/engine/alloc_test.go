package engine

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unsafe"

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

// TestReadOrderLayout checks the layout the decode streams through: every
// vector and packed matrix a token reads lies in the model's one buffer in
// the order a step reads it (ascending addresses, no overlap), each equal
// to the file's tensor, and a state's conv windows and SSM states ascend
// layer by layer, each layer's window before its SSM state.
func TestReadOrderLayout(t *testing.T) {
	e := randomEngine(t, "nano", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0},
		"model.n_layers=3", "model.attn_layers=[1]", "model.vocab=512", "model.context=64", "model.d_model=256", "data.seq_len=64")
	f := e.File
	type piece struct {
		name  string
		start uintptr
		n     int
	}
	var pcs []piece
	vecAt := func(name string, v []float32) {
		if len(v) == 0 {
			t.Fatalf("%s is empty", name)
		}
		pcs = append(pcs, piece{name, uintptr(unsafe.Pointer(&v[0])), 4 * len(v)})
	}
	lin := func(name string, x *linear) {
		vecAt(name+".subln", x.subln)
		pcs = append(pcs, piece{name + ".rows", uintptr(unsafe.Pointer(&x.w.data[0])), len(x.w.data)})
		want := f.Tensor(name + ".weight")
		if want == nil || !bytes.Equal(x.w.data, want.Data) {
			t.Errorf("%s: the packed rows differ from the file's", name)
		}
	}
	for i := range e.layers {
		l := &e.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		vecAt(p+"norm1", l.norm1)
		if l.isAttn() {
			lin(p+"attn_q", l.wq)
			lin(p+"attn_k", l.wk)
			lin(p+"attn_v", l.wv)
			lin(p+"attn_output", l.wo)
		} else {
			lin(p+"ssm_in", l.inProj)
			for _, v := range []struct {
				n string
				x []float32
			}{{"convWT", l.convWT}, {"convB", l.convB}, {"dtBias", l.dtBias}, {"A", l.A}, {"D", l.Dsk}, {"ssmNorm", l.ssmNorm}} {
				vecAt(p+v.n, v.x)
			}
			lin(p+"ssm_out", l.outProj)
		}
	}
	vecAt("output_norm", e.normF)
	for i := 1; i < len(pcs); i++ {
		if prev := pcs[i-1]; pcs[i].start < prev.start+uintptr(prev.n) {
			t.Errorf("%s at %#x is not after %s (%#x + %d)", pcs[i].name, pcs[i].start, prev.name, prev.start, prev.n)
		}
	}
	if span := pcs[len(pcs)-1].start + uintptr(pcs[len(pcs)-1].n) - pcs[0].start; span > 1<<22 {
		t.Errorf("the pieces span %d bytes: not one buffer", span)
	}
	if got, err := e.vector("output_norm.weight", e.D); err != nil || !slices.Equal(got, e.normF) {
		t.Errorf("output_norm: the packed copy differs from the file's (%v)", err)
	}
	st := e.NewState()
	var last uintptr
	for i := range e.layers {
		if e.layers[i].isAttn() {
			continue
		}
		cs, ss := uintptr(unsafe.Pointer(&st.conv[i][0])), uintptr(unsafe.Pointer(&st.ssm[i][0]))
		if cs < last || ss < cs+uintptr(4*len(st.conv[i])) {
			t.Errorf("layer %d: conv window at %#x, SSM state at %#x, after %#x: not in read order", i, cs, ss, last)
		}
		last = ss + uintptr(4*len(st.ssm[i]))
	}
}
