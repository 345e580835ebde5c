package repro

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"

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

// newEnv opens a fresh registry and token cache in a temporary directory
// for a project root (a tempRoot, so runs/ is never the repository's).
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
// the data files of c and a link to the BLiMP task data.
func tempRoot(t *testing.T, c *configs.Config) string {
	t.Helper()
	root := t.TempDir()
	if err := populateRoot(root, c); err != nil {
		t.Fatal(err)
	}
	return root
}

func populateRoot(root string, c *configs.Config) error {
	blimp, err := filepath.Abs(filepath.Join(projectRoot, "datasets", "blimp"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "datasets"), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(blimp, filepath.Join(root, "datasets", "blimp")); err != nil {
		return err
	}
	for _, s := range append([]configs.DataSource{c.Data.Validation}, c.Data.Sources...) {
		b, err := os.ReadFile(filepath.Join(projectRoot, s.Path))
		if err != nil {
			return err
		}
		dst := filepath.Join(root, s.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rawDB opens a second handle on the registry file of db, for tests that
// inspect or damage rows directly.
func rawDB(t *testing.T, db *registry.DB) *sql.DB {
	t.Helper()
	abs, err := filepath.Abs(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()+"?_busy_timeout=10000&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	return sdb
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

// evalReq is one small BLiMP paradigm, limited for speed; Model is filled in.
var evalReq = experiment.EvalRequest{Tasks: []string{"blimp_anaphor_gender_agreement"}, Shots: -1, Limit: 8}

// trainedRun is a micro run trained and evaluated once for the tests that
// only read it.
type trainedRun struct {
	env  *experiment.Env
	res  *train.Result
	eval *experiment.EvalResult
}

var (
	sharedOnce sync.Once
	shared     *trainedRun
	sharedErr  error
	sharedDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// sharedRun returns the shared trained and evaluated run; callers must not
// change its registry or root.
func sharedRun(t *testing.T) *trainedRun {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = makeShared() })
	if sharedErr != nil {
		t.Fatalf("shared run: %v", sharedErr)
	}
	return shared
}

func makeShared() (*trainedRun, error) {
	dir, err := os.MkdirTemp("", "repro-test-*")
	if err != nil {
		return nil, err
	}
	sharedDir = dir
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: []string{"train.tokens=4096"}})
	if err != nil {
		return nil, err
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(projectRoot, s) }); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "root")
	if err := populateRoot(root, c); err != nil {
		return nil, err
	}
	db, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		return nil, err
	}
	env := &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(dir, "cache")}
	res, err := env.Train(context.Background(), c, experiment.TrainOptions{})
	if err != nil {
		return nil, err
	}
	req := evalReq
	req.Model = res.Hash
	ev, err := env.Evaluate(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return &trainedRun{env: env, res: res, eval: ev}, nil
}

// smallRegistry records one finished training run (no checkpoint) in a
// fresh registry and returns it with the run's hash.
func smallRegistry(t testing.TB) (*registry.DB, string) {
	t.Helper()
	db := freshRegistry(t)
	js := `{"preset":"small"}`
	h := sha256Hex([]byte(js))
	if err := db.PutConfig(h, js); err != nil {
		t.Fatal(err)
	}
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindTrain})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.LogMetrics(run.ID, []registry.Metric{{Step: 1, Name: "loss", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(run.ID, registry.StatusDone, ""); err != nil {
		t.Fatal(err)
	}
	return db, h
}
