package reports

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/experiment"
)

const realMatrix = `name: subln
description: SubLN on vs off (micro, test scale)
base: micro
seeds: [1, 2]
axes:
  - key: quant.subln
    values: [true, false]
    labels: [subln, no-subln]
baseline: subln
metrics: [val_bpb, val_loss]
tasks: [tinystories_bpb]
limit: 5
`

// TestRenderRealAblation trains and evaluates a real micro ablation (two
// arms, two seeds, 4096 tokens each) through experiment.Env, then renders
// the paper from the registry alone.
func TestRenderRealAblation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four micro models")
	}
	datasets, err := filepath.Abs(filepath.Join("..", "datasets"))
	must(t, err)
	root := t.TempDir() // runs/ and .cache/ stay out of the repository
	must(t, os.Symlink(datasets, filepath.Join(root, "datasets")))
	db := openDB(t)
	m, err := ablations.Parse("test.yaml", []byte(realMatrix))
	must(t, err)
	env := experiment.Env{Root: root, DB: db, Threads: 2}
	rep, err := env.Ablate(context.Background(), m, []string{"train.tokens=4096", "train.eval_every=4", "train.log_every=2", "train.checkpoint_every=16"}, 1, nil)
	must(t, err)
	if f := rep.Failed(); len(f) > 0 {
		t.Fatalf("%d members failed, first: %v", len(f), f[0].Err)
	}

	dir := filepath.Join(t.TempDir(), "paper")
	p, err := Render(db, Options{Dir: dir, Template: filepath.Join("..", "paper", "README.tmpl.md")})
	must(t, err)

	// The table rebuilt from the registry equals the one Ablate computed.
	got, err := os.ReadFile(filepath.Join(dir, "tables", "ablation_subln.md"))
	must(t, err)
	want := AblationTable{Name: m.Name, Description: m.Description, Baseline: rep.Baseline, Seeds: len(m.Seeds), Rows: rep.Summary}.Markdown()
	if string(got) != want {
		t.Errorf("table from the registry differs from the ablation's own summary:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(string(got), "tinystories_bpb/bits_per_byte") {
		t.Errorf("table lacks the task metric:\n%s", got)
	}
	prov, err := os.ReadFile(filepath.Join(dir, "tables", "provenance.md"))
	must(t, err)
	for _, a := range rep.Members {
		if !strings.Contains(string(prov), a.Hash) || !strings.Contains(string(prov), a.Eval.Hash) {
			t.Errorf("provenance lacks member %s/%d (train %s, eval %s)", a.Arm, a.Seed, a.Hash, a.Eval.Hash)
		}
	}
	if n, ok := p.Numbers.Get("sublnNoSublnDeltaValBpb"); !ok || n.Value == "n/a" {
		t.Errorf("delta number not generated: %+v", n)
	}
	for _, o := range p.Outputs {
		if strings.HasSuffix(o.ID, "_subln") && o.Note != "" {
			t.Errorf("%s is a placeholder (%s) although runs are recorded", o.ID, o.Note)
		}
	}
	first := readAll(t, dir, p.Files)
	if os.Getenv("PAPER_VIEW_DIR") != "" {
		_, err := Render(db, Options{Dir: os.Getenv("PAPER_VIEW_DIR"), Template: filepath.Join("..", "paper", "README.tmpl.md")})
		must(t, err)
	}
	p2, err := Render(db, Options{Dir: dir, Template: filepath.Join("..", "paper", "README.tmpl.md")})
	must(t, err)
	for f, b := range readAll(t, dir, p2.Files) {
		if !bytes.Equal(b, first[f]) {
			t.Errorf("%s differs between two renders", f)
		}
	}
	diffs, err := Check(db, Options{Dir: dir, Template: filepath.Join("..", "paper", "README.tmpl.md")})
	must(t, err)
	if len(diffs) != 0 {
		t.Errorf("check after render: %v", diffs)
	}
}
