//go:build unix

package train

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadSafetensorsRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	for _, p := range []string{t.TempDir(), fifo, os.DevNull} {
		done := make(chan error, 1)
		go func() { _, err := ReadSafetensors(p); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: err = %v, want a refusal", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadSafetensors blocked", p)
		}
	}
}
