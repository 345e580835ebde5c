// Package testrun trains small recorded runs for the tests of edge's
// packages, in temporary project roots and registries.
package testrun

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// repoRoot is the repository root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Env opens a fresh registry in a temporary project root whose datasets/
// links to the repository's.
func Env(t testing.TB) *experiment.Env {
	t.Helper()
	root := t.TempDir()
	ds, err := filepath.Abs(filepath.Join(repoRoot(), "datasets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(root, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(root, ".cache")}
}

// Micro trains the micro preset (with overrides) in env and returns its hash.
func Micro(t testing.TB, env *experiment.Env, sets ...string) string {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(env.Root, s) }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Train(context.Background(), c, experiment.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.Hash()
}
