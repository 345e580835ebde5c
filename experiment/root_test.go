package experiment

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	sharedRootOnce sync.Once
	sharedRoot     string
)

// testRoot returns a project root for tests: a directory outside the
// repository whose datasets/ links to the shipped data, so runs/ written by
// tests never land in the working tree. Child processes of a test inherit
// it through TEST_ROOT.
func testRoot(t *testing.T) string {
	t.Helper()
	if r := os.Getenv("TEST_ROOT"); r != "" {
		return r
	}
	sharedRootOnce.Do(func() {
		dir, err := os.MkdirTemp("", "experiment-root-")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := filepath.Abs(filepath.Join("..", "datasets"))
		if err := os.Symlink(data, filepath.Join(dir, "datasets")); err != nil {
			t.Fatal(err)
		}
		sharedRoot = dir
	})
	return sharedRoot
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRoot != "" {
		os.RemoveAll(sharedRoot)
	}
	os.Exit(code)
}
