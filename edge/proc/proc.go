// Package proc reads this process's resource use for the decode bench: the
// peak resident set and the CPU time. It links nothing beyond the standard
// library, so the cgo-free decoder (edge/cmd/nmrun) can report them too.
package proc

import (
	"fmt"
	"os"
	"strings"
)

// PeakRSS is this process's peak resident set (VmHWM, which counts the
// pages of mapped files it touched) in bytes, or 0 where /proc/self/status
// is unavailable.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
