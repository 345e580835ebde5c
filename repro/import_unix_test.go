//go:build unix

package repro

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A bundle path that is a directory, a device or a named pipe is refused
// without blocking on it.
func TestImportRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.tar.gz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	for _, p := range []string{t.TempDir(), fifo, os.DevNull} {
		done := make(chan error, 1)
		go func() { _, err := Import(freshRegistry(t), t.TempDir(), p); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: err = %v, want a refusal", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Import blocked", p)
		}
	}
}
