package models

import (
	"fmt"
	"sync"
	"testing"
)

// TestChainedRowBlocksOrder checks that chainedRowBlocks runs body once
// over every row in blocks of at most four, and chain over every row once,
// the chain calls in ascending row order and each after body has covered
// its rows, for several thread and row counts.
func TestChainedRowBlocksOrder(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 4} {
		for _, rows := range []int{0, 1, 3, 4, 5, 17, 100} {
			t.Run(fmt.Sprintf("threads=%d/rows=%d", threads, rows), func(t *testing.T) {
				var mu sync.Mutex
				bodyDone := make([]int, rows)
				var chained []int
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
						chained = append(chained, r)
					}
				})
				for r, n := range bodyDone {
					if n != 1 {
						t.Errorf("body ran %d times over row %d", n, r)
					}
				}
				if len(chained) != rows {
					t.Fatalf("chain covered %d rows, want %d", len(chained), rows)
				}
				for i, r := range chained {
					if r != i {
						t.Fatalf("chain order %v, want ascending rows", chained)
					}
				}
			})
		}
	}
}
