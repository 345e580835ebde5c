package repro

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestExportFileRefusesExistingOutput(t *testing.T) {
	db, h := smallRegistry(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(out, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ExportFile(db, dir, h, out, false, ExportOptions{})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("export over an existing file: %v; want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatalf("refused export changed the file to %q", b)
	}
	if _, err := ExportFile(db, dir, h, out, true, ExportOptions{}); err != nil {
		t.Fatalf("export with force: %v", err)
	}
	if _, err := readBundle(out, t.TempDir()); err != nil {
		t.Errorf("forced export is not a valid bundle: %v", err)
	}
	// A new file needs no force, and no temporary file is left behind.
	fresh := filepath.Join(dir, "fresh.tar.gz")
	if _, err := ExportFile(db, dir, h, fresh, false, ExportOptions{}); err != nil {
		t.Fatalf("export to a new file: %v", err)
	}
	if _, err := readBundle(fresh, t.TempDir()); err != nil {
		t.Errorf("export to a new file is not a valid bundle: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "fresh.tar.gz,precious.txt" {
		t.Errorf("directory holds %v, want only the two bundles", names)
	}
}

func TestExportFileNeverWritesTheRegistry(t *testing.T) {
	db, h := smallRegistry(t)
	reg, err := filepath.Abs(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	regDir := filepath.Dir(reg)
	other := t.TempDir()
	linkDir := filepath.Join(other, "linkdir")
	if err := os.Symlink(regDir, linkDir); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(other, "hard.db")
	if err := os.Link(reg, hard); err != nil {
		t.Fatal(err)
	}
	soft := filepath.Join(other, "soft.db")
	if err := os.Symlink(reg, soft); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, reg)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{
		"the registry":                 db.Path(),
		"its -wal file":                db.Path() + "-wal",
		"its -shm file":                db.Path() + "-shm",
		"its -journal file (absent)":   db.Path() + "-journal",
		"another spelling":             filepath.Join(regDir, ".", "..", filepath.Base(regDir), "registry.db"),
		"a relative path":              rel,
		"through a linked directory":   filepath.Join(linkDir, "registry.db"),
		"its -wal through a link":      filepath.Join(linkDir, "registry.db-wal"),
		"a hard link to the registry":  hard,
		"a symbolic link to the file":  soft,
		"the -journal through a link":  filepath.Join(linkDir, "registry.db-journal"),
		"the registry, trailing slash": db.Path() + string(filepath.Separator) + ".",
	}
	before := fileSHA(t, reg)
	for name, out := range targets {
		_, err := ExportFile(db, regDir, h, out, true, ExportOptions{})
		if err == nil || !strings.Contains(err.Error(), "is the registry") {
			t.Errorf("%s (%s) with --force: err = %v; want a refusal", name, out, err)
		}
	}
	if after := fileSHA(t, reg); after != before {
		t.Fatalf("the registry file changed")
	}
	if _, err := os.Stat(db.Path() + "-journal"); !os.IsNotExist(err) {
		t.Errorf("a -journal file appeared beside the registry (err %v)", err)
	}
	if _, err := db.ExportRun(h); err != nil {
		t.Errorf("registry unreadable after the refused exports: %v", err)
	}
}

func TestExportFileRefusesNonRegularOutput(t *testing.T) {
	db, h := smallRegistry(t)
	dir := t.TempDir()
	for _, out := range []string{dir, os.DevNull} {
		_, err := ExportFile(db, dir, h, out, true, ExportOptions{})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("export to %s with --force: %v; want a refusal", out, err)
		}
	}
	if _, err := ExportFile(db, dir, h, "", true, ExportOptions{}); err == nil || !strings.Contains(err.Error(), "empty output") {
		t.Errorf("empty output: %v", err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Errorf("%s is now %v (err %v)", os.DevNull, fi.Mode(), err)
	}
}
