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
	// The engine's greedy text to the end of the context equals generate
	// <hash>, which decodes a ternary run in the exact arithmetic by
	// default (--arithmetic auto), byte for byte.
	long := []string{"--prompt", "Once upon a time", "--steps", "256"}
	want, err = run(t, append(append([]string{"generate", hash}, long...), g...)...)
	if err != nil {
		t.Fatal(err)
	}
	got, err = run(t, append(append([]string{"generate", path}, long...), g...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || len(want) < 2*len("Once upon a time") {
		t.Errorf("generate <file.gguf> printed %q, generate <hash> %q", got, want)
	}
	for _, ar := range []string{"exact", "training", "Training"} {
		if _, err := run(t, append(append([]string{"generate", hash, "--arithmetic", ar}, long...), g...)...); err != nil {
			t.Errorf("--arithmetic %s: %v", ar, err)
		}
	}
	if _, err := run(t, append([]string{"generate", hash, "--arithmetic", "int8"}, g...)...); err == nil || !strings.Contains(err.Error(), "valid: training, exact") {
		t.Errorf("--arithmetic int8: %v, want the valid choices", err)
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

// TestExportFloatWeights exports a run whose weights stay float (float-only
// QAT, no activation quantization) with --weights f16 / q8_0 and runs the
// files; ternary types are refused for it, float types for a ternary run
// (the errors name the run's weights and the valid choices), and a llama2.c
// checkpoint exports at f16 / q8_0 to -o.
func TestExportFloatWeights(t *testing.T) {
	root := t.TempDir()
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(root, "registry.db")
	g := []string{"--root", root, "--registry", reg, "--threads", "2"}
	train := func(sets ...string) string {
		t.Helper()
		args := []string{"train", "--preset", "micro", "--set", "train.tokens=4096"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		out, err := run(t, append(args, g...)...)
		if err != nil {
			t.Fatal(err)
		}
		db, err := registry.Open(reg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		runs, err := db.Runs(registry.RunFilter{Status: "done"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if strings.Contains(out, r.Hash[:12]) {
				return r.Hash
			}
		}
		t.Fatalf("no done run named in the train output %q (runs %+v)", out, runs)
		return ""
	}
	float := train("qat.phases=[{weights: float, start: 0, ramp: 0}]", "quant.act_bits=0")
	ternary := train("qat.phases=[{weights: ternary, start: 0, ramp: 0}]")
	cases := []struct {
		hash, weights string
		file          string    // written under runs/<hash>/
		typ           gguf.Type // of the projections
		errs          []string  // in the error, when refused
	}{
		{float, "", "model-f16-q8_0.gguf", gguf.F16, nil},
		{float, "f16", "model-f16-q8_0.gguf", gguf.F16, nil},
		{float, "q8_0", "model-q8_0-q8_0.gguf", gguf.Q8_0, nil},
		{float, "tq2_0", "", 0, []string{"float weights", "--weights tq2_0", "use f16 or q8_0"}},
		{float, "tq1_0", "", 0, []string{"float weights", "use f16 or q8_0"}},
		{ternary, "", "model-tq2_0-q8_0.gguf", gguf.TQ2_0, nil},
		{ternary, "f16", "", 0, []string{"ternary weights", "--weights f16", "use tq2_0 or tq1_0"}},
		{ternary, "q8_0", "", 0, []string{"ternary weights", "use tq2_0 or tq1_0"}},
		{float, "q4_0", "", 0, []string{`--weights "q4_0"`, "tq2_0 or tq1_0", "f16 or q8_0"}},
	}
	for _, c := range cases {
		args := []string{"export", c.hash, "--embed", "q8_0"}
		if c.weights != "" {
			args = append(args, "--weights", c.weights)
		}
		out, err := run(t, append(args, g...)...)
		if c.errs != nil {
			if err == nil {
				t.Errorf("%v succeeded: %q", args, out)
				continue
			}
			for _, e := range c.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("%v: error %q does not say %q", args, err, e)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		path := filepath.Join(root, "runs", c.hash, c.file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v printed %q: %v", args, out, err)
		}
		f, err := gguf.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if w := f.Tensor("blk.0.ssm_in.weight"); w == nil || w.Type != c.typ {
			t.Errorf("%v: blk.0.ssm_in.weight is %+v, want type %s", args, w, c.typ)
		}
		if got, err := run(t, append([]string{"run-gguf", path, "--prompt", "Once upon a time", "--steps", "8"}, g...)...); err != nil || !strings.HasPrefix(got, "Once upon a time") {
			t.Errorf("run-gguf %s: %q, %v", c.file, got, err)
		}
	}
	// The exact arithmetic is refused for float weights, named; auto
	// decodes them in the training arithmetic.
	if _, err := run(t, append([]string{"generate", float, "--arithmetic", "exact", "--steps", "4"}, g...)...); err == nil || !strings.Contains(err.Error(), "needs ternary weights") {
		t.Errorf("--arithmetic exact on float weights: %v", err)
	}
	if _, err := run(t, append([]string{"generate", float, "--steps", "4"}, g...)...); err != nil {
		t.Errorf("generate of a float run (auto): %v", err)
	}
	ck := filepath.Join(ds, "llama2c", "stories260K.bin")
	for _, w := range []string{"f16", "q8_0"} {
		out := filepath.Join(t.TempDir(), "s.gguf")
		if _, err := run(t, append([]string{"export", ck, "--weights", w, "--embed", w, "-o", out}, g...)...); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if wt, _ := gguf.ParseType(w); f.Tensor("blk.0.attn_q.weight") == nil || f.Tensor("blk.0.attn_q.weight").Type != wt {
			t.Errorf("stories260K at %s: attn_q is %+v", w, f.Tensor("blk.0.attn_q.weight"))
		}
	}
	for _, bad := range [][]string{
		{"export", ck, "--weights", "tq2_0", "-o", filepath.Join(root, "x.gguf")},
		{"export", ck},
		{"export", ck, "-o", reg},
	} {
		if _, err := run(t, append(bad, g...)...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
