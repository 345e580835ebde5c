package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/models"
)

// randomEngine exports a random-weight model of a preset (ternary, all
// quantizers on) and loads it.
func randomEngine(t testing.TB, preset string, o edge.Options, sets ...string) *Model {
	t.Helper()
	_, e := randomPair(t, preset, 7, o, sets...)
	return e
}

// randomPair builds a model of preset (with sets) from seed, at ternary
// weights, and the engine of its export with o.
func randomPair(t testing.TB, preset string, seed int64, o edge.Options, sets ...string) (*models.Model, *Model) {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}, Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	f, err := edge.Export(m, c.Quant, nil, o, edge.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, e
}

// The int8 head differs from the exact float head by at most the
// activation rounding: |Δ_v| ≤ Σ_k |E_vk|·0.5/s, plus float32 rounding of
// the block products, lanes and the final division (a relative 1e-5 of
// Σ_k |E_vk·x_k| is far above it).
func TestInt8HeadBound(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		preset string
		embed  gguf.Type
	}{{"micro", gguf.Q8_0}, {"micro", gguf.Q4_0}, {"teacher", gguf.Q3_K}} { // Q3_K: d_model a multiple of 256
		embed := c.embed
		e := randomEngine(t, c.preset, edge.Options{Weights: gguf.TQ2_0, Embed: embed})
		if err := e.SetHead(HeadInt8); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, e.D)
		for trial := 0; trial < 5; trial++ {
			for i := range x {
				x[i] = float32(r.NormFloat64() * math.Pow(10, float64(trial-2)))
			}
			if trial == 4 {
				x[3] = 40 // one outlier dominates the scale
			}
			exact := make([]float32, e.V)
			got := make([]float32, e.V)
			e.head = HeadFloat
			e.logits(exact, x)
			e.head = HeadInt8
			e.logits(got, x)
			amax := 0.0
			for _, v := range x {
				amax = max(amax, math.Abs(float64(v)))
			}
			s := 127 / float64(float32(127)/float32(amax))
			row := make([]float32, e.D)
			for v := range got {
				e.embedRow(row, v)
				var sumAbs, mag float64
				for k, w := range row {
					sumAbs += math.Abs(float64(w))
					mag += math.Abs(float64(w) * float64(x[k]))
				}
				bound := sumAbs*0.5*s/127 + 1e-5*mag + 1e-30
				if d := math.Abs(float64(got[v]) - float64(exact[v])); d > bound {
					t.Fatalf("%s trial %d row %d: int8 head %v, exact %v, |Δ| %g > %g", embed, trial, v, got[v], exact[v], d, bound)
				}
			}
		}
	}
	e := randomEngine(t, "micro", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.F16})
	if err := e.SetHead(HeadInt8); err == nil {
		t.Error("SetHead(HeadInt8) with an F16 embedding succeeded")
	}
	if _, err := ParseHead("int4"); err == nil {
		t.Error("ParseHead(int4) succeeded")
	}
}

// Logits are bit-identical for any thread count and kernel set, for both
// heads and both ternary types (tiny is large enough for the projections
// and the head to split over threads; teacher's d_model 256 takes Q3_K).
func TestThreadsAndKernelSets(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	defer dot.Use("")
	// The comparison proper.
	for _, c := range []struct {
		preset string
		o      edge.Options
	}{{"tiny", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0}}, {"tiny", edge.Options{Weights: gguf.TQ1_0, Embed: gguf.Q4_0}}, {"teacher", edge.Options{Weights: gguf.TQ1_0, Embed: gguf.Q3_K}}} {
		o := c.o
		e := randomEngine(t, c.preset, o)
		for _, h := range []Head{HeadFloat, HeadInt8} {
			if err := e.SetHead(h); err != nil {
				t.Fatal(err)
			}
			var ref []float32
			var refName string
			for _, set := range dot.KernelSets() {
				dot.Use(set)
				for _, th := range []int{1, 2, 3} {
					e.SetThreads(th)
					st := e.NewState()
					var out []float32
					for _, tok := range []int32{1, 500, 2047, 7, 7, 300} {
						l, err := e.Next(st, tok)
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, l...)
					}
					name := set + "/" + string(rune('0'+th))
					if ref == nil {
						ref, refName = out, name
						continue
					}
					for i := range out {
						if math.Float32bits(out[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("%s/%s head %s: logit %d is %v with %s, %v with %s", o.Weights, o.Embed, h, i, out[i], name, ref[i], refName)
						}
					}
				}
			}
		}
	}
}

// BenchmarkDecodeTiny times one decoding step of a random-weight tiny model.
func BenchmarkDecodeTiny(b *testing.B) {
	for _, c := range []struct {
		embed gguf.Type
		h     Head
	}{{gguf.F16, HeadFloat}, {gguf.Q8_0, HeadFloat}, {gguf.Q8_0, HeadInt8}} {
		h := c.h
		b.Run("tiny/tq2_0-"+strings.ToLower(c.embed.String())+"/head="+h.String(), func(b *testing.B) {
			e := randomEngine(b, "tiny", edge.Options{Weights: gguf.TQ2_0, Embed: c.embed})
			if err := e.SetHead(h); err != nil {
				b.Fatal(err)
			}
			st := e.NewState()
			b.ResetTimer()
			c0 := CPUTime()
			for i := 0; i < b.N; i++ {
				if st.Pos() == e.Context {
					st = e.NewState()
				}
				if _, err := e.Next(st, int32(i%e.V)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(float64(b.N)/(CPUTime()-c0).Seconds(), "cpu-tok/s")
		})
	}
}

// A reset state decodes exactly as a new one.
func TestStateReset(t *testing.T) {
	e := randomEngine(t, "tiny", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0})
	run := func(st *State) []float32 {
		var out []float32
		for _, tok := range []int32{3, 9, 27, 81} {
			l, err := e.Next(st, tok)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		return out
	}
	st := e.NewState()
	a := run(st)
	st.Reset()
	if st.Pos() != 0 {
		t.Fatalf("Pos after Reset = %d", st.Pos())
	}
	b := run(st)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("logit %d: %v after Reset, %v from a new state", i, b[i], a[i])
		}
	}
}

// BenchmarkDecodeNano times decoding steps of a random-weight nano model
// (q8_0 embedding, int8 head) at 1 and 2 threads, restarting the state
// every 96 tokens.
func BenchmarkDecodeNano(b *testing.B) {
	e := randomEngine(b, "nano", edge.Options{Weights: gguf.TQ2_0, Embed: gguf.Q8_0})
	if err := e.SetHead(HeadInt8); err != nil {
		b.Fatal(err)
	}
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			e.SetThreads(th)
			st := e.NewState()
			b.ResetTimer()
			c0 := CPUTime()
			for i := 0; i < b.N; i++ {
				if st.Pos() == 96 {
					st.Reset()
				}
				if _, err := e.Next(st, int32(i%e.V)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(float64(b.N)/(CPUTime()-c0).Seconds(), "cpu-tok/s")
		})
	}
}
