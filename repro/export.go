package repro

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// ExportOptions are the choices of Export.
type ExportOptions struct {
	// WithCheckpoint adds the final checkpoint file of the latest done
	// attempt to the bundle.
	WithCheckpoint bool
}

// Export writes the training run hash as a bundle to w: its config, every
// attempt, every eval run whose parent it is, and with o.WithCheckpoint the
// final checkpoint. root resolves relative artifact paths. The bundle's
// bytes depend only on the registry content.
func Export(db *registry.DB, root, hash string, w io.Writer, o ExportOptions) (*Manifest, error) {
	rb, err := db.ExportRun(hash)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	cfg := rb.Config
	runs := bundleRunsOf(rb)
	runsJSON, err := json.MarshalIndent(runs, "", " ")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	m := &Manifest{Format: BundleFormat, Version: runs.version(), Hash: hash, Files: []BundleFile{
		fileEntry(configName, []byte(cfg)), fileEntry(runsName, runsJSON),
	}}
	ckptPath := ""
	if o.WithCheckpoint {
		var f BundleFile
		if ckptPath, f, m.Checkpoint, err = finalCheckpoint(db, root, hash); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
		m.Files = append(m.Files, f)
	}
	manifest, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		b    []byte
	}{{manifestName, manifest}, {configName, []byte(cfg)}, {runsName, runsJSON}} {
		if err := writeEntry(tw, f.name, int64(len(f.b)), bytes.NewReader(f.b)); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
	}
	if ckptPath != "" {
		if err := copyCheckpoint(tw, ckptPath, m.Files[len(m.Files)-1]); err != nil {
			return nil, fmt.Errorf("export %s: %w", short(hash), err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("export %s: %w", short(hash), err)
	}
	return m, nil
}

func fileEntry(name string, b []byte) BundleFile {
	return BundleFile{Name: name, SHA256: sha256Hex(b), Bytes: int64(len(b))}
}

// writeEntry writes one regular file with a fixed header (no times, no
// owners), so equal content gives equal bundles.
func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("write %s: %d bytes, expected %d (file changed while exporting?)", name, n, size)
	}
	return nil
}

// copyCheckpoint streams the checkpoint into the bundle, checking that it
// still has the content hashed for the manifest.
func copyCheckpoint(tw *tar.Writer, path string, f BundleFile) error {
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	if err := writeEntry(tw, f.Name, f.Bytes, io.TeeReader(in, h)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("checkpoint %s changed while exporting", path)
	}
	return nil
}

// finalCheckpoint finds the final checkpoint of the latest done attempt and
// checks that the file still has the recorded sha256.
func finalCheckpoint(db *registry.DB, root, hash string) (string, BundleFile, *BundleCheckpoint, error) {
	run, err := db.DoneRun(hash)
	if err != nil {
		return "", BundleFile{}, nil, fmt.Errorf("a checkpoint can only be bundled from a done attempt: %w", err)
	}
	var res train.Result
	if err := json.Unmarshal([]byte(run.SummaryJSON), &res); err != nil || res.CheckpointSHA == "" {
		return "", BundleFile{}, nil, fmt.Errorf("attempt %d records no final checkpoint in its summary", run.Attempt)
	}
	arts, err := db.Artifacts(run.ID)
	if err != nil {
		return "", BundleFile{}, nil, err
	}
	path := ""
	for _, a := range arts {
		if a.Kind == "checkpoint" && a.SHA256 == res.CheckpointSHA {
			path = a.Path
		}
	}
	if path == "" {
		return "", BundleFile{}, nil, fmt.Errorf("attempt %d records no checkpoint artifact with sha256 %s", run.Attempt, short(res.CheckpointSHA))
	}
	path = registry.ArtifactPath(root, registry.Artifact{Path: path})
	sum, size, err := hashFile(path)
	if err != nil {
		return "", BundleFile{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if sum != res.CheckpointSHA {
		return "", BundleFile{}, nil, fmt.Errorf("checkpoint %s has sha256 %s, the registry records %s: the file changed", path, short(sum), short(res.CheckpointSHA))
	}
	f := BundleFile{Name: ckptDir + filepath.Base(path), SHA256: sum, Bytes: size}
	return path, f, &BundleCheckpoint{File: f.Name, Attempt: run.Attempt, SHA256: sum}, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
