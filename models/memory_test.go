package models

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

func loadPreset(t *testing.T, preset string, sets ...string) *configs.Config {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: preset, Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatalf("load %s %v: %v", preset, sets, err)
	}
	return c
}

func TestSaturatingArithmetic(t *testing.T) {
	const M = math.MaxInt64
	for _, c := range []struct {
		name string
		got  int64
		want int64
	}{
		{"mul", satMul(3, 5), 15},
		{"mul zero", satMul(0, M), 0},
		{"mul edge", satMul(M, 1), M},
		{"mul overflow", satMul(1<<32, 1<<31), M},
		{"mul overflow just", satMul(3037000500, 3037000500), M},
		{"mul fits just", satMul(3037000499, 3037000499), 3037000499 * 3037000499},
		{"mul negative", satMul(-1, 5), M},
		{"add", satAdd(2, 3), 5},
		{"add edge", satAdd(M-1, 1), M},
		{"add overflow", satAdd(M, 1), M},
		{"add negative", satAdd(-4, 1), M},
		{"prod", prod(2, 3, 4), 24},
		{"prod overflow then zero", prod(M, 2, 0), 0},
		{"prod overflow", prod(1<<20, 1<<20, 1<<20, 1<<20), M},
		{"sum", sum(1, 2, 3), 6},
		{"sum overflow", sum(M/2, M/2, 2), M},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestCountParamsMatchesDescribe: the overflow-safe count equals Describe
// wherever Describe's does not overflow, and saturates where it does.
func TestCountParamsMatchesDescribe(t *testing.T) {
	cases := []struct {
		preset string
		sets   []string
	}{
		{"micro", nil}, {"tiny", nil}, {"nano", nil},
		{"tiny", []string{"quant.subln=false"}},
		{"tiny", []string{"model.attn_layers=[]"}},
		{"tiny", []string{"model.attn_layers=[0, 1, 2, 3, 4, 5]"}},
		{"tiny", []string{"model.ffn=false", "model.n_groups=2"}},
		{"micro", []string{"model.d_model=16384", "model.n_layers=1024", "model.vocab=1048576", "model.d_ff=65536", "model.expand=16", "model.head_dim=4096", "model.n_heads=1024", "model.n_kv_heads=1024"}},
	}
	for _, c := range cases {
		cfg := loadPreset(t, c.preset, c.sets...)
		info, err := Describe(cfg.Model, cfg.Quant)
		if err != nil {
			t.Fatal(err)
		}
		n, err := CountParams(cfg.Model, cfg.Quant)
		if err != nil {
			t.Fatal(err)
		}
		if n != info.Total || n <= 0 {
			t.Errorf("%s %v: CountParams %d, Describe %d", c.preset, c.sets, n, info.Total)
		}
	}
	// A model config that never went through configs validation.
	mc := loadPreset(t, "micro").Model
	mc.DModel = 1 << 62
	n, err := CountParams(mc, loadPreset(t, "micro").Quant)
	if err != nil {
		t.Fatal(err)
	}
	if n != math.MaxInt64 {
		t.Errorf("d_model 2^62: CountParams = %d, want saturation at MaxInt64", n)
	}
	mc.DModel = -8
	if _, err := CountParams(mc, loadPreset(t, "micro").Quant); err == nil || !strings.Contains(err.Error(), "d_model") {
		t.Errorf("negative d_model: %v", err)
	}
}

// TestEstimateMatchesAllocation measures what a model and one training
// micro-batch really allocate and compares it with the estimate (without
// the optimizer, which lives in package train), with activations stored
// and recomputed.
func TestEstimateMatchesAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few tens of MB")
	}
	for _, c := range []struct {
		name      string
		sets      []string
		recompute bool
	}{
		{"hybrid", []string{"train.micro_batch=4", "data.seq_len=128"}, false},
		{"hybrid recomputed", []string{"train.micro_batch=4", "data.seq_len=128"}, true},
		{"no subln, no act quant, no ffn", []string{"train.micro_batch=2", "quant.subln=false", "quant.act_bits=0", "model.ffn=false"}, false},
		{"no subln, no act quant, no ffn, recomputed", []string{"train.micro_batch=2", "quant.subln=false", "quant.act_bits=0", "model.ffn=false"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := loadPreset(t, "tiny", c.sets...)
			e, err := EstimateTrainMemoryWith(cfg, 1, c.recompute)
			if err != nil {
				t.Fatal(err)
			}
			B, T := cfg.Train.MicroBatch, cfg.Data.SeqLen
			tokens := make([]int32, B*T)
			targets := make([]int32, B*T)
			for i := range tokens {
				tokens[i] = int32(i*7) % int32(cfg.Model.Vocab)
				targets[i] = int32(i*11+3) % int32(cfg.Model.Vocab)
			}
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			m, err := New(cfg.Model, cfg.Quant, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.SetThreads(1)
			m.SetRecompute(c.recompute)
			m.SetQuant(QuantState{From: Int4, To: Ternary, Lambda: 0.5})
			if _, err := m.ForwardBackward(tokens, targets, B, T, 1); err != nil {
				t.Fatal(err)
			}
			runtime.GC() // twice: pooled scratch survives one collection
			runtime.GC()
			runtime.ReadMemStats(&m1)
			runtime.KeepAlive(m)
			got := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
			want := e.Weights + e.Quant + e.Activations
			t.Logf("measured %d bytes, estimated %d (weights %d, quant %d, activations %d)", got, want, e.Weights, e.Quant, e.Activations)
			if r := float64(got) / float64(want); r < 0.98 || r > 1.02 {
				t.Errorf("measured %d bytes, estimate %d: ratio %.4f, want within 2%%", got, want, r)
			}
		})
	}
}

// TestEstimateNano checks the parts of the nano preset's estimate that
// follow directly from its shapes, and that the report's shape (4×2048)
// fits in 8 GiB with recomputation at 2 threads.
func TestEstimateNano(t *testing.T) {
	c := loadPreset(t, "nano")
	e, err := EstimateTrainMemory(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Describe(c.Model, c.Quant)
	if err != nil {
		t.Fatal(err)
	}
	if e.Params != info.Total || e.Weights != 8*info.Total || e.Optimizer != 8*info.Total {
		t.Errorf("params %d weights %d optimizer %d, Describe total %d", e.Params, e.Weights, e.Optimizer, info.Total)
	}
	// 4 workers, each 8 seq_len×head_dim buffers and two strips of 96 rows.
	if want := int64(4 * (8*2048*64 + 2*96*2048) * 4); e.Scratch != want {
		t.Errorf("scratch %d bytes, want %d", e.Scratch, want)
	}
	if e.Rows != 4*2048 || e.Recompute {
		t.Errorf("rows %d, recompute %v", e.Rows, e.Recompute)
	}
	if e.Total != e.Weights+e.Optimizer+e.Quant+e.Activations+e.Scratch {
		t.Errorf("inconsistent estimate %+v", e)
	}
	r, err := EstimateTrainMemoryWith(c, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	// Recomputed: the stored estimate less 23 of the 24 layers' block
	// activations (one Mamba and one attention layer stay).
	if !r.Recompute || r.Activations >= e.Activations/3 || r.Weights != e.Weights {
		t.Errorf("recomputed activations %d, stored %d", r.Activations, e.Activations)
	}
	if r.Total > 8<<30 {
		t.Errorf("nano 4×2048 recomputed at 2 threads: %s, want at most 8 GiB", gib(r.Total))
	}
	t.Logf("nano stored: %+v (%s); recomputed: %s", e, gib(e.Total), gib(r.Total))
}

// TestAutoRecompute: recomputation is chosen exactly when the stored
// estimate exceeds three quarters of the memory.
func TestAutoRecompute(t *testing.T) {
	c := loadPreset(t, "nano")
	e, err := EstimateTrainMemory(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		mem  int64
		want bool
	}{
		{1 << 40, false},
		{(4*e.Total + 2) / 3, false}, // 3/4 of it is at least the estimate
		{(4*e.Total+2)/3 - 1, true},
		{e.Total, true},
		{1 << 30, true},
	} {
		if got := autoRecompute(c, 2, x.mem); got != x.want {
			t.Errorf("memory %d (stored estimate %d): recompute %v, want %v", x.mem, e.Total, got, x.want)
		}
	}
}

func TestCheckTrainMemory(t *testing.T) {
	const GiB = 1 << 30
	huge := []string{"model.d_model=16384", "model.vocab=1048576", "model.n_layers=64", "model.d_ff=65536",
		"model.head_dim=64", "train.micro_batch=1", "data.seq_len=16"}
	nanRate := loadPreset(t, "micro")
	nanRate.Train.LR = math.NaN()
	cases := []struct {
		name   string
		c      *configs.Config
		mem    int64
		want   []string // nil: no error
		absent []string
	}{
		{"micro fits", loadPreset(t, "micro"), GiB, nil, nil},
		{"nano fits 1 TiB", loadPreset(t, "nano"), 1024 * GiB, nil, nil},
		{"nano fits 8 GiB recomputed", loadPreset(t, "nano"), 8 * GiB, nil, nil},
		{"nano on 1 GiB", loadPreset(t, "nano"), GiB, []string{"config needs an estimated", "(block activations recomputed in the backward pass)", "more than this machine's 1.0 GiB", "MemTotal",
			"train.micro_batch·data.seq_len = 4·2048 = 8192 rows", "lower train.micro_batch (4;", "data.seq_len (2048)"}, []string{"make the model smaller"}},
		{"long sequences", loadPreset(t, "micro", "model.context=65536", "data.seq_len=65536", "train.micro_batch=1", "train.batch_size=1", "train.tokens=65536"), 128 << 20,
			[]string{"more than this machine's 128.0 MiB", "lower train.micro_batch (1;", "data.seq_len (65536)"}, []string{"make the model smaller"}},
		{"no attention", loadPreset(t, "nano", "model.attn_layers=[]"), GiB, []string{"lower train.micro_batch (4"}, nil},
		{"parameters dominate", loadPreset(t, "micro", huge...), 64 * GiB, []string{"make the model smaller", "model.d_model (16384)", "model.vocab (1048576)"}, []string{"lower train.micro_batch"}},
		{"invalid config", nanRate, 1024 * GiB, []string{"train.lr = NaN"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkTrainMemory(c.c, 4, c.mem)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
			for _, w := range c.absent {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error has %q:\n%s", w, err)
				}
			}
		})
	}
	// On this machine (or none, where /proc/meminfo is missing) micro fits.
	if err := CheckTrainMemory(loadPreset(t, "micro"), 1); err != nil {
		t.Errorf("micro on this machine: %v", err)
	}
}

func TestParseMemTotal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"MemTotal:       24683784 kB\nMemFree:        24139592 kB\n", 24683784 * 1024, true},
		{"MemFree:        1 kB\nMemTotal: 8 kB\n", 8192, true},
		{"MemFree:        1 kB\n", 0, false},
		{"", 0, false},
		{"MemTotal: lots kB\n", 0, false},
		{"MemTotal: 12 MB\n", 0, false},
		{"MemTotal: -12 kB\n", 0, false},
		{"MemTotal: 99999999999999999999 kB\n", 0, false},
		{"MemTotal: 9007199254740993 kB\n", 0, false}, // would overflow in bytes
	} {
		got, ok := parseMemTotal(strings.NewReader(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestGiB(t *testing.T) {
	for _, c := range []struct {
		b    int64
		want string
	}{
		{512 << 20, "512.0 MiB"}, {3 << 30, "3.0 GiB"}, {math.MaxInt64, "more than 8 EiB"},
	} {
		if got := gib(c.b); got != c.want {
			t.Errorf("gib(%d) = %q, want %q", c.b, got, c.want)
		}
	}
}
