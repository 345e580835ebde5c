//go:build purego || !amd64

package kernels

// peakLoop: builds without assembly have no vector FMA loop to time.
func peakLoop() (loop func(n int), flopsPerIter float64, name string) { return nil, 0, "" }
