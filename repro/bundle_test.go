package repro

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/registry"
)

// dump renders every row that belongs to hash and its eval runs, without
// row ids, so two registries can be compared. Artifact paths are reduced
// to their base names (an imported checkpoint moves).
func dump(t *testing.T, db *registry.DB, hash string) string {
	t.Helper()
	var b strings.Builder
	queries := []string{
		`SELECT c.hash, c.json FROM configs c WHERE c.hash = ?1 OR c.hash IN (SELECT hash FROM runs WHERE parent_hash = ?1) ORDER BY c.hash`,
		`SELECT hash, attempt, kind, status, name, parent_hash, created, started, finished, heartbeat, code_version, code_dirty,
			go_version, os, cpu, threads, kernel_set, error, summary_json FROM runs WHERE hash = ?1 OR parent_hash = ?1 ORDER BY hash, attempt`,
		`SELECT r.hash, r.attempt, m.name, m.step, quote(m.value) FROM metrics m JOIN runs r ON r.id = m.run_id
			WHERE r.hash = ?1 OR r.parent_hash = ?1 ORDER BY 1, 2, 3, 4`,
		`SELECT r.hash, r.attempt, x.task, x.metric, quote(x.value), quote(x.stderr), x.n FROM task_results x JOIN runs r ON r.id = x.run_id
			WHERE r.hash = ?1 OR r.parent_hash = ?1 ORDER BY 1, 2, 3, 4`,
		`SELECT r.hash, r.attempt, a.kind, replace(a.path, rtrim(a.path, replace(a.path, '/', '')), ''), a.sha256, a.bytes, a.created
			FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.hash = ?1 OR r.parent_hash = ?1 ORDER BY 1, 2, 4`,
	}
	sdb := rawDB(t, db)
	for _, q := range queries {
		rows, err := sdb.Query(q, hash)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%v\n", vals)
			n++
		}
		rows.Close()
		if n == 0 {
			t.Fatalf("no rows for %s", q)
		}
	}
	return b.String()
}

func exportShared(t *testing.T, withCkpt bool) (string, *Manifest) {
	t.Helper()
	s := sharedRun(t)
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Export(s.env.DB, s.env.Root, s.res.Hash, f, ExportOptions{WithCheckpoint: withCkpt})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, m
}

func freshRegistry(t testing.TB) *registry.DB {
	t.Helper()
	db, err := registry.Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestExportImportRoundTrip(t *testing.T) {
	s := sharedRun(t)
	path, m := exportShared(t, true)
	if m.Checkpoint == nil || m.Checkpoint.SHA256 != s.res.CheckpointSHA || len(m.Files) != 3 {
		t.Fatalf("manifest %+v lacks the final checkpoint %s", m, s.res.CheckpointSHA)
	}
	again, _ := exportShared(t, true)
	b1, _ := os.ReadFile(path)
	b2, _ := os.ReadFile(again)
	if !bytes.Equal(b1, b2) {
		t.Errorf("two exports of the same registry differ (%d vs %d bytes)", len(b1), len(b2))
	}

	db := freshRegistry(t)
	root := t.TempDir()
	res, err := Import(db, root, path)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.RunsAdded != 2 || res.RunsPresent != 0 || res.ConfigsAdded != 2 || res.Metrics == 0 || res.TaskResults == 0 || res.Artifacts == 0 {
		t.Errorf("first import: %+v; want 2 runs (train, eval), 2 configs and their rows", res)
	}
	if got, want := dump(t, db, s.res.Hash), dump(t, s.env.DB, s.res.Hash); got != want {
		t.Errorf("imported rows differ from the exported ones:\n--- imported\n%s--- exported\n%s", got, want)
	}
	wantCkpt := filepath.Join(root, "runs", s.res.Hash, filepath.Base(s.res.Checkpoint))
	if sum, _, err := hashFile(wantCkpt); err != nil || sum != s.res.CheckpointSHA || res.Checkpoint != wantCkpt {
		t.Errorf("checkpoint at %s (reported %s): sha256 %s, err %v; want %s", wantCkpt, res.Checkpoint, sum, err, s.res.CheckpointSHA)
	}
	// The artifact records the file relative to the project root.
	wantRel := filepath.Join("runs", s.res.Hash, filepath.Base(s.res.Checkpoint))
	run, err := db.DoneRun(s.res.Hash)
	if err != nil {
		t.Fatal(err)
	}
	arts, _ := db.Artifacts(run.ID)
	found := false
	for _, a := range arts {
		found = found || (a.Path == wantRel && a.SHA256 == s.res.CheckpointSHA)
	}
	if !found {
		t.Errorf("artifacts %+v do not record the imported checkpoint at %s", arts, wantRel)
	}

	before := dump(t, db, s.res.Hash)
	res, err = Import(db, root, path)
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if res.RunsAdded != 0 || res.ConfigsAdded != 0 || res.RunsPresent != 2 || res.Metrics != 0 {
		t.Errorf("second import added something: %+v", res)
	}
	if after := dump(t, db, s.res.Hash); after != before {
		t.Errorf("second import changed the registry")
	}
}

// A run recorded under the same hash and attempt with other content is
// never replaced or renumbered: the import is refused and leaves nothing.
func TestImportRefusesTakenAttempt(t *testing.T) {
	s := sharedRun(t)
	path, _ := exportShared(t, true)
	db := freshRegistry(t)
	js, _ := s.env.DB.Config(s.res.Hash)
	if err := db.PutConfig(s.res.Hash, js); err != nil {
		t.Fatal(err)
	}
	local, err := db.BeginRun(registry.RunInfo{Hash: s.res.Hash, Kind: registry.KindTrain})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	_, err = Import(db, root, path)
	if err == nil || !errors.Is(err, registry.ErrConflict) || !strings.Contains(err.Error(), "attempt 1 is already recorded with different content") {
		t.Fatalf("import over a local attempt 1: %v; want a conflict naming attempt 1", err)
	}
	if n := countRuns(t, db, s.res.Hash); n != 1 {
		t.Errorf("refused import left %d runs of the hash, want the local one only", n)
	}
	if n := countRuns(t, db, s.eval.Hash); n != 0 {
		t.Errorf("refused import added %d eval runs", n)
	}
	if _, err := db.Config(s.eval.Hash); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("refused import added the eval config (err %v)", err)
	}
	if run, err := db.LatestRun(s.res.Hash); err != nil || run.ID != local.ID || run.Status != registry.StatusRunning {
		t.Errorf("local run now %+v (err %v), want it untouched", run, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "runs")); len(ents) != 0 {
		t.Errorf("refused import left files in runs/: %v", ents)
	}
}

