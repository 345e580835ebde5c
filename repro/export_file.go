package repro

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nanomamba-edge/harness/registry"
)

// registrySuffixes are the files SQLite keeps beside a registry.
var registrySuffixes = []string{"", "-wal", "-shm", "-journal"}

// ExportFile writes the bundle of hash (see Export) to the file out. The
// bytes go to a temporary file in out's directory, which is synced and then
// moved into place, so out is never left half written. An existing out is
// refused unless force is set; the registry db reads from, and its -wal,
// -shm and -journal files, are refused even with force, whatever path
// spells them (symbolic links, hard links, relative paths).
func ExportFile(db *registry.DB, root, hash, out string, force bool, o ExportOptions) (*Manifest, error) {
	if err := checkOutput(db.Path(), out, force); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	defer os.Remove(tmp.Name()) // no-op once moved into place
	m, err := Export(db, root, hash, tmp, o)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Check again: the output may have appeared, or become a link to the
	// registry, while the bundle was written.
	if err := checkOutput(db.Path(), out, force); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	if err := place(tmp.Name(), out, force); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil { // make the move durable
		d.Sync()
		d.Close()
	}
	return m, nil
}

// place moves the finished file tmp to out. Without force it never
// replaces a file: a hard link fails if out exists (the check and the
// creation are one step), and only where links are unsupported does it
// fall back to a check followed by a rename.
func place(tmp, out string, force bool) error {
	if force {
		return os.Rename(tmp, out)
	}
	err := os.Link(tmp, out)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; pass --force to replace it", out)
	}
	if _, serr := os.Lstat(out); serr == nil {
		return fmt.Errorf("%s already exists; pass --force to replace it", out)
	}
	return os.Rename(tmp, out)
}

// CheckOutput applies export-run's output rules to a path without writing
// anything (see checkOutput).
func CheckOutput(registryPath, out string, force bool) error {
	return checkOutput(registryPath, out, force)
}

// checkOutput refuses an output path that names the registry (or one of
// its SQLite side files), an existing non-regular file, or, unless force,
// any existing file.
func checkOutput(registryPath, out string, force bool) error {
	if out == "" {
		return errors.New("empty output path; pass a file name with -o")
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("output %s: %w", out, err)
	}
	absReg, err := filepath.Abs(registryPath)
	if err != nil {
		return fmt.Errorf("registry %s: %w", registryPath, err)
	}
	refuse := func() error {
		return fmt.Errorf("output %s is the registry %s (or one of its -wal, -shm or -journal files) that is being read; write the bundle elsewhere", out, registryPath)
	}
	// Same spelling, or the same name in the same directory reached
	// through links (covers side files that do not exist yet).
	outDir := resolvedDir(absOut)
	regDir := resolvedDir(absReg)
	for _, suf := range registrySuffixes {
		reg := absReg + suf
		if absOut == reg || outDir == regDir && filepath.Base(absOut) == filepath.Base(reg) {
			return refuse()
		}
	}
	st, err := os.Stat(absOut)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output %s: %w", out, err)
	}
	// The same file under another name (a hard or symbolic link).
	for _, suf := range registrySuffixes {
		if rst, err := os.Stat(absReg + suf); err == nil && os.SameFile(st, rst) {
			return refuse()
		}
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("output %s exists and is not a regular file (mode %v); choose a file name", out, st.Mode())
	}
	if !force {
		return fmt.Errorf("output %s already exists; pass --force to replace it", out)
	}
	if lst, err := os.Lstat(absOut); err == nil && lst.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("output %s is a symbolic link; replacing it would not write where it points, so give the target's path or another name", out)
	}
	return nil
}

// resolvedDir is the directory of an absolute path with symbolic links
// resolved (as spelled when it cannot be resolved).
func resolvedDir(abs string) string {
	dir := filepath.Dir(abs)
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// WriteFile writes b to out for a command that reads the registry at
// registryPath, with the same rules as export-run: never the registry or
// its side files, never a non-regular file, and an existing file only
// with force — except that a file already holding exactly b is left as it
// is (exporting twice gives the same bytes). The bytes go to a temporary
// file in out's directory first and are moved into place.
func WriteFile(registryPath, out string, b []byte, force bool) error {
	if cur, err := os.ReadFile(out); err == nil && bytes.Equal(cur, b) {
		if err := checkOutput(registryPath, out, true); err != nil {
			return err
		}
		return nil
	}
	if err := checkOutput(registryPath, out, force); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = place(tmp.Name(), out, force)
	}
	os.Remove(tmp.Name()) // after a hard link or a failure; gone after a rename
	return werr
}
