package kernels

import (
	"runtime"
	"sync"
	"time"
)

// PeakGFLOPS measures the single-precision FMA peak of this machine: threads
// goroutines, each locked to an OS thread, run independent vector FMAs of
// the widest width the CPU has for at least minTime, and the best of the
// repetitions is returned in GFLOP/s (an FMA counts 2 FLOPs), with the name
// of the loop. Builds without assembly return 0 and "".
func PeakGFLOPS(threads int, minTime time.Duration) (float64, string) {
	loop, perIter, name := peakLoop()
	if loop == nil {
		return 0, ""
	}
	threads = max(threads, 1)
	const iters = 1 << 22
	best := 0.0
	start := time.Now()
	for rep := 0; rep < 3 || time.Since(start) < minTime; rep++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				loop(iters)
			}()
		}
		wg.Wait()
		if g := float64(threads) * iters * perIter / time.Since(t0).Seconds() / 1e9; g > best {
			best = g
		}
	}
	return best, name
}
