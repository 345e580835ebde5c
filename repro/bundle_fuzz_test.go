package repro

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/registry"
)

// smallBundle exports a small recorded run (two attempts, an eval run and,
// with ckpt, a checkpoint file) without training anything.
func smallBundle(tb testing.TB, ckpt bool) []byte {
	tb.Helper()
	db, h := smallRegistry(tb)
	root := tb.TempDir()
	ejs := `{"eval":"small"}`
	eh := sha256Hex([]byte(ejs))
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(db.PutConfig(eh, ejs))
	ev, err := db.BeginRun(registry.RunInfo{Hash: eh, Kind: registry.KindEval, ParentHash: h})
	must(err)
	must(db.PutTaskResults(ev.ID, []registry.TaskResult{{Task: "t", Metric: "acc", Value: 0.5, Stderr: 0.1, N: 4}}))
	must(db.FinishRun(ev.ID, registry.StatusDone, ""))
	run, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindTrain})
	must(err)
	if ckpt {
		rel := filepath.Join("runs", h, "ckpt-000000001.safetensors")
		content := []byte("not really a checkpoint, but hashed like one")
		must(os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755))
		must(os.WriteFile(filepath.Join(root, rel), content, 0o644))
		sum := sha256Hex(content)
		must(db.PutArtifact(registry.Artifact{RunID: run.ID, Kind: "checkpoint", Path: rel, SHA256: sum, Bytes: int64(len(content))}))
		must(db.SetSummary(run.ID, fmt.Sprintf(`{"checkpoint_sha256":%q}`, sum)))
	}
	must(db.FinishRun(run.ID, registry.StatusDone, ""))
	var buf bytes.Buffer
	if _, err := Export(db, root, h, &buf, ExportOptions{WithCheckpoint: ckpt}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzBundle feeds arbitrary bytes to the bundle reader: it must never
// panic, every refusal must wrap ErrCorruptBundle, and a bundle it accepts
// must go through the whole Import (checkpoint placement included), a
// second time as a no-op.
func FuzzBundle(f *testing.F) {
	f.Add(smallBundle(f, false))
	f.Add(smallBundle(f, true))
	f.Add([]byte{0x1f, 0x8b})
	scratch := f.TempDir() // one per worker process, emptied after every input
	f.Fuzz(func(t *testing.T, data []byte) {
		defer emptyDir(t, scratch)
		b, err := readBundleFrom(bytes.NewReader(data), scratch)
		if err == nil {
			_, err = b.registryBundle()
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptBundle) {
				t.Fatalf("refusal %v does not wrap ErrCorruptBundle", err)
			}
			return
		}
		// Importing opens a registry, which is slow; do it once per
		// distinct accepted content (most mutations of a valid bundle only
		// touch bytes that do not count, such as the gzip header).
		key := sha256Hex(fmt.Appendf(nil, "%q %q %+v %s", b.config, b.manifest.Hash, b.manifest.Checkpoint, mustJSON(t, b.runs)))
		if _, seen := importedContent.LoadOrStore(key, true); !seen {
			importTwice(t, data, t.TempDir())
		}
	})
}

