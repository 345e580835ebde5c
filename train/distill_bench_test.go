package train

import (
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/rng"
)

// BenchmarkDistillMicroBatch times one distilled micro-batch (forward,
// backward and the KD term; no optimizer step) of the tiny student with
// the teacher preset (random weights: the cost does not depend on them)
// at 1 thread: fkl, MiniLLM, and MiniLLM's sampling alone, batched (the
// trainer's) and decoding each window alone (the previous sampler). Run
// with -benchtime 1x; compare the rows of one run.
func BenchmarkDistillMicroBatch(b *testing.B) {
	sc, err := configs.Load(configs.Options{Preset: "tiny", Env: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	tc, err := configs.Load(configs.Options{Preset: "teacher", Env: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	student, err := models.New(sc.Model, sc.Quant, 1)
	if err != nil {
		b.Fatal(err)
	}
	student.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	teacher, err := models.New(tc.Model, tc.Quant, 2)
	if err != nil {
		b.Fatal(err)
	}
	teacher.SetRecompute(true) // as newDistiller sets it
	p := plan{micro: sc.Train.MicroBatch, seqLen: sc.Data.SeqLen, nMicro: 1}
	r := rng.New(3, "bench/distill-tokens")
	tokens := make([]int32, p.micro*p.seqLen)
	targets := make([]int32, len(tokens))
	for i := range tokens {
		tokens[i] = int32(r.Intn(sc.Model.Vocab))
		targets[i] = int32(r.Intn(sc.Model.Vocab))
	}
	// One distiller per loss, kept across iterations as the trainer keeps
	// it across micro-batches (the sampler's decoders are reset, not new).
	dists := map[string]*distiller{}
	dist := func(loss string) *distiller {
		if d := dists[loss]; d != nil {
			return d
		}
		dc := sc.Distill
		dc.Loss, dc.Temperature, dc.KDRatio, dc.TeacherMix = loss, 2, 0.5, 0.2
		dists[loss] = &distiller{cfg: dc, loss: loss, teacher: teacher, threads: 1, vocab: sc.Model.Vocab, seed: 1, prompt: p.seqLen / 2}
		return dists[loss]
	}
	for _, c := range []struct {
		name string
		run  func(b *testing.B, step int64)
	}{
		{"fkl", func(b *testing.B, step int64) {
			if _, _, err := dist("fkl").teacherForced(student, tokens, targets, p, 0.5, 0.5); err != nil {
				b.Fatal(err)
			}
		}},
		{"minillm", func(b *testing.B, step int64) {
			if _, _, _, err := dist("minillm").miniLLM(student, step, 0, tokens, targets, p, 0.5, 0.5); err != nil {
				b.Fatal(err)
			}
		}},
		{"minillm-sample-batched", func(b *testing.B, step int64) {
			if _, err := dist("minillm").sample(student, step, 0, tokens, p); err != nil {
				b.Fatal(err)
			}
		}},
		{"minillm-sample-one-by-one", func(b *testing.B, step int64) {
			sampleOneByOne(b, dist("minillm"), student, step, 0, tokens, p)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			student.SetThreads(1)
			teacher.SetThreads(1)
			step := int64(0)
			for b.Loop() {
				student.ZeroGrad()
				c.run(b, step)
				step++
			}
			b.ReportMetric(float64(len(tokens))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
