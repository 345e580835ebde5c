package reports

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testTemplate = `# Paper
SubLN delta: {{num "sublnNoSublnDeltaValBpb"}}; missing: {{num "noSuchNumber"}}.

{{md "ablation_subln"}}
{{fig "loss_subln" "loss curves"}}
{{md "hpo"}}
{{md "bench"}}
`

func writeTemplate(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "README.tmpl.md")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(p, []byte(testTemplate), 0o644))
	return p
}

func readAll(t *testing.T, dir string, files []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		must(t, err)
		out[f] = b
	}
	return out
}

func TestRenderSynthetic(t *testing.T) {
	db := openDB(t)
	hashes := synthFixture(t, db)
	dir := filepath.Join(t.TempDir(), "paper")
	writeTemplate(t, dir)
	p1, err := Render(db, Options{Dir: dir})
	must(t, err)
	first := readAll(t, dir, p1.Files)

	t.Run("deterministic", func(t *testing.T) {
		p2, err := Render(db, Options{Dir: dir})
		must(t, err)
		if strings.Join(p1.Files, ",") != strings.Join(p2.Files, ",") {
			t.Fatalf("file lists differ:\n%v\n%v", p1.Files, p2.Files)
		}
		for f, b := range readAll(t, dir, p2.Files) {
			if !bytes.Equal(b, first[f]) {
				t.Errorf("%s differs between two renders", f)
			}
		}
	})

	t.Run("figures valid", func(t *testing.T) {
		npng, npdf := 0, 0
		for _, f := range p1.Files {
			b := first[f]
			switch filepath.Ext(f) {
			case ".png":
				npng++
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Errorf("%s: not a PNG: %v", f, err)
					continue
				}
				// 6 in wide at 150 dpi; panel grids grow with their rows.
				if r := img.Bounds(); r.Dx() != 900 || r.Dy() < 300 || r.Dy() > 1500 {
					t.Errorf("%s: %dx%d pixels, want 900 wide and 300 to 1500 high", f, r.Dx(), r.Dy())
				}
			case ".pdf":
				npdf++
				if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(b[len(b)-64:], []byte("%%EOF")) {
					t.Errorf("%s: not a complete PDF", f)
				}
				if !bytes.Contains(b, []byte("/CreationDate (D:20000101000000")) {
					t.Errorf("%s: creation date not fixed", f)
				}
			}
		}
		// 7 shipped ablations x 2 (loss, effects) + hpo + size = at least 16.
		if npng < 16 || npng != npdf {
			t.Errorf("%d PNG and %d PDF figures, want ≥16 each and equal", npng, npdf)
		}
	})

	t.Run("provenance lists hashes", func(t *testing.T) {
		prov := string(first["tables/provenance.md"])
		for _, h := range hashes {
			if !strings.Contains(prov, h) {
				t.Errorf("provenance.md lacks run %s", h)
			}
		}
		// The paper's appendix: 12-hex prefixes, never full hashes.
		tex := string(first["tables/provenance.tex"])
		for _, h := range hashes {
			if !strings.Contains(tex, `\texttt{`+h[:12]+"}") || strings.Contains(tex, h) {
				t.Errorf("provenance.tex lacks the 12-hex prefix of run %s or prints it in full", h)
			}
		}
		// The machine-readable file beside the paper: full hashes.
		var doc struct {
			Outputs []struct {
				ID   string
				Runs []struct{ Hash, CodeVersion string }
			}
			Numbers []struct {
				Name string
				Runs []string
			}
		}
		must(t, json.Unmarshal(first["generated/provenance.json"], &doc))
		all := map[string]bool{}
		for _, o := range doc.Outputs {
			for _, r := range o.Runs {
				all[r.Hash] = true
			}
		}
		for _, h := range hashes {
			if !all[h] {
				t.Errorf("provenance.json lacks run %s", h)
			}
		}
		if len(doc.Numbers) == 0 || len(doc.Outputs) != len(p1.Outputs) {
			t.Errorf("provenance.json: %d outputs (want %d), %d numbers", len(doc.Outputs), len(p1.Outputs), len(doc.Numbers))
		}
		for _, id := range []string{"figure loss_subln", "figure effects_subln", "figure hpo_lr-search", "figure size_bpb", "table ablation_subln"} {
			if !strings.Contains(prov, "| "+id+" |") {
				t.Errorf("provenance.md lacks output %q", id)
			}
		}
	})

	t.Run("tex is ASCII", func(t *testing.T) {
		// pdfLaTeX stops at a Unicode character it has no definition for;
		// texEscape spells them as commands. Comments may hold anything.
		for _, f := range p1.Files {
			if filepath.Ext(f) != ".tex" {
				continue
			}
			for i, line := range strings.Split(string(first[f]), "\n") {
				if c := strings.Index(line, "%"); c >= 0 && (c == 0 || line[c-1] != '\\') {
					line = line[:c]
				}
				for _, r := range line {
					if r > 127 {
						t.Errorf("%s:%d: non-ASCII %q outside a comment: %s", f, i+1, r, line)
						break
					}
				}
			}
		}
	})

	t.Run("numbers", func(t *testing.T) {
		// no-subln is worse by 0.05 loss → 0.05/1.8 bpb in the synthetic data.
		n, ok := p1.Numbers.Get("sublnNoSublnDeltaValBpb")
		if !ok || n.Value != "+0.0278" {
			t.Errorf("sublnNoSublnDeltaValBpb = %+v, want +0.0278", n)
		}
		if len(n.Hashes) != 2 {
			t.Errorf("delta backed by %d runs, want 2", len(n.Hashes))
		}
		tex := string(first["generated/numbers.tex"])
		if !strings.Contains(tex, `\newcommand{\sublnNoSublnDeltaValBpb}{\ensuremath{+}0.0278}`) {
			t.Errorf("numbers.tex lacks the delta macro:\n%s", tex)
		}
		if n, _ := p1.Numbers.Get("qatAbruptDeltaValBpb"); n.Value != "n/a" {
			t.Errorf("unrecorded ablation number = %q, want n/a placeholder", n.Value)
		}
		if n, _ := p1.Numbers.Get("hpoLrSearchPruned"); n.Value != "2" {
			t.Errorf("pruned trials = %q, want 2", n.Value)
		}
		readme := string(first["README.md"])
		if !strings.Contains(readme, "SubLN delta: +0.0278; missing: n/a.") {
			t.Errorf("README numbers not substituted:\n%s", readme[:min(len(readme), 400)])
		}
		if !strings.Contains(readme, "![loss curves](figures/loss_subln.png)") || !strings.Contains(readme, "| val_bpb (primary) | no-subln |") {
			t.Errorf("README lacks the figure or the table")
		}
		if !strings.Contains(readme, "](figures/bench.png)") {
			t.Errorf("README lacks the bench figure")
		}
	})

	t.Run("check", func(t *testing.T) {
		diffs, err := Check(db, Options{Dir: dir})
		must(t, err)
		if len(diffs) != 0 {
			t.Fatalf("fresh paper reported as different: %v", diffs)
		}
		must(t, os.WriteFile(filepath.Join(dir, "tables", "ablation_subln.md"), []byte("edited\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "figures", "old.png"), []byte("x"), 0o644))
		must(t, os.Remove(filepath.Join(dir, "figures", "size_bpb.pdf")))
		diffs, err = Check(db, Options{Dir: dir})
		must(t, err)
		want := []string{"figures/old.png: stale", "figures/size_bpb.pdf: missing", "tables/ablation_subln.md: differs"}
		if len(diffs) != len(want) {
			t.Fatalf("diffs = %v, want %d entries", diffs, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(diffs[i], w) {
				t.Errorf("diff %d = %q, want prefix %q", i, diffs[i], w)
			}
		}
		// A re-render repairs everything and removes the stale file.
		_, err = Render(db, Options{Dir: dir})
		must(t, err)
		if diffs, _ := Check(db, Options{Dir: dir}); len(diffs) != 0 {
			t.Errorf("after re-render: %v", diffs)
		}
	})
}

func TestRenderEmptyRegistry(t *testing.T) {
	db := openDB(t)
	dir := filepath.Join(t.TempDir(), "paper")
	writeTemplate(t, dir)
	p, err := Render(db, Options{Dir: dir})
	must(t, err)
	md, err := os.ReadFile(filepath.Join(dir, "tables", "ablation_subln.md"))
	must(t, err)
	if !strings.Contains(string(md), "not recorded yet: run `harness ablate subln`") {
		t.Errorf("empty ablation table does not say so: %s", md)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	must(t, err)
	for _, want := range []string{"No hyper-parameter study is recorded yet", "No benchmark run (kind bench) is recorded yet"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README does not say %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "figures", "bench.png")); err == nil {
		t.Error("bench figure drawn without bench runs")
	}
	for _, o := range p.Outputs {
		if len(o.Hashes) != 0 {
			t.Errorf("%s lists runs %v from an empty registry", o.ID, o.Hashes)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "generated", "numbers.tex")); err != nil {
		t.Error(err)
	}
}
