package models

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

// TestChainedRowBlocksOrder checks that chainedRowBlocks runs body once
// over every row in blocks of at most four rows, and continues a set of
// chains over every row exactly once, in ascending row order and after
// body has covered the row, for several thread and row counts.
func TestChainedRowBlocksOrder(t *testing.T) {
	const chains = 3
	for _, threads := range []int{1, 2, 3, 4} {
		for _, rows := range []int{0, 1, 3, 4, 5, 17, 100, 333} {
			t.Run(fmt.Sprintf("threads=%d/rows=%d", threads, rows), func(t *testing.T) {
				var mu sync.Mutex
				bodyDone := make([]int, rows)
				order := make([][]int, chains)
				chainedRowBlocks(threads, rows, func(r0, r1 int) {
					if r1-r0 < 1 || r1-r0 > 4 {
						t.Errorf("body block [%d, %d)", r0, r1)
					}
					mu.Lock()
					for r := r0; r < r1; r++ {
						bodyDone[r]++
					}
					mu.Unlock()
				}, func(r0, r1 int) {
					mu.Lock()
					defer mu.Unlock()
					for r := r0; r < r1; r++ {
						if bodyDone[r] != 1 {
							t.Errorf("chain over row %d before its body", r)
						}
						for c := range order {
							order[c] = append(order[c], r)
						}
					}
				})
				for r, n := range bodyDone {
					if n != 1 {
						t.Errorf("body ran %d times over row %d", n, r)
					}
				}
				want := make([]int, rows)
				for i := range want {
					want[i] = i
				}
				for c, got := range order {
					if !slices.Equal(got, want) && (len(got) > 0 || rows > 0) {
						t.Fatalf("chain %d ran over rows %v, want 0..%d in order", c, got, rows-1)
					}
				}
			})
		}
	}
}

// TestZeroGradClearsEveryGradient fills every gradient and checks that
// ZeroGrad leaves all of them +0 at several thread counts.
func TestZeroGradClearsEveryGradient(t *testing.T) {
	m, err := New(hybridConfig(), quantConfig(true, 8), 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2, 3} {
		m.SetThreads(threads)
		for _, p := range m.Params() {
			for j := range p.Grad {
				p.Grad[j] = -1.5
			}
		}
		m.ZeroGrad()
		for _, p := range m.Params() {
			for j, v := range p.Grad {
				if math.Float32bits(v) != 0 {
					t.Fatalf("threads %d: %s grad[%d] = %g after ZeroGrad", threads, p.Name, j, v)
				}
			}
		}
	}
}