// emptyDir removes what the reader extracted into dir.
func emptyDir(t *testing.T, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// importedContent holds the accepted bundle contents FuzzBundle imported.
var importedContent sync.Map

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// importTwice imports an accepted bundle into a fresh registry twice.
func importTwice(t *testing.T, data []byte, dir string) {
	path := filepath.Join(dir, "fuzz.tar.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(dir, "fuzz.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root := filepath.Join(dir, "root")
	first, err := Import(db, root, path)
	if err != nil {
		t.Fatalf("a bundle the reader accepted was refused on import: %v", err)
	}
	if first.Checkpoint != "" {
		if _, err := os.Stat(first.Checkpoint); err != nil {
			t.Fatalf("imported checkpoint: %v", err)
		}
	}
	again, err := Import(db, root, path)
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if again.RunsAdded != 0 || again.ConfigsAdded != 0 || again.RunsPresent != first.RunsAdded+first.RunsPresent {
		t.Fatalf("second import %+v after %+v; want every run present and nothing added", *again, *first)
	}
}

// bundleBytes writes a gzip tar whose entries declare the given sizes; an
// entry's data is its content followed by zeros up to the size, or nothing
// at all (a truncated stream) when stop is set.
type rawEntry struct {
	name    string
	size    int64
	content []byte
	stop    bool
}

func bundleBytes(t *testing.T, es []rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Size: e.size, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if e.stop {
			zw.Flush()
			return buf.Bytes()
		}
		tw.Write(e.content)
		if _, err := io.CopyN(tw, zeros{}, e.size-int64(len(e.content))); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A bundle may not make the reader hold more than small, fixed limits in
// memory or write more than the checkpoint limit to disk, whatever sizes
// its manifest and tar headers declare.
func TestImportRefusesOversizedBundle(t *testing.T) {
	es := readEntries(t, writeTemp(t, smallBundle(t, true)))
	var m Manifest
	if err := json.Unmarshal(es[0].data, &m); err != nil {
		t.Fatal(err)
	}
	withSize := func(name string, size int64) []byte {
		mm := m
		mm.Files = append([]BundleFile(nil), m.Files...)
		for i := range mm.Files {
			if mm.Files[i].Name == name {
				mm.Files[i].Bytes = size
			}
		}
		b, _ := json.Marshal(mm)
		return b
	}
	padded := append(append([]byte(nil), es[0].data...), bytes.Repeat([]byte(" "), maxManifestBytes)...)
	ckptName := m.Checkpoint.File
	cases := []struct {
		name string
		es   []rawEntry
		want string
	}{
		{"manifest over its limit", []rawEntry{{name: manifestName, size: int64(len(padded)), content: padded}}, "manifest.json is"},
		{"manifest declaring 900 MiB", []rawEntry{{name: manifestName, size: 900 << 20, stop: true}}, "limit"},
		{"runs.json of 257 MiB", []rawEntry{
			{name: manifestName, size: int64(len(withSize(runsName, 257<<20))), content: withSize(runsName, 257<<20)},
			{name: configName, size: int64(len(es[1].data)), content: es[1].data},
			{name: runsName, size: 257 << 20},
		}, "runs.json has 269484032 bytes, more than the 268435456-byte limit"},
		{"config.json declaring 17 MiB", []rawEntry{
			{name: manifestName, size: int64(len(withSize(configName, 17<<20))), content: withSize(configName, 17<<20)},
			{name: configName, size: 17 << 20, stop: true},
		}, "config.json has 17825792 bytes, more than the"},
		{"checkpoint declaring 5 GiB", []rawEntry{
			{name: manifestName, size: int64(len(withSize(ckptName, 5<<30))), content: withSize(ckptName, 5<<30)},
			{name: configName, size: int64(len(es[1].data)), content: es[1].data},
			{name: runsName, size: int64(len(es[2].data)), content: es[2].data},
			{name: ckptName, size: 5 << 30, stop: true},
		}, "more than the 4294967296-byte limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, bundleBytes(t, c.es))
			db := freshRegistry(t)
			root := t.TempDir()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Import(db, root, p)
			runtime.ReadMemStats(&after)
			if err == nil || !errors.Is(err, ErrCorruptBundle) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v; want a corrupt-bundle error containing %q", err, c.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
				t.Errorf("refusing the bundle allocated %d MiB", got>>20)
			}
		})
	}
}

func TestImportRefusesStrayCheckpointFiles(t *testing.T) {
	es := readEntries(t, writeTemp(t, smallBundle(t, true)))
	var m Manifest
	if err := json.Unmarshal(es[0].data, &m); err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(m *Manifest)) []byte {
		return writeEntries(t, editManifest(t, es, fn))
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"checkpoint file but no checkpoint", edit(func(m *Manifest) { m.Checkpoint = nil }), "not its checkpoint"},
		{"second checkpoint file", edit(func(m *Manifest) {
			m.Files = append(m.Files, BundleFile{Name: ckptDir + "other.safetensors", SHA256: m.Files[2].SHA256, Bytes: m.Files[2].Bytes})
		}), "not its checkpoint"},
		{"hidden name", edit(func(m *Manifest) { m.Files[2].Name = ckptDir + ".hidden"; m.Checkpoint.File = m.Files[2].Name }), "unexpected file"},
		{"name with a newline", edit(func(m *Manifest) { m.Files[2].Name = ckptDir + "a\nb"; m.Checkpoint.File = m.Files[2].Name }), "unexpected file"},
		{"trailing JSON after the manifest", writeEntries(t, append([]entry{{manifestName, append(append([]byte(nil), es[0].data...), '}')}}, es[1:]...)), "trailing data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, c.data)
			root := t.TempDir()
			_, err := Import(freshRegistry(t), root, p)
			if err == nil || !errors.Is(err, ErrCorruptBundle) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v; want a corrupt-bundle error containing %q", err, c.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "runs")); len(ents) != 0 {
				t.Errorf("refused bundle left files in runs/: %v", ents)
			}
		})
	}
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
