package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// visits runs Parallel and returns how often each index was visited and
// the blocks it was split into.
func visits(threads, n int) ([]int32, map[[2]int]bool) {
	hits := make([]int32, n)
	var mu sync.Mutex
	blocks := map[[2]int]bool{}
	Parallel(threads, n, func(lo, hi int) {
		mu.Lock()
		blocks[[2]int{lo, hi}] = true
		mu.Unlock()
		for i := lo; i < hi; i++ {
			atomic.AddInt32(&hits[i], 1)
		}
	})
	return hits, blocks
}

func checkOnce(t *testing.T, name string, hits []int32) {
	t.Helper()
	for i, h := range hits {
		if h != 1 {
			t.Fatalf("%s: index %d visited %d times", name, i, h)
		}
	}
}

// The pool splits exactly as one goroutine per block: blocks of
// ceil(n/threads) from 0, whatever ran before (the pool grown by a wider
// call, workers asleep after a pause longer than spinFor).
func TestParallelPoolSplit(t *testing.T) {
	for _, tc := range []struct {
		threads, n int
		pause      time.Duration
	}{{2, 10, 0}, {3, 10, 0}, {8, 100, 0}, {2, 3, 0}, {5, 7, 0}, {64, 64, 0}, {100, 1000, 0}, {2, 10, 3 * spinFor}, {4, 9, 3 * spinFor}} {
		name := fmt.Sprintf("threads %d n %d pause %v", tc.threads, tc.n, tc.pause)
		for rep := 0; rep < 3; rep++ {
			time.Sleep(tc.pause)
			hits, blocks := visits(tc.threads, tc.n)
			checkOnce(t, name, hits)
			per := (tc.n + tc.threads - 1) / tc.threads
			want := map[[2]int]bool{}
			for lo := 0; lo < tc.n; lo += per {
				want[[2]int{lo, min(lo+per, tc.n)}] = true
			}
			if fmt.Sprint(blocks) != fmt.Sprint(want) {
				t.Fatalf("%s: blocks %v, want %v", name, blocks, want)
			}
		}
	}
}

// Concurrent callers (one gets the pool, the others start goroutines) and
// Parallel inside a Parallel block each cover their range exactly once.
func TestParallelConcurrentAndNested(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for rep := 0; rep < 200; rep++ {
				n := 1 + (g*37+rep*11)%50
				hits, _ := visits(2+g%3, n)
				for i, h := range hits {
					if h != 1 {
						errs <- fmt.Sprintf("caller %d rep %d: index %d of %d visited %d times", g, rep, i, n, h)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	outer := make([]int32, 6*20)
	Parallel(3, 6, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			Parallel(2, 20, func(a, b int) {
				for i := a; i < b; i++ {
					atomic.AddInt32(&outer[o*20+i], 1)
				}
			})
		}
	})
	checkOnce(t, "nested", outer)
}

// A panic in the caller's own block goes up to a recover; the pool it held
// is then busy for good, and later calls on it run on goroutines of their
// own with the same split.
func TestParallelPanicInCallerBlock(t *testing.T) {
	p := newPool()
	func() {
		defer func() {
			if r := recover(); r != "block 0" {
				t.Fatalf("recovered %v, want the caller block's panic", r)
			}
		}()
		p.parallel(2, 10, func(lo, hi int) {
			if lo == 0 {
				panic("block 0")
			}
		})
		t.Fatal("the panic did not reach the caller")
	}()
	if p.mu.TryLock() {
		t.Fatal("the pool is free after its caller's block panicked")
	}
	hits := make([]int32, 10)
	p.parallel(3, 10, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			atomic.AddInt32(&hits[i], 1)
		}
	})
	checkOnce(t, "after the panic", hits)
}