func TestImportRefusesConflictingConfig(t *testing.T) {
	s := sharedRun(t)
	path, _ := exportShared(t, false)
	db := freshRegistry(t)
	if err := db.PutConfig(s.res.Hash, `{"other":1}`); err != nil {
		t.Fatal(err)
	}
	_, err := Import(db, t.TempDir(), path)
	if err == nil || !strings.Contains(err.Error(), "conflicting config") {
		t.Fatalf("import over a conflicting config: %v; want a refusal", err)
	}
	if n := countRuns(t, db, s.res.Hash); n != 0 {
		t.Errorf("refused import left %d runs", n)
	}
}

// entry is one file of a bundle, for building damaged bundles.
type entry struct {
	name string
	data []byte
}

func readEntries(t *testing.T, path string) []entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var es []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		es = append(es, entry{h.Name, b})
	}
}

func writeEntries(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Size: int64(len(e.data)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// editManifest rewrites the manifest of es with fn.
func editManifest(t *testing.T, es []entry, fn func(m *Manifest)) []entry {
	t.Helper()
	var m Manifest
	if err := json.Unmarshal(es[0].data, &m); err != nil {
		t.Fatal(err)
	}
	fn(&m)
	b, _ := json.Marshal(m)
	out := append([]entry{{manifestName, b}}, es[1:]...)
	return out
}

func TestImportRefusesCorruptBundle(t *testing.T) {
	path, _ := exportShared(t, true)
	good, _ := os.ReadFile(path)
	es := readEntries(t, path)
	flip := func(name string) []byte {
		var out []entry
		for _, e := range es {
			if e.name == name {
				d := append([]byte(nil), e.data...)
				d[len(d)/2] ^= 1
				e.data = d
			}
			out = append(out, e)
		}
		return writeEntries(t, out)
	}
	cases := []struct {
		name  string
		data  []byte
		want  string
		isErr error
	}{
		{"not gzip", []byte("hello, not a bundle"), "not a gzip file", ErrCorruptBundle},
		{"truncated", good[:len(good)/2], "", ErrCorruptBundle},
		{"runs.json altered", flip(runsName), "runs.json has sha256", ErrCorruptBundle},
		{"checkpoint altered", flip(ckptDir + "ckpt-000000016.safetensors"), "checkpoint/ckpt-000000016.safetensors has sha256", ErrCorruptBundle},
		{"config altered", flip(configName), "config.json has sha256", ErrCorruptBundle},
		{"file missing", writeEntries(t, es[:2]), "missing", ErrCorruptBundle},
		{"extra file", writeEntries(t, append(append([]entry(nil), es...), entry{"evil/../../x", []byte("x")})), "not listed in the manifest", ErrCorruptBundle},
		{"manifest not first", writeEntries(t, append([]entry{es[1]}, es...)), "the first file", ErrCorruptBundle},
		{"newer version", writeEntries(t, editManifest(t, es, func(m *Manifest) { m.Version = BundleVersion + 1 })), "upgrade the harness", ErrCorruptBundle},
		{"wrong hash", writeEntries(t, editManifest(t, es, func(m *Manifest) { m.Hash = strings.Repeat("0", 64) })), "hashes to", ErrCorruptBundle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.tar.gz")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			db := freshRegistry(t)
			root := t.TempDir()
			_, err := Import(db, root, p)
			if err == nil || !errors.Is(err, tc.isErr) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("import: %v; want an error naming %s, wrapping %v, containing %q", err, p, tc.isErr, tc.want)
			}
			var n int
			rawDB(t, db).QueryRow(`SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM configs)`).Scan(&n)
			if n != 0 {
				t.Errorf("refused bundle left %d rows", n)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "runs")); len(ents) != 0 {
				t.Errorf("refused bundle left files in runs/: %v", ents)
			}
		})
	}
}

