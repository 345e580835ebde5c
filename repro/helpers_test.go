package repro

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// projectRoot is the repository root as seen from the package directory.
const projectRoot = ".."

// microConfig is the micro preset cut to 16 steps, its data resolved under
// root.
func microConfig(t *testing.T, root string, sets ...string) *configs.Config {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: append([]string{"train.tokens=4096"}, sets...)})
	if err != nil {
		t.Fatalf("load micro preset: %v", err)
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(root, s) }); err != nil {
		t.Fatalf("resolve data: %v", err)
	}
	return c
}

// newEnv opens a fresh registry in a temporary directory; runs and the
// token cache go there too unless root is the project root, whose runs/
// directory is then never touched: Root stays root but the registry and
// cache live in the temporary directory.
func newEnv(t *testing.T, root string) *experiment.Env {
	t.Helper()
	dir := t.TempDir()
	db, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatalf("open registry: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(dir, "cache")}
}

// tempRoot is a project root in a temporary directory holding a copy of
// the micro preset's data files and links to the task data.
func tempRoot(t *testing.T, c *configs.Config) string {
	t.Helper()
	root := t.TempDir()
	srcs := append([]configs.DataSource{c.Data.Validation}, c.Data.Sources...)
	for _, s := range srcs {
		b, err := os.ReadFile(filepath.Join(projectRoot, s.Path))
		if err != nil {
			t.Fatalf("read data source: %v", err)
		}
		dst := filepath.Join(root, s.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// trainMicro trains c in env and returns its result.
func trainMicro(t *testing.T, env *experiment.Env, c *configs.Config) *train.Result {
	t.Helper()
	res, err := env.Train(context.Background(), c, experiment.TrainOptions{})
	if err != nil {
		t.Fatalf("train micro: %v", err)
	}
	return res
}
