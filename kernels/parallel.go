package kernels

import "sync"

// Parallel runs fn over [0,n) split into at most threads contiguous blocks.
// Callers must make each index's work independent of the split, so the
// result is the same for any thread count.
func Parallel(threads, n int, fn func(lo, hi int)) {
	if threads < 1 {
		threads = 1
	}
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + threads - 1) / threads
	// The first block runs on the calling goroutine, whose thread is
	// already running; the others start first.
	for lo := per; lo < n; lo += per {
		hi := lo + per
		if hi > n {
			hi = n
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(per, n))
	wg.Wait()
}
