package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/registry"
)

// TestExportAndRunGGUF trains the micro preset in a temporary root, exports
// it with `harness export`, checks the recorded artifact and runs the file
// with `harness run-gguf`, whose greedy text must equal `harness generate`.
func TestExportAndRunGGUF(t *testing.T) {
	root := t.TempDir()
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(root, "registry.db")
	g := []string{"--root", root, "--registry", reg, "--threads", "2"}
	if _, err := run(t, append([]string{"train", "--preset", "micro", "--set", "train.tokens=8192"}, g...)...); err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := db.Runs(registry.RunFilter{Status: "done"})
	db.Close()
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v, %v", runs, err)
	}
	hash := runs[0].Hash
	out, err := run(t, append([]string{"export", hash[:10], "--weights", "tq1_0", "--embed", "f32"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "runs", hash, "model-tq1_0-f32.gguf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("export output %q: %v", out, err)
	}
	sum := sha256.Sum256(b)
	hexsum := hex.EncodeToString(sum[:])
	if !strings.Contains(out, hexsum) {
		t.Errorf("export printed %q, want the sha256 %s", out, hexsum)
	}
	db, _ = registry.Open(reg)
	arts, _ := db.Artifacts(runs[0].ID)
	db.Close()
	found := false
	for _, a := range arts {
		if a.Kind == ggufArtifactKind && a.Path == "runs/"+hash+"/model-tq1_0-f32.gguf" && a.SHA256 == hexsum && a.Bytes == int64(len(b)) {
			found = true
		}
	}
	if !found {
		t.Errorf("no gguf artifact with the file's path, sha256 and size among %+v", arts)
	}
	f, err := gguf.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := f.GetString("nanomamba.provenance.run_hash"); h != hash {
		t.Errorf("provenance run hash %q", h)
	}
	// Exporting again (to a file outside the root) gives the same bytes.
	other := filepath.Join(t.TempDir(), "again.gguf")
	if _, err := run(t, append([]string{"export", hash, "--weights", "tq1_0", "--embed", "f32", "-o", other}, g...)...); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(other); !bytes.Equal(b, b2) {
		t.Error("a second export differs")
	}
	want, err := run(t, append([]string{"generate", hash, "--prompt", "Once upon a time", "--steps", "20"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := run(t, append([]string{"run-gguf", path, "--prompt", "Once upon a time", "--steps", "20"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || !strings.HasPrefix(got, "Once upon a time") {
		t.Errorf("run-gguf printed %q, generate %q", got, want)
	}
	for _, bad := range [][]string{
		{"export", hash, "--weights", "q8_0"}, {"export", hash, "--embed", "tq2_0"}, {"export", hash, "--format", "nosuch"},
		{"export", "ffffffffff"}, {"run-gguf", filepath.Join(root, "missing.gguf")}, {"run-gguf", reg},
		{"run-gguf", path, "--steps", "-1"},
	} {
		if _, err := run(t, append(bad, g...)...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
