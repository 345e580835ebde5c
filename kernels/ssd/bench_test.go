package ssd

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

var benchShapes = []struct {
	name string
	d    Dims
}{
	// A small training shape.
	{"B4xL256xH8xP32xN32", Dims{Batch: 4, Len: 256, Heads: 8, HeadDim: 32, Groups: 1, State: 32, Chunk: 64}},
	// One layer of the tiny preset at its training shape: D=128, E=2,
	// P=32 → H=8, N=32, Q=32, batch 16 × 128 tokens.
	{"tiny_B16xL128xH8xP32xN32", Dims{Batch: 16, Len: 128, Heads: 8, HeadDim: 32, Groups: 1, State: 32, Chunk: 32}},
	// One layer of the nano preset: D=512, E=2, P=64 → H=16, N=96, Q=64.
	{"nano_B1xL2048xH16xP64xN96", Dims{Batch: 1, Len: 2048, Heads: 16, HeadDim: 64, Groups: 1, State: 96, Chunk: 64}},
}

// BenchmarkForward reports GFLOP/s by the forward FLOP count of Dims.FLOPs.
func BenchmarkForward(b *testing.B) {
	threads := runtime.GOMAXPROCS(0)
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			d := s.d
			in := randInputs(1, d, dtSmall, false)
			y := make([]float32, d.xSize())
			b.ResetTimer()
			for b.Loop() {
				Forward(threads, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
			}
			b.ReportMetric(d.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(d.Batch*d.Len*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkForwardBackward reports GFLOP/s counting training as three
// forwards (backward ≈ two).
func BenchmarkForwardBackward(b *testing.B) {
	threads := runtime.GOMAXPROCS(0)
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			d := s.d
			in := randInputs(1, d, dtSmall, false)
			y, dy := make([]float32, d.xSize()), make([]float32, d.xSize())
			for i := range dy {
				dy[i] = in.x[(i*7)%len(in.x)]
			}
			dx, ddt, dA := make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads)
			dB, dC := make([]float32, d.bcSize()), make([]float32, d.bcSize())
			b.ResetTimer()
			for b.Loop() {
				c := Forward(threads, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
				Backward(threads, d, c, dy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, dx, ddt, dA, dB, dC, nil)
			}
			b.ReportMetric(3*d.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(d.Batch*d.Len*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// nanoTrain is one layer of the nano preset at its measured training shape:
// D=512, E=1, P=64 → H=8, N=96, Q=64, batch 1 × 512 tokens.
var nanoTrain = Dims{Batch: 1, Len: 512, Heads: 8, HeadDim: 64, Groups: 1, State: 96, Chunk: 64}

// BenchmarkNanoTrain times Forward and Backward separately on the nano
// training shape at one and two threads.
func BenchmarkNanoTrain(b *testing.B) {
	d := nanoTrain
	in := randInputs(1, d, dtSmall, false)
	y, dy := make([]float32, d.xSize()), make([]float32, d.xSize())
	for i := range dy {
		dy[i] = in.x[(i*7)%len(in.x)]
	}
	dx, ddt, dA := make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads)
	dB, dC := make([]float32, d.bcSize()), make([]float32, d.bcSize())
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("Forward/threads=%d", th), func(b *testing.B) {
			var c *Cache
			for b.Loop() {
				c = ForwardReuse(c, th, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
			}
		})
		b.Run(fmt.Sprintf("Backward/threads=%d", th), func(b *testing.B) {
			c := Forward(th, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
			for b.Loop() {
				Backward(th, d, c, dy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, dx, ddt, dA, dB, dC, nil)
			}
		})
	}
}

// evalShape is one SSD layer of the tiny preset at its evaluation shape:
// 64 short sequences (20 tokens, one chunk of 32), H=8, P=32, N=32.
var evalShape = Dims{Batch: 64, Len: 20, Heads: 8, HeadDim: 32, Groups: 1, State: 32, Chunk: 32}

// BenchmarkForwardInference times ForwardInference against ForwardReuse on
// the evaluation shape (no initial or final state), the two alternating
// within each iteration (which runs first alternates too), and reports the
// ratio of their times measured in the same run: inference/reuse below 1
// means ForwardInference is faster.
func BenchmarkForwardInference(b *testing.B) {
	d := evalShape
	in := randInputs(1, d, dtSmall, false)
	y0, y1 := make([]float32, d.xSize()), make([]float32, d.xSize())
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			var rc, ic *Cache
			var tRef, tInf time.Duration
			ref := func() {
				t0 := time.Now()
				rc = ForwardReuse(rc, th, d, y0, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
				tRef += time.Since(t0)
			}
			inf := func() {
				t0 := time.Now()
				ic = ForwardInference(ic, th, d, y1, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
				tInf += time.Since(t0)
			}
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					ref()
					inf()
				} else {
					inf()
					ref()
				}
				i++
			}
			b.ReportMetric(float64(tInf)/float64(tRef), "inference/reuse")
			b.ReportMetric(float64(tRef.Microseconds())/float64(i), "reuse-µs/op")
			b.ReportMetric(float64(tInf.Microseconds())/float64(i), "inference-µs/op")
		})
	}
}
