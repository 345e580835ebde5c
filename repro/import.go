package repro

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrCorruptBundle is wrapped by every Import error about the bundle's
// content: not a gzip tar, a missing or unknown file, a sha256 or size that
// differs from the manifest, malformed JSON, a config that does not hash to
// its hash.
var ErrCorruptBundle = errors.New("corrupt bundle")

// Limits on the files of a bundle. Every size is checked against them
// before the file is read, so a bundle (a gzip bomb included) cannot make
// Import hold more than these in memory or write more than the checkpoint
// limit to disk. The recorded runs are far below them (a config is a few
// KiB, runs.json of a long run a few MiB, a checkpoint tens of MiB).
const (
	maxManifestBytes   = 1 << 20  // manifest.json
	maxConfigBytes     = 16 << 20 // config.json
	maxRunsBytes       = 256 << 20
	maxCheckpointBytes = 4 << 30 // streamed to a file, never held in memory
)

// fileLimit is the largest size a bundle file of that name may have.
func fileLimit(name string) int64 {
	switch {
	case name == manifestName:
		return maxManifestBytes
	case name == configName:
		return maxConfigBytes
	case name == runsName:
		return maxRunsBytes
	case strings.HasPrefix(name, ckptDir):
		return maxCheckpointBytes
	}
	return 0
}

// bundle is a validated bundle: its JSON decoded, its checkpoint (if any)
// extracted to a temporary file.
type bundle struct {
	manifest Manifest
	config   string
	runs     bundleRuns
	ckpt     string // temporary path of the extracted checkpoint
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptBundle, fmt.Sprintf(format, args...))
}

// readBundle reads and validates the bundle at path, extracting a bundled
// checkpoint into tmpDir.
func readBundle(path, tmpDir string) (*bundle, error) {
	// Checked before opening too: opening a named pipe would block.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode())
	}
	return readBundleFrom(f, tmpDir)
}

// readBundleFrom reads and validates a bundle, extracting a bundled
// checkpoint into tmpDir. Every error about the content wraps
// ErrCorruptBundle.
func readBundleFrom(r io.Reader, tmpDir string) (*bundle, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, corrupt("not a gzip file: %v", err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return nil, corrupt("not a tar archive or empty: %v", err)
	}
	if hdr.Name != manifestName {
		return nil, corrupt("the first file is %q, expected %s", hdr.Name, manifestName)
	}
	b := &bundle{}
	mb, err := readAll(tr, hdr)
	if err != nil {
		return nil, err
	}
	if err := strictJSON(mb, &b.manifest); err != nil {
		return nil, corrupt("%s: %v", manifestName, err)
	}
	want, err := checkManifest(&b.manifest)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, corrupt("truncated or damaged archive: %v", err)
		}
		bf, ok := want[hdr.Name]
		if !ok {
			return nil, corrupt("file %q is not listed in the manifest", hdr.Name)
		}
		if seen[hdr.Name] {
			return nil, corrupt("file %q appears twice", hdr.Name)
		}
		seen[hdr.Name] = true
		if hdr.Typeflag != tar.TypeReg {
			return nil, corrupt("%s is not a regular file", hdr.Name)
		}
		if hdr.Size != bf.Bytes {
			return nil, corrupt("%s has %d bytes, the manifest says %d", hdr.Name, hdr.Size, bf.Bytes)
		}
		if hdr.Size > fileLimit(hdr.Name) { // checkManifest refused larger sizes already
			return nil, corrupt("%s is %d bytes, more than the %d-byte limit", hdr.Name, hdr.Size, fileLimit(hdr.Name))
		}
		if strings.HasPrefix(hdr.Name, ckptDir) {
			if b.ckpt, err = extract(tr, hdr, bf, tmpDir); err != nil {
				return nil, err
			}
			continue
		}
		data, err := readAll(tr, hdr)
		if err != nil {
			return nil, err
		}
		if got := sha256Hex(data); got != bf.SHA256 {
			return nil, corrupt("%s has sha256 %s, the manifest says %s", hdr.Name, short(got), short(bf.SHA256))
		}
		switch hdr.Name {
		case configName:
			b.config = string(data)
		case runsName:
			if err := strictJSON(data, &b.runs); err != nil {
				return nil, corrupt("%s: %v", runsName, err)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			return nil, corrupt("%s is listed in the manifest but missing", name)
		}
	}
	return b, checkContent(b)
}