func TestJSONFloatRoundTrip(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), -2.5e-300} {
		b, err := json.Marshal(jsonFloat(v))
		if err != nil {
			t.Fatalf("marshal %v: %v", v, err)
		}
		var got jsonFloat
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !sameFloat(float64(got), v) || math.Signbit(float64(got)) != math.Signbit(v) && !math.IsNaN(v) {
			t.Errorf("%v -> %s -> %v", v, b, float64(got))
		}
	}
	var f jsonFloat
	if err := json.Unmarshal([]byte(`"abc"`), &f); err == nil {
		t.Error(`"abc" accepted as a float`)
	}
}

// testdata/bundle-v1.tar.gz was written by the harness before bundles went
// through registry.ExportRun: a run with two attempts, an eval run and a
// checkpoint. It still imports, and exporting the imported run gives the
// same bytes back.
func TestImportVersion1Bundle(t *testing.T) {
	const golden = "testdata/bundle-v1.tar.gz"
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	db := freshRegistry(t)
	root := t.TempDir()
	res, err := Import(db, root, golden)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.RunsAdded != 3 || res.ConfigsAdded != 2 || res.Checkpoint == "" {
		t.Errorf("import %+v; want 3 runs, 2 configs and a checkpoint", res)
	}
	var buf bytes.Buffer
	if _, err := Export(db, root, res.Hash, &buf, ExportOptions{WithCheckpoint: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("re-export differs from the version 1 bundle (%d vs %d bytes)", buf.Len(), len(want))
	}
	if again, err := Import(db, root, golden); err != nil || again.RunsPresent != 3 || again.RunsAdded != 0 {
		t.Errorf("second import %+v, %v", again, err)
	}
}

// A run recorded from a dirty tree carries its diff hash; such bundles are
// version 2, others stay version 1.
func TestBundleCarriesCodeDiff(t *testing.T) {
	db, h := smallRegistry(t)
	var buf bytes.Buffer
	m, err := Export(db, t.TempDir(), h, &buf, ExportOptions{})
	if err != nil || m.Version != 1 {
		t.Fatalf("clean run: version %d, err %v; want version 1", m.Version, err)
	}
	diff := sha256Hex([]byte("a diff"))
	if _, err := rawDB(t, db).Exec(`UPDATE runs SET code_diff = ?, code_dirty = 1 WHERE hash = ?`, diff, h); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dirty.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err = Export(db, t.TempDir(), h, f, ExportOptions{})
	f.Close()
	if err != nil || m.Version != 2 {
		t.Fatalf("dirty run: version %d, err %v; want version 2", m.Version, err)
	}
	dst := freshRegistry(t)
	if _, err := Import(dst, t.TempDir(), path); err != nil {
		t.Fatal(err)
	}
	run, err := dst.LatestRun(h)
	if err != nil || run.CodeDiff != diff || !run.CodeDirty {
		t.Errorf("imported run %+v (err %v); want code_diff %s", run, err, diff)
	}
}
