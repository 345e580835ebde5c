// Package runexport exports a recorded training run to GGUF and records the
// file as an artifact of the run. It is the registry-facing half of
// package edge, kept apart so that the decoder (edge/engine) does not link
// the registry.
package runexport

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// ArtifactKind is the registry kind of a GGUF export.
const ArtifactKind = "gguf"

// Result describes a written export.
type Result struct {
	Path   string // where the file was written
	Record string // the path recorded in the registry (relative to the root when inside it)
	SHA256 string
	Bytes  int64
	RunID  int64
}

// DefaultName is the file name of an export in the run's directory, e.g.
// "model-tq2_0-f16.gguf".
func DefaultName(o edge.Options) string {
	w, e := o.Weights, o.Embed
	if w == 0 {
		w = gguf.TQ2_0
	}
	return fmt.Sprintf("model-%s-%s.gguf", strings.ToLower(w.String()), strings.ToLower(e.String()))
}

// Export loads the final checkpoint of a done run, writes its GGUF file to
// out (default <root>/runs/<hash>/DefaultName) and records it as an
// artifact of the run with its sha256 and size.
func Export(env *experiment.Env, hash string, o edge.Options, out string) (*Result, error) {
	tr, err := env.LoadTrained(hash)
	if err != nil {
		return nil, err
	}
	run, err := env.DB.DoneRun(hash)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "nanomamba-" + tr.Config.Preset + "-" + hash[:min(12, len(hash))]
	}
	o.Name = name
	f, err := edge.Export(tr.Model, tr.Config.Quant, tr.Tokenizer, o, edge.Provenance{
		RunHash: hash, ConfigJSON: tr.Config.Canonical(), CodeCommit: run.CodeVersion, CodeDirty: run.CodeDirty,
	})
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(env.RunDir(hash), DefaultName(o))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	b, err := f.Bytes()
	if err != nil {
		return nil, err
	}
	if err := writeFile(out, b); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	res := &Result{Path: out, Record: recordPath(env.Root, out), SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b)), RunID: tr.RunID}
	if err := env.DB.PutArtifact(registry.Artifact{RunID: tr.RunID, Kind: ArtifactKind, Path: res.Record, SHA256: res.SHA256, Bytes: res.Bytes}); err != nil {
		return nil, fmt.Errorf("export: recording %s: %w", res.Record, err)
	}
	return res, nil
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// recordPath is path relative to root when it lies inside root, else the
// absolute path.
func recordPath(root, path string) string {
	ar, err1 := filepath.Abs(root)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	rel, err := filepath.Rel(ar, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ap
	}
	return filepath.ToSlash(rel)
}
