package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// The packed dot products equal Σ t·q over the de-quantized codes.
func TestPackedDots(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 3 * 256
	codes := make([]float32, n)
	q := make([]int8, n)
	for trial := 0; trial < 20; trial++ {
		var want int32
		for i := range codes {
			codes[i] = float32(r.IntN(3) - 1)
			q[i] = int8(r.IntN(256) - 128)
			want += int32(codes[i]) * int32(q[i])
		}
		var qsum int32
		for _, v := range q {
			qsum += int32(v)
		}
		for _, typ := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
			row, err := gguf.Quantize(typ, codes)
			if err != nil {
				t.Fatal(err)
			}
			var got [1]int32
			if typ == gguf.TQ1_0 {
				dot.TQ1Rows(got[:], row, q, n/256)
			} else {
				dot.TQ2Rows(got[:], row, q, n/256)
			}
			if got[0]-qsum != want {
				t.Fatalf("%s trial %d: dot %d, want %d", typ, trial, got[0]-qsum, want)
			}
		}
	}
}

// Variants the trained micro run does not cover: no activation quantizer
// (float activations times ternary weights), 4-bit activations, no SubLN,
// no FFN. Without an activation quantizer there is no code to flip, so the
// logits must agree to float32 summation error at every position.
func TestQuantVariants(t *testing.T) {
	for _, v := range []struct {
		name string
		sets []string
		tol  float64
	}{
		{"act_bits=0", []string{"quant.act_bits=0"}, noFlipTol},
		{"act_bits=4 no SubLN no FFN", []string{"quant.act_bits=4", "quant.subln=false", "model.ffn=false"}, 2.0 / 7},
	} {
		t.Run(v.name, func(t *testing.T) {
			m, e := randomPair(t, "micro", 3, edge.Options{Weights: gguf.TQ1_0, Embed: gguf.F32}, v.sets...)
			if e.Tokenizer() != nil {
				t.Error("a file without tokenizer keys has a tokenizer")
			}
			if _, err := e.Generate("x", 3); err == nil {
				t.Error("Generate without a tokenizer succeeded")
			}
			ctx := []int32{256, 79, 110, 99, 101, 32, 117, 112, 111, 110}
			a := compare(t, m, e, ctx)
			t.Logf("%s: max |Δ|/max|logit| %.3g over %d positions, first above %g: %d", v.name, a.maxRel, a.steps, noFlipTol, a.firstFlip)
			if a.maxRel > v.tol {
				t.Errorf("logits differ by %.3g relative, tolerance %g", a.maxRel, v.tol)
			}
			gen, err := e.GenerateTokens(ctx, 8, -1)
			if err != nil || len(gen) != 8 {
				t.Errorf("GenerateTokens = %v, %v", gen, err)
			}
		})
	}
}
