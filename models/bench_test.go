package models

import (
	"runtime"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

func tinyBenchConfig() configs.ModelConfig {
	return configs.ModelConfig{
		DModel: 128, NLayers: 6, AttnLayers: []int{1, 4}, NHeads: 4, NKVHeads: 2, RopeTheta: 10000,
		DState: 32, Expand: 2, HeadDim: 32, NGroups: 1, DConv: 4, Chunk: 32,
		FFN: true, DFF: 256, Vocab: 2048, Context: 256, NormEps: 1e-5, InitStd: 0.02,
	}
}

func benchTrain(b *testing.B, mc configs.ModelConfig, batch, seqLen int) {
	m, err := New(mc, quantConfig(true, 8), 1)
	if err != nil {
		b.Fatal(err)
	}
	m.SetThreads(runtime.GOMAXPROCS(0))
	m.SetQuant(QuantState{Float, Ternary, 1})
	tokens := randTokens(1, batch*seqLen, mc.Vocab)
	targets := randTokens(2, batch*seqLen, mc.Vocab)
	if _, err := m.ForwardBackward(tokens, targets, batch, seqLen, 1); err != nil { // allocate buffers
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.ForwardBackward(tokens, targets, batch, seqLen, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch*seqLen)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkTrainTiny: forward+backward of the tiny preset's training step,
// D=128, 6 layers (attention at 1 and 4), vocab 2048, B=16, T=128.
func BenchmarkTrainTiny(b *testing.B) { benchTrain(b, tinyBenchConfig(), 16, 128) }

// BenchmarkTrainNano: forward+backward of the nano shape at B=1, T=512.
func BenchmarkTrainNano(b *testing.B) { benchTrain(b, nanoConfig(), 1, 512) }

// BenchmarkStepTiny: one decoding step of the tiny shape.
func BenchmarkStepTiny(b *testing.B) {
	mc := tinyBenchConfig()
	m, err := New(mc, quantConfig(true, 8), 1)
	if err != nil {
		b.Fatal(err)
	}
	st := m.NewState()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st.Pos() == mc.Context {
			st = m.NewState()
		}
		if _, err := m.Step(st, int32(i%mc.Vocab)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
