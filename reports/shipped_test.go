package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// A later record of the same name (another preset, other seeds) does not
// replace the shipped matrix's record in the paper.
func TestLoadAblationsPrefersTheShippedDefinition(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := ablations.Load("subln")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := experiment.MatrixDef(root, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": []string{}})
	sid, err := db.PutAblation(shipped, string(spec))
	if err != nil {
		t.Fatal(err)
	}
	micro := *m
	micro.Base = "micro"
	other, err := experiment.MatrixDef(root, &micro, nil)
	if err != nil {
		t.Fatal(err)
	}
	oid, err := db.PutAblation(other, string(spec))
	if err != nil || oid == sid {
		t.Fatalf("the micro record: id %d (%v), shipped %d", oid, err, sid)
	}
	got, err := LoadAblations(db, root)
	if err != nil || len(got) != 1 {
		t.Fatalf("LoadAblations: %v, %v", got, err)
	}
	if got[0].ID != sid || !strings.Contains(got[0].Provenance, "the record of the shipped") {
		t.Errorf("with the root: record %d (%s), want the shipped %d", got[0].ID, got[0].Provenance, sid)
	}
	latest, err := LoadAblations(db, "")
	if err != nil || latest[0].ID != oid || latest[0].Provenance != "" {
		t.Errorf("without a root: record %d (%q), want the latest %d", latest[0].ID, latest[0].Provenance, oid)
	}
	// Only the micro record: the paper says it is not the shipped one.
	db2, err := registry.Open(filepath.Join(t.TempDir(), "r2.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.PutAblation(other, string(spec)); err != nil {
		t.Fatal(err)
	}
	got, err = LoadAblations(db2, root)
	if err != nil || !strings.Contains(got[0].Provenance, "NOT the shipped") {
		t.Errorf("a non-shipped record: %q (%v)", got[0].Provenance, err)
	}
}

// Rendering into a directory that is not a paper directory is refused and
// touches nothing there.
func TestRenderRefusesForeignDirectory(t *testing.T) {
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("mine"), 0o644)
	os.MkdirAll(filepath.Join(dir, "figures"), 0o755)
	os.WriteFile(filepath.Join(dir, "figures", "holiday.png"), []byte("png"), 0o644)
	if _, err := Render(db, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not a paper directory") {
		t.Fatalf("render into a foreign directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(b) != "mine" {
		t.Error("README.md was replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, "figures", "holiday.png")); err != nil {
		t.Error("a file under figures/ was deleted")
	}
	fresh := filepath.Join(t.TempDir(), "paper")
	if _, err := Render(db, Options{Dir: fresh}); err != nil {
		t.Fatalf("render into a new directory: %v", err)
	}
	if _, err := Render(db, Options{Dir: fresh}); err != nil {
		t.Fatalf("render again into the rendered directory: %v", err)
	}
}
