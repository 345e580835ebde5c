package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

func BenchmarkAdamWStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) {
			p := models.NewParam("w", false, 1<<20)
			for i := range p.Grad {
				p.Grad[i] = float32(i%7) - 3
			}
			opt, err := NewAdamW([]*models.Param{p}, configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
			if err != nil {
				b.Fatal(err)
			}
			opt.Threads = threads
			b.SetBytes(int64(4 * 4 * len(p.Data))) // w, g, m, v
			for b.Loop() {
				opt.Step(1e-3)
			}
		})
	}
}

// BenchmarkRunMicro trains the 20-step micro config end to end (data
// preparation, training, validation, checkpoints, samples) and reports the
// training throughput.
func BenchmarkRunMicro(b *testing.B) {
	root := testRoot(b)
	var tps float64
	for b.Loop() {
		dir := b.TempDir()
		db, err := registry.Open(filepath.Join(dir, "registry.db"))
		if err != nil {
			b.Fatal(err)
		}
		res, err := runT(context.Background(), testOpts{Options: Options{
			Root: root, CacheDir: filepath.Join(dir, "cache"), RunDir: filepath.Join(dir, "run"),
			Config: microConfig(), Hash: microHash, Threads: 1,
		}, DB: db})
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		tps = res.TokensPerSec
	}
	b.ReportMetric(tps, "train-tok/s")
}
