package runexport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/internal/testrun"
)

func TestExportRecordedRun(t *testing.T) {
	env := testrun.Env(t)
	hash := testrun.Micro(t, env, "train.tokens=4096")
	res, err := Export(env, hash, edge.Options{Weights: gguf.TQ1_0, Embed: gguf.F16}, "")
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(env.Root, "runs", hash, "model-tq1_0-f16.gguf")
	if res.Path != wantPath || res.Record != "runs/"+hash+"/model-tq1_0-f16.gguf" {
		t.Fatalf("written to %s, recorded as %s", res.Path, res.Record)
	}
	b, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(b)) != res.Bytes {
		t.Fatalf("sha256/size of the file do not match the result")
	}
	arts, err := env.DB.Artifacts(res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range arts {
		if a.Kind == ArtifactKind {
			found = a.Path == res.Record && a.SHA256 == res.SHA256 && a.Bytes == res.Bytes
		}
	}
	if !found {
		t.Fatalf("no matching gguf artifact among %+v", arts)
	}
	f, err := gguf.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := f.GetString("nanomamba.provenance.run_hash"); h != hash {
		t.Errorf("run hash in file %q, want %q", h, hash)
	}
	if c, _ := f.GetString("nanomamba.provenance.code_commit"); c == "" {
		t.Error("no code commit recorded")
	}
	// Exporting again gives the same bytes and replaces the artifact entry.
	out := filepath.Join(t.TempDir(), "again.gguf")
	res2, err := Export(env, hash, edge.Options{Weights: gguf.TQ1_0, Embed: gguf.F16}, out)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(out)
	if !bytes.Equal(b, b2) || res2.SHA256 != res.SHA256 {
		t.Error("a second export of the run differs")
	}
	if res2.Record != out {
		t.Errorf("a file outside the root is recorded as %q, want the absolute path", res2.Record)
	}
	if _, err := Export(env, "0000000000000000000000000000000000000000000000000000000000000000", edge.Options{}, ""); err == nil {
		t.Error("an unknown run exported")
	}
}
