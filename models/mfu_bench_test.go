//go:build unix

package models_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/rng"
	"github.com/nanomamba-edge/harness/train"
)

// BenchmarkTrainStepMFU times the training step that `harness bench` times
// (forward, backward and AdamW of a preset at its training shape in the
// last QAT phase's quantization) one step at a time, at GOMAXPROCS threads,
// and after every step measures the FMA peak for 20 ms. On a shared machine
// the best step and the best peak are the least disturbed ones, so it
// reports the best step's tokens/s, its MFU against the best peak of the
// same run (mfu%), tokens per CPU second of the least CPU-hungry step
// (cpu-tokens/s, which other processes disturb less than wall time), the
// MFU of that CPU time against the same peak (cpu-mfu%; on one thread a
// step's CPU time is its time on the core, so where other jobs take the
// core away it is the figure that measures the step), and the peak itself
// (peak-GFLOP/s).
func BenchmarkTrainStepMFU(b *testing.B) {
	for _, bc := range []struct {
		preset string
		batch  int
		seqLen int
	}{{"tiny", 16, 128}, {"nano", 1, 512}} {
		b.Run(bc.preset, func(b *testing.B) { benchStepMFU(b, bc.preset, bc.batch, bc.seqLen) })
	}
}

func benchStepMFU(b *testing.B, preset string, B, T int) {
	threads := runtime.GOMAXPROCS(0)
	c, err := configs.Load(configs.Options{Preset: preset, Env: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.SetThreads(threads)
	wq, err := models.ParseWeightQuant(c.QAT.Phases[len(c.QAT.Phases)-1].Weights)
	if err != nil {
		b.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: wq, To: wq, Lambda: 1})
	opt, err := train.NewAdamW(m.Params(), c.Train)
	if err != nil {
		b.Fatal(err)
	}
	opt.Threads = threads
	s := rng.New(1, "bench/tokens")
	toks, tgts := make([]int32, B*T), make([]int32, B*T)
	for i := range toks {
		toks[i] = int32(s.Intn(c.Model.Vocab))
		tgts[i] = int32(s.Intn(c.Model.Vocab))
	}
	step := func() {
		m.ZeroGrad()
		if _, err := m.ForwardBackward(toks, tgts, B, T, 1); err != nil {
			b.Fatal(err)
		}
		opt.Step(1e-4)
	}
	fpt, err := experiment.TrainFLOPsPerToken(c, T)
	if err != nil {
		b.Fatal(err)
	}
	step() // allocates the buffers
	bestWall, bestCPU, peak := time.Duration(1<<62), time.Duration(1<<62), 0.0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, t0 := cpuTime(), time.Now()
		step()
		wall, cpu := time.Since(t0), cpuTime()-c0
		bestWall, bestCPU = min(bestWall, wall), min(bestCPU, cpu)
		b.StopTimer()
		p, _ := kernels.PeakGFLOPS(threads, 20*time.Millisecond)
		peak = max(peak, p)
		b.StartTimer()
	}
	tokens := float64(B * T)
	b.ReportMetric(tokens/bestWall.Seconds(), "tokens/s")
	b.ReportMetric(tokens/bestCPU.Seconds(), "cpu-tokens/s")
	if peak > 0 {
		b.ReportMetric(100*fpt*tokens/bestWall.Seconds()/1e9/peak, "mfu%")
		b.ReportMetric(peak, "peak-GFLOP/s")
	}
	if cp := cpuPeak(threads); cp > 0 {
		b.ReportMetric(100*fpt*tokens/bestCPU.Seconds()/1e9/cp, "cpu-mfu%")
		b.ReportMetric(cp, "cpu-peak-GFLOP/s")
	}
}

// cpuPeak returns the FMA loop's FLOPs per second of the process's CPU
// time with threads threads (one core's peak, whatever the thread count,
// as cpu-tokens/s counts tokens per CPU second of all threads; 0 where no
// FMA loop exists):
// kernels.PeakGFLOPS with no minimum time runs three repetitions of 2²²
// iterations per thread of its loop, whose FLOPs per iteration its name
// gives (12 FMAs of 16 or 8 lanes). The best of five such measurements is
// returned.
func cpuPeak(threads int) float64 {
	best := 0.0
	for range 5 {
		c0 := cpuTime()
		_, name := kernels.PeakGFLOPS(threads, 0)
		cpu := cpuTime() - c0
		var perIter float64
		switch name {
		case "avx512-fma":
			perIter = 12 * 16 * 2
		case "avx2-fma":
			perIter = 12 * 8 * 2
		default:
			return 0
		}
		if cpu > 0 {
			best = max(best, 3*float64(threads)*(1<<22)*perIter/cpu.Seconds()/1e9)
		}
	}
	return best
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
