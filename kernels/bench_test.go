package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// benchShapes are the language-model GEMM shapes: projections at 512 tokens,
// a long-sequence projection and square references.
var benchShapes = []gemmShape{
	{512, 512, 1536}, {512, 1536, 512}, {4096, 512, 512},
	{512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048},
}

// BenchmarkGEMM reports GFLOP/s for the selected kernel set on every shape,
// variant and thread count, and for the pure-Go kernels on one shape.
func BenchmarkGEMM(b *testing.B) {
	type run struct {
		kernels string
		shape   gemmShape
	}
	runs := []run{{"purego", gemmShape{256, 256, 256}}}
	if KernelSet() != "purego" {
		runs = append(runs, run{KernelSet(), gemmShape{256, 256, 256}})
	}
	for _, sh := range benchShapes {
		runs = append(runs, run{KernelSet(), sh})
	}
	sets := availableKernels()
	for _, r := range runs {
		var ks kernelSet
		for _, s := range sets {
			if s.name == r.kernels {
				ks = s
			}
		}
		for _, variant := range GemmVariants() {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%s/%s/%dx%dx%d/t%d", r.kernels, variant, r.shape.m, r.shape.k, r.shape.n, threads)
				b.Run(name, func(b *testing.B) {
					g := benchArgs(variant, r.shape.m, r.shape.k, r.shape.n)
					b.ResetTimer()
					for b.Loop() {
						gemm(ks, threads, g)
					}
					flops := 2 * float64(r.shape.m) * float64(r.shape.k) * float64(r.shape.n)
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

func TestBenchGEMM(t *testing.T) {
	for _, ks := range KernelSets() {
		res, err := BenchGEMM(ks, "NT", 33, 17, 65, 2, time.Millisecond)
		if err != nil {
			t.Fatalf("BenchGEMM(%s): %v", ks, err)
		}
		if res.Kernels != ks || res.Runs < 2 || !(res.GFLOPS > 0) || res.M != 33 || res.K != 17 || res.N != 65 {
			t.Fatalf("BenchGEMM(%s) = %+v", ks, res)
		}
	}
	for _, tc := range []struct {
		kernels, variant string
		m, k, n          int
		want             string
	}{
		{"", "XX", 1, 1, 1, `variant "XX"`},
		{"sse9", "NN", 1, 1, 1, `kernel set "sse9"`},
		{"", "NN", 0, 1, 1, "m=0"},
	} {
		_, err := BenchGEMM(tc.kernels, tc.variant, tc.m, tc.k, tc.n, 1, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("BenchGEMM(%q, %q, %d, %d, %d): error %v, want one naming %s", tc.kernels, tc.variant, tc.m, tc.k, tc.n, err, tc.want)
		}
	}
}

// BenchmarkMicroKernel measures each kernel set's register tile alone, on
// panels that stay in L1: the ceiling the blocked GEMM can approach. It
// reports the best batch of 64 calls (a shared machine slows batches at
// random) next to the FMA peak loop measured in the same run.
func BenchmarkMicroKernel(b *testing.B) {
	const kc, batch = 256, 64
	peak, loop := PeakGFLOPS(1, 50*time.Millisecond)
	for _, ks := range availableKernels() {
		b.Run(ks.name, func(b *testing.B) {
			a := make([]float32, kc*ks.mr)
			bp := make([]float32, kc*ks.nr)
			c := make([]float32, ks.mr*ks.nr)
			best := time.Duration(math.MaxInt64)
			for b.Loop() {
				t0 := time.Now()
				for range batch {
					ks.kernel(kc, a, bp, c, ks.nr, true)
				}
				best = min(best, time.Since(t0))
			}
			g := 2 * float64(kc*ks.mr*ks.nr*batch) / best.Seconds() / 1e9
			b.ReportMetric(g, "GFLOP/s")
			if peak > 0 {
				b.ReportMetric(g/peak, "of-peak("+loop+")")
			}
		})
	}
}

func TestPeakGFLOPS(t *testing.T) {
	g1, name := PeakGFLOPS(1, 10*time.Millisecond)
	if KernelSet() == "purego" {
		if g1 != 0 || name != "" {
			t.Fatalf("purego build: PeakGFLOPS = %v, %q; want 0, \"\"", g1, name)
		}
		return
	}
	// A measured rate, not a speed floor: a loaded machine may deschedule
	// the loop for most of its window, so only its sign and finiteness are
	// checked (speed belongs in benchmarks).
	if name == "" || !(g1 > 0) || math.IsInf(g1, 0) {
		t.Fatalf("PeakGFLOPS(1) = %v, %q; want a named loop and a positive, finite rate", g1, name)
	}
}