// checkManifest validates the manifest and returns its files by name.
func checkManifest(m *Manifest) (map[string]BundleFile, error) {
	if m.Format != BundleFormat {
		return nil, corrupt("format %q is not %q", m.Format, BundleFormat)
	}
	if m.Version < 1 || m.Version > BundleVersion {
		return nil, fmt.Errorf("%w: bundle format version %d; this harness reads versions 1 to %d (upgrade the harness for newer bundles)", ErrCorruptBundle, m.Version, BundleVersion)
	}
	if !isHex64(m.Hash) {
		return nil, corrupt("run hash %q is not 64 lowercase hex digits", m.Hash)
	}
	want := map[string]BundleFile{}
	for _, f := range m.Files {
		base, isCkpt := strings.CutPrefix(f.Name, ckptDir)
		valid := f.Name == configName || f.Name == runsName || (isCkpt && validFileName(base))
		if !valid {
			return nil, corrupt("manifest lists an unexpected file %q (valid: %s, %s, %s<name> with a name of letters, digits, '.', '_' and '-')",
				f.Name, configName, runsName, ckptDir)
		}
		if _, dup := want[f.Name]; dup {
			return nil, corrupt("manifest lists %q twice", f.Name)
		}
		if !isHex64(f.SHA256) || f.Bytes < 0 {
			return nil, corrupt("manifest entry %q has an invalid sha256 or size", f.Name)
		}
		if limit := fileLimit(f.Name); f.Bytes > limit {
			return nil, corrupt("manifest says %s has %d bytes, more than the %d-byte limit for it", f.Name, f.Bytes, limit)
		}
		if isCkpt && (m.Checkpoint == nil || m.Checkpoint.File != f.Name) {
			return nil, corrupt("manifest lists %s, which is not its checkpoint", f.Name)
		}
		want[f.Name] = f
	}
	for _, n := range []string{configName, runsName} {
		if _, ok := want[n]; !ok {
			return nil, corrupt("manifest does not list %s", n)
		}
	}
	if c := m.Checkpoint; c != nil {
		if f, ok := want[c.File]; !ok || !strings.HasPrefix(c.File, ckptDir) || f.SHA256 != c.SHA256 {
			return nil, corrupt("the checkpoint %q is not a listed checkpoint file with sha256 %s", c.File, short(c.SHA256))
		}
	}
	return want, nil
}

// checkContent checks that every config hashes to its hash and every run
// belongs to the bundle's run.
func checkContent(b *bundle) error {
	m := &b.manifest
	if got := sha256Hex([]byte(b.config)); got != m.Hash {
		return corrupt("%s hashes to %s, not to the run hash %s", configName, short(got), short(m.Hash))
	}
	for h, js := range b.runs.EvalConfigs {
		if got := sha256Hex([]byte(js)); got != h {
			return corrupt("eval config %s hashes to %s", short(h), short(got))
		}
	}
	ckptFound := m.Checkpoint == nil
	for _, r := range b.runs.Runs {
		switch {
		case r.Hash == m.Hash:
		case r.Kind == "eval" && r.ParentHash == m.Hash:
			if _, ok := b.runs.EvalConfigs[r.Hash]; !ok {
				return corrupt("eval run %s has no config in %s", short(r.Hash), runsName)
			}
		default:
			return corrupt("run %s (kind %s) belongs neither to %s nor to its evaluations", short(r.Hash), r.Kind, short(m.Hash))
		}
		if r.Created == "" || r.Attempt < 1 {
			return corrupt("run %s has no creation time or an attempt below 1", short(r.Hash))
		}
		if m.Checkpoint != nil && r.Hash == m.Hash && r.Attempt == m.Checkpoint.Attempt {
			for _, a := range r.Artifacts {
				ckptFound = ckptFound || (a.Kind == "checkpoint" && a.SHA256 == m.Checkpoint.SHA256)
			}
		}
	}
	if !ckptFound {
		return corrupt("the bundled checkpoint is not an artifact of attempt %d", m.Checkpoint.Attempt)
	}
	return nil
}

// readAll reads a whole file of at most its limit into memory.
func readAll(r io.Reader, hdr *tar.Header) ([]byte, error) {
	if limit := fileLimit(hdr.Name); hdr.Size < 0 || hdr.Size > limit {
		return nil, corrupt("%s is %d bytes, more than the %d-byte limit for it", hdr.Name, hdr.Size, limit)
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, corrupt("%s: truncated: %v", hdr.Name, err)
	}
	return b, nil
}

// extract streams a checkpoint to a temporary file, checking its sha256.
func extract(r io.Reader, hdr *tar.Header, bf BundleFile, dir string) (string, error) {
	out, err := os.CreateTemp(dir, "checkpoint-*")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, hdr.Size))
	if cerr := out.Close(); err == nil && cerr != nil {
		return "", cerr
	}
	if err != nil {
		return "", corrupt("%s: truncated: %v", hdr.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != bf.SHA256 || n != bf.Bytes {
		return "", corrupt("%s has sha256 %s (%d bytes), the manifest says %s (%d bytes)", hdr.Name, short(got), n, short(bf.SHA256), bf.Bytes)
	}
	return out.Name(), nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// validFileName accepts the plain file names a bundle may place: letters,
// digits, '.', '_' and '-', not starting with '.', at most 255 bytes.
func validFileName(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
