//go:build unix

package proc

import (
	"syscall"
	"time"
)

// CPUTime is the user+system CPU time this process has used so far (0
// where it cannot be read). On a shared machine a timing's CPU time, unlike
// its wall time, does not grow while other processes hold the cores.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
