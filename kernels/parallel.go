package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel runs fn over [0,n) split into at most threads contiguous blocks.
// Callers must make each index's work independent of the split, so the
// result is the same for any thread count.
//
// The blocks after the first run on a pool of persistent workers, which
// wait for their next block by spinning for a short while (spinFor) before
// they sleep: a training step or a decoded token runs hundreds of parallel
// regions microseconds apart, and waking a sleeping thread for each costs
// about as much as the work. The split, and so every result, is the same
// as with one goroutine per block; a call that finds the pool busy (a
// concurrent or nested Parallel) starts goroutines of its own instead.
func Parallel(threads, n int, fn func(lo, hi int)) { pool.parallel(threads, n, fn) }

func (p *workerPool) parallel(threads, n int, fn func(lo, hi int)) {
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
	per := (n + threads - 1) / threads
	blocks := (n + per - 1) / per
	if blocks-1 <= maxWorkers && p.mu.TryLock() {
		p.run(blocks, per, n, fn)
		p.mu.Unlock()
		return
	}
	var wg sync.WaitGroup
	// The first block runs on the calling goroutine, whose thread is
	// already running; the others start first.
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+per, n))
	}
	fn(0, min(per, n))
	wg.Wait()
}

// spinFor is how long an idle worker (or a caller waiting for its workers)
// polls before it sleeps.
const spinFor = 250 * time.Microsecond

// maxWorkers bounds the pool; wider calls start goroutines.
const maxWorkers = 63

// workerPool is Parallel's pool. mu is held by the one caller using it.
type workerPool struct {
	mu      sync.Mutex
	workers []*worker
	// pending counts the blocks handed out and not yet finished; the
	// worker that finishes the last wakes the caller if it sleeps.
	pending  atomic.Int32
	sleeping atomic.Bool
	done     chan struct{}
}

var pool = newPool()

func newPool() *workerPool { return &workerPool{done: make(chan struct{}, 1)} }

// worker runs the blocks handed to it: seq counts them, lo, hi and fn
// describe the latest (written before seq is raised).
type worker struct {
	seq      atomic.Uint64
	sleeping atomic.Bool
	wake     chan struct{}
	lo, hi   int
	fn       func(lo, hi int)
	_        [64]byte // keeps workers' hot fields on separate cache lines
}

// run hands out one call's blocks, runs the first and waits for the rest.
// When the caller's own block panics, the panic goes on up without waiting
// (its workers may be waiting on it, as in a chained pass) and p.mu stays
// locked: a caller that recovers finds the pool busy from then on, and its
// later calls start goroutines of their own.
func (p *workerPool) run(blocks, per, n int, fn func(lo, hi int)) {
	for len(p.workers) < blocks-1 {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.loop(p)
	}
	p.pending.Store(int32(blocks - 1))
	for i, w := range p.workers[:blocks-1] {
		lo := (i + 1) * per
		w.lo, w.hi, w.fn = lo, min(lo+per, n), fn
		w.seq.Add(1)
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	fn(0, min(per, n))
	p.wait(blocks)
}

// wait returns once the workers have run their blocks.
func (p *workerPool) wait(blocks int) {
	if !spinUntil(func() bool { return p.pending.Load() == 0 }) {
		p.sleeping.Store(true)
		for p.pending.Load() != 0 {
			<-p.done
		}
		p.sleeping.Store(false)
	}
	for _, w := range p.workers[:blocks-1] {
		w.fn = nil // no reference to the caller's closure outlives the call
	}
}

func (w *worker) loop(p *workerPool) {
	var seen uint64
	for {
		if !spinUntil(func() bool { return w.seq.Load() != seen }) {
			for w.seq.Load() == seen {
				w.sleeping.Store(true)
				if w.seq.Load() == seen {
					<-w.wake
				}
				w.sleeping.Store(false)
			}
		}
		seen = w.seq.Load()
		w.fn(w.lo, w.hi)
		if p.pending.Add(-1) == 0 && p.sleeping.Load() {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
	}
}

// spinUntil polls cond for up to spinFor, yielding to other goroutines
// every so often, and reports whether it became true.
func spinUntil(cond func() bool) bool {
	var start time.Time
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i%128 == 0 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				return false
			}
			runtime.Gosched()
		}
	}
}
