package kernels

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

// TestKernelAMatchesPackedKernel runs each set's in-place micro-kernel on
// row-major and transposed A panels (several strides, K lengths around
// the unrolling, with and without loading C) and compares the tile bit for
// bit with the packed micro-kernel on the same panel packed.
func TestKernelAMatchesPackedKernel(t *testing.T) {
	for _, ks := range availableKernels() {
		if ks.kernelA == nil {
			continue
		}
		mr, nr := ks.mr, ks.nr
		for _, tc := range []struct {
			kc, ld int
			trans  bool
		}{
			{1, 1, false}, {2, 2, false}, {3, 7, false}, {17, 17, false}, {256, 300, false}, {255, 1024, false},
			{1, mr, true}, {2, mr + 1, true}, {17, 40, true}, {256, 584, true}, {255, 1024, true},
		} {
			for _, load := range []bool{false, true} {
				name := fmt.Sprintf("%s/kc=%d/ld=%d/trans=%v/load=%v", ks.name, tc.kc, tc.ld, tc.trans, load)
				s := &testStream{state: uint64(tc.kc*131 + tc.ld)}
				// op(A) is mr×kc: element (r, p) at r*ld+p, or p*ld+r when
				// transposed.
				rs, kst, n := tc.ld, 1, (mr-1)*tc.ld+tc.kc
				if tc.trans {
					rs, kst, n = 1, tc.ld, (tc.kc-1)*tc.ld+mr
				}
				a := adversarialData(s, n)
				b := adversarialData(s, tc.kc*nr)
				c0 := normalData(s, mr*(nr+3))
				packed := make([]float32, mr*tc.kc)
				ks.pack(packed, a, 0, tc.ld, tc.trans, mr, mr, tc.kc)
				want := slices.Clone(c0)
				ks.kernel(tc.kc, packed, b, want, nr+3, load)
				got := slices.Clone(c0)
				ks.kernelA(tc.kc, a, rs, kst, b, got, nr+3, load)
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("%s: C[%d] = %g (%#x), packed kernel %g (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// TestInPlaceAMatchesPacked runs every variant on shapes where gemmBlock
// reads A in place (full micro-panels, a packed ragged last panel, ragged
// column tiles, K across blocks) and where it does not (a row-major A
// with a row stride of a multiple of 4 KiB), at several thread counts,
// with A read in place and with it packed, against the plain FMA chain.
func TestInPlaceAMatchesPacked(t *testing.T) {
	defer func() { noInPlaceA = false }()
	for _, sh := range []gemmShape{
		{12, 1, 32}, {24, 7, 33}, {25, 300, 70}, {97, 257, 65}, {200, 64, 300},
		{13, 1024, 40}, {1024, 40, 13}, {40, 2048, 20},
	} {
		s := &testStream{state: uint64(sh.m*7 + sh.k*13 + sh.n)}
		a := adversarialData(s, sh.m*sh.k)
		b := adversarialData(s, sh.k*sh.n)
		c0 := normalData(s, sh.m*sh.n)
		for _, variant := range variants {
			for _, acc := range []bool{false, true} {
				want := slices.Clone(c0)
				refGemm(variant, want, a, b, sh.m, sh.k, sh.n, acc)
				for _, ks := range availableKernels() {
					for _, packed := range []bool{false, true} {
						noInPlaceA = packed
						for _, threads := range []int{1, 2, 3} {
							got := slices.Clone(c0)
							gemmWith(ks, variant, threads, got, a, b, sh.m, sh.k, sh.n, acc)
							if i := firstDiff(got, want); i >= 0 {
								t.Fatalf("%s %s %d×%d×%d acc=%v packed=%v threads=%d: C[%d] = %g, want %g",
									ks.name, variant, sh.m, sh.k, sh.n, acc, packed, threads, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestInPlaceAChoice pins which operands are read in place, on sets with
// an in-place kernel: a transposed A always, a row-major A whose row
// stride is not a multiple of 4 KiB.
func TestInPlaceAChoice(t *testing.T) {
	for _, tc := range []struct {
		variant string
		m, k    int
		want    bool
	}{
		{"NN", 64, 128, true}, {"NT", 64, 584, true}, {"TN", 584, 64, true},
		{"NN", 64, 1024, false}, {"NT", 64, 2048, false}, {"TN", 2048, 64, true}, {"TN", 1000, 64, true},
	} {
		g := variantArgs(tc.variant, nil, nil, nil, tc.m, tc.k, 8, false)
		for _, ks := range availableKernels() {
			want := tc.want && ks.kernelA != nil
			if got := inPlaceA(ks, g); got != want {
				t.Errorf("%s %s m=%d k=%d: inPlaceA = %v, want %v", ks.name, tc.variant, tc.m, tc.k, got, want)
			}
		}
	}
}

// TestTaskQueueHandsOutEachTaskOnce takes runs concurrently from queues of
// several sizes and checks that every task is handed out exactly once and
// that, with two workers and no contention, worker 0 takes from the front
// and worker 1 from the back.
func TestTaskQueueHandsOutEachTaskOnce(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 7, 100, 1000} {
		for _, threads := range []int{1, 2, 3} {
			q := newTaskQueue(n)
			seen := make([]int32, n)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := 0; w < threads; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						lo, hi, ok := q.take(w, threads, func(left int64) int64 { return left/4 + 1 })
						if !ok {
							return
						}
						mu.Lock()
						for i := lo; i < hi; i++ {
							seen[i]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d threads=%d: task %d handed out %d times", n, threads, i, c)
				}
			}
		}
	}
	q := newTaskQueue(10)
	one := func(int64) int64 { return 1 }
	for _, tc := range []struct {
		w      int
		lo, hi int64
	}{{0, 0, 1}, {1, 9, 10}, {1, 8, 9}, {0, 1, 2}} {
		if lo, hi, ok := q.take(tc.w, 2, one); !ok || lo != tc.lo || hi != tc.hi {
			t.Fatalf("worker %d took [%d, %d) ok=%v, want [%d, %d)", tc.w, lo, hi, ok, tc.lo, tc.hi)
		}
	}
}

// TestKSplitTNMatchesReference runs TN products that kSplitGemm takes (K of
// at least kSplitMin steps per thread, a row stride of A read in place) at
// several thread counts, with and without accumulation, against the plain
// FMA chain; the chains of each element then run over the threads' K
// ranges in turn.
func TestKSplitTNMatchesReference(t *testing.T) {
	// A product of few row tiles (a rank-8 LoRA gradient) splits columns
	// instead: a K split would leave each worker waiting for the one before.
	for _, ks := range availableKernels() {
		if g := variantArgs("TN", nil, make([]float32, 8*4096), make([]float32, 4096*64), 8, 4096, 64, false); kSplit(ks, 2, g) {
			t.Errorf("%s: an 8-row TN product splits K", ks.name)
		}
	}
	for _, sh := range []gemmShape{{144, 768, 32}, {145, 2048, 70}, {150, 777, 33}, {300, 1030, 40}, {1000, 800, 7}} {
		s := &testStream{state: uint64(sh.m*3 + sh.k*5 + sh.n)}
		a := adversarialData(s, sh.m*sh.k)
		b := adversarialData(s, sh.k*sh.n)
		c0 := normalData(s, sh.m*sh.n)
		for _, acc := range []bool{false, true} {
			want := slices.Clone(c0)
			refGemm("TN", want, a, b, sh.m, sh.k, sh.n, acc)
			for _, ks := range availableKernels() {
				for _, threads := range []int{2, 3} {
					g := variantArgs("TN", nil, a, b, sh.m, sh.k, sh.n, acc)
					if ks.kernelA != nil && (!kSplit(ks, threads, g) || sh.m <= ks.mr && sh.n <= ks.nr) {
						t.Fatalf("%d×%d×%d at %d threads does not exercise kSplitGemm", sh.m, sh.k, sh.n, threads)
					}
					got := slices.Clone(c0)
					gemmWith(ks, "TN", threads, got, a, b, sh.m, sh.k, sh.n, acc)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s TN %d×%d×%d acc=%v threads=%d: C[%d] = %g, want %g",
							ks.name, sh.m, sh.k, sh.n, acc, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}
