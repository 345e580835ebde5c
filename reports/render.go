package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/registry"
)

// Output is one rendered item of the paper (a figure, a table, the
// numbers) with the files it wrote and the runs behind it.
type Output struct {
	// ID names the item (e.g. "figure loss_subln"); Files are relative to
	// the paper directory, slash-separated.
	ID, Title string
	Files     []string
	Hashes    []string // full run hashes, sorted
	// Note says why the item is a placeholder (no data yet); "" otherwise.
	Note string
}

// Options control Render.
type Options struct {
	// Dir is the paper directory written to (figures/, tables/,
	// generated/ and README.md).
	Dir string
	// Template is the README template; default <Dir>/README.tmpl.md. A
	// missing template skips README.md.
	Template string
	// Root is the project root; when set, each shipped ablation matrix is
	// rendered from the record of its exact definition (see LoadAblations).
	Root string
}

// Paper is what Render wrote.
type Paper struct {
	Outputs []Output
	Numbers *Numbers
	// Files lists every written file relative to Dir, sorted.
	Files []string
}

// Generated reports whether a path (relative to the paper directory) is
// one Render owns: everything under figures/, tables/ and generated/, and
// README.md.
func Generated(rel string) bool {
	rel = filepath.ToSlash(rel)
	if rel == "README.md" {
		return true
	}
	for _, d := range []string{"figures/", "tables/", "generated/"} {
		if strings.HasPrefix(rel, d) {
			return true
		}
	}
	return false
}

type renderer struct {
	root    string
	db      *registry.DB
	dir     string
	paper   *Paper
	written map[string]bool
	runs    map[string]*registry.Run // run by hash, for code versions
	md      map[string]string        // Markdown fragments by name for the README
	abl     map[string]*Ablation     // the recorded ablations by name (set by ablations)
}

// Render re-renders every table, figure and generated number of the paper
// from the registry (read only) into o.Dir, removes generated files it did
// not write, and fills README.md from the template. The output is a pure
// function of the registry contents: rendering twice gives identical bytes.
func Render(db *registry.DB, o Options) (*Paper, error) {
	if o.Dir == "" {
		return nil, errors.New("reports: render: no output directory given")
	}
	if err := checkPaperDir(o.Dir); err != nil {
		return nil, err
	}
	r := &renderer{root: o.Root, db: db, dir: o.Dir, paper: &Paper{Numbers: newNumbers()}, written: map[string]bool{}, runs: map[string]*registry.Run{}, md: map[string]string{}}
	if err := r.all(); err != nil {
		return nil, err
	}
	tmpl := o.Template
	if tmpl == "" {
		tmpl = filepath.Join(o.Dir, "README.tmpl.md")
	}
	if err := r.readme(tmpl); err != nil {
		return nil, err
	}
	if err := r.removeStale(); err != nil {
		return nil, err
	}
	for f := range r.written {
		r.paper.Files = append(r.paper.Files, f)
	}
	sort.Strings(r.paper.Files)
	return r.paper, nil
}

func (r *renderer) write(rel string, b []byte) error {
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	r.written[rel] = true
	return nil
}

func (r *renderer) figure(name string, f *figure) ([]string, error) {
	files, err := writeFigure(filepath.Join(r.dir, "figures"), name, f)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	for i := range files {
		files[i] = "figures/" + files[i]
		r.written[files[i]] = true
	}
	return files, nil
}

func (r *renderer) add(o Output) {
	o.Hashes = uniqueSorted(o.Hashes)
	r.paper.Outputs = append(r.paper.Outputs, o)
}

func uniqueSorted(hs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

var slugRe = regexp.MustCompile(`[^a-z0-9_-]+`)

// slug makes a file-name-safe name.
func slug(s string) string {
	s = slugRe.ReplaceAllString(strings.ToLower(s), "-")
	if s = strings.Trim(s, "-"); s == "" {
		return "unnamed"
	}
	return s
}

func (r *renderer) all() error {
	if err := r.ablations(); err != nil {
		return err
	}
	if err := r.budget(); err != nil {
		return err
	}
	if err := r.studies(); err != nil {
		return err
	}
	if err := r.sizes(); err != nil {
		return err
	}
	if err := r.bench(); err != nil {
		return err
	}
	if err := r.deploy(); err != nil {
		return err
	}
	if err := r.distill(); err != nil {
		return err
	}
	if err := r.finetune(); err != nil {
		return err
	}
	if err := r.numbers(); err != nil {
		return err
	}
	return r.provenance()
}

// ablationNames are the shipped matrices plus any other recorded ones.
func ablationNames(recorded []*Ablation) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range ablations.Names() {
		seen[n] = true
		out = append(out, n)
	}
	for _, a := range recorded {
		if !seen[a.Matrix.Name] {
			seen[a.Matrix.Name] = true
			out = append(out, a.Matrix.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *renderer) ablations() error {
	recorded, err := LoadAblations(r.db, r.root)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	byName := map[string]*Ablation{}
	for _, a := range recorded {
		byName[a.Matrix.Name] = a
	}
	r.abl = byName
	var list strings.Builder
	for _, name := range ablationNames(recorded) {
		a := byName[name]
		if err := r.ablation(name, a); err != nil {
			return err
		}
		fmt.Fprintf(&list, "- `%s`: %s\n", name, r.md["status_"+name])
	}
	r.md["ablations"] = list.String()
	return nil
}

// ablation renders the table, the three figures and the numbers of one
// ablation; a nil a (not recorded) renders placeholders that say so.
func (r *renderer) ablation(name string, a *Ablation) error {
	s := slug(name)
	m := (*ablations.Matrix)(nil)
	if a != nil {
		m = a.Matrix
	} else if shipped, err := ablations.Load(name); err == nil {
		m = shipped
	}
	done := 0
	if a != nil {
		done = a.Done()
	}
	// Placeholders for the macros prose may use, so LaTeX always compiles:
	// for the arms of the recorded matrix and of the shipped file (the
	// prose follows the shipped file, which may have changed since).
	pms := []*ablations.Matrix{m}
	if shipped, err := ablations.Load(name); err == nil && shipped != m {
		pms = append(pms, shipped)
	}
	for _, pm := range pms {
		if pm == nil {
			continue
		}
		for _, arm := range pm.ArmList() {
			for _, metric := range pm.Metrics {
				r.paper.Numbers.placeholder(MacroName(name, arm.Name, metric), fmt.Sprintf("%s: %s mean %s (not recorded)", name, arm.Name, metric))
				if arm.Name != pm.BaselineArm() {
					r.paper.Numbers.placeholder(MacroName(name, arm.Name, "delta", metric), fmt.Sprintf("%s: %s − baseline, %s (not recorded)", name, arm.Name, metric))
					r.paper.Numbers.placeholder(MacroName(name, arm.Name, "p", metric), fmt.Sprintf("%s: paired t-test p, %s vs baseline, %s (not recorded)", name, arm.Name, metric))
					r.paper.Numbers.placeholder(MacroName(name, arm.Name, "holm", metric), fmt.Sprintf("%s: Holm-adjusted p, %s vs baseline, %s (not recorded)", name, arm.Name, metric))
				}
			}
		}
	}
	r.paper.Numbers.set(MacroName(name, "runs", "done"), fmt.Sprint(done), fmt.Sprintf("%s: members with a done training run", name), nil)

	tableID := "ablation_" + s
	if a == nil || done == 0 {
		note := fmt.Sprintf("not recorded yet: run `harness ablate %s`", name)
		if a != nil {
			note = fmt.Sprintf("recorded with %d member(s), none finished yet: run `harness ablate %s` to resume", len(a.Members), name)
		}
		r.md["status_"+name] = note
		md := fmt.Sprintf("<!-- generated by `harness paper` from registry.db; do not edit -->\n*Ablation `%s`: %s.*\n", name, note)
		tex := fmt.Sprintf("%% generated by `harness paper` from registry.db; do not edit\n\\emph{Ablation \\texttt{%s}: %s.}\n", texEscape(name), texEscape(strings.ReplaceAll(note, "`", "")))
		r.md[tableID] = md
		if err := r.write("tables/"+tableID+".md", []byte(md)); err != nil {
			return err
		}
		if err := r.write("tables/"+tableID+".tex", []byte(tex)); err != nil {
			return err
		}
		full := fmt.Sprintf("%% generated by `harness paper` from registry.db; do not edit\n\\begin{longtable}{@{}p{0.95\\linewidth}@{}}\n\\caption{Ablation %s, every metric: %s.}\\label{tab:full-%s}\\\\\n\\end{longtable}\n", texEscape(name), texEscape(strings.ReplaceAll(note, "`", "")), s)
		if err := r.write("tables/"+tableID+"_full.tex", []byte(full)); err != nil {
			return err
		}
		r.add(Output{ID: "table " + tableID, Title: "ablation " + name + " summary", Files: []string{"tables/" + tableID + ".md", "tables/" + tableID + ".tex", "tables/" + tableID + "_full.tex"}, Note: note})
		for _, fig := range []struct{ kind, title string }{{"loss", "training loss per arm"}, {"effects", "paired differences to the baseline"}} {
			files, err := r.figure(fig.kind+"_"+s, messageFigure(fmt.Sprintf("Ablation %s: %s", name, fig.title), "No finished runs recorded yet.", fmt.Sprintf("Run `harness ablate %s`, then `harness paper`.", name)))
			if err != nil {
				return err
			}
			r.add(Output{ID: "figure " + fig.kind + "_" + s, Title: "ablation " + name + ": " + fig.title, Files: files, Note: note})
		}
		return nil
	}
	r.md["status_"+name] = fmt.Sprintf("%d of %d member runs done", done, len(a.Members))
	hs := a.Hashes()
	md, tex := a.Table.Markdown(), a.Table.LaTeX(mainMetrics(a)...)
	full := a.Table.LaTeXFull(fmt.Sprintf("Ablation %s, every metric: mean $\\pm$ 95%% CI over seeds; Δ = arm − %s paired over seeds.", name, a.Table.Baseline), "tab:full-"+s)
	if a.Provenance != "" {
		r.md["status_"+name] += "; " + a.Provenance
		md += fmt.Sprintf("\n*Recorded matrix: %s.*\n", a.Provenance)
		rec := fmt.Sprintf("\n\\noindent{\\footnotesize\\emph{Recorded matrix: %s.}}\n", texEscape(strings.ReplaceAll(a.Provenance, "`", "")))
		tex += rec
		full += rec
	}
	r.md[tableID] = md
	for _, f := range []struct{ rel, body string }{{"tables/" + tableID + ".md", md}, {"tables/" + tableID + ".tex", tex}, {"tables/" + tableID + "_full.tex", full}} {
		if err := r.write(f.rel, []byte(f.body)); err != nil {
			return err
		}
	}
	r.add(Output{ID: "table " + tableID, Title: "ablation " + name + " summary (" + a.Matrix.Description + ")", Files: []string{"tables/" + tableID + ".md", "tables/" + tableID + ".tex", "tables/" + tableID + "_full.tex"}, Hashes: hs})

	trainHashes := make([]string, 0, len(a.TrainRuns))
	for h := range a.TrainRuns {
		trainHashes = append(trainHashes, h)
	}
	title := fmt.Sprintf("Ablation %s: training loss per arm", name)
	f, err := curveFigure(r.db, a, "loss", title, "train loss (nats/token)")
	if err != nil {
		return fmt.Errorf("reports: ablation %s loss: %w", name, err)
	}
	note := ""
	if f == nil {
		note = `no "loss" series recorded for the done runs`
		f = messageFigure(title, "The done runs recorded no loss series.")
	}
	files, err := r.figure("loss_"+s, f)
	if err != nil {
		return err
	}
	r.add(Output{ID: "figure loss_" + s, Title: "ablation " + name + ": training loss per arm (mean, min–max band over seeds, QAT phases)", Files: files, Hashes: trainHashes, Note: note})
	f, effHashes, err := effectsFigure(a)
	if err != nil {
		return fmt.Errorf("reports: ablation %s effects: %w", name, err)
	}
	note = ""
	if f == nil {
		note = "no arm compared with the baseline yet"
		f = messageFigure(fmt.Sprintf("Ablation %s: paired differences to the baseline", name), "No arm has a paired difference to the baseline yet.")
	}
	files, err = r.figure("effects_"+s, f)
	if err != nil {
		return err
	}
	r.add(Output{ID: "figure effects_" + s, Title: "ablation " + name + ": paired differences to the baseline with 95% intervals", Files: files, Hashes: effHashes, Note: note})

	for _, row := range a.Table.Rows {
		desc := fmt.Sprintf("%s: %s mean %s over %d seed(s)", name, row.Arm, row.Metric, row.Est.N)
		r.paper.Numbers.set(MacroName(name, row.Arm, row.Metric), fmtValue(row.Est.Mean), desc, row.Hashes)
		r.paper.Numbers.set(MacroName(name, row.Arm, row.Metric, "ci"), fmtValue(row.Est.CI95), desc+", 95% CI half-width", row.Hashes)
		if row.Delta != nil {
			base := a.Table.Baseline
			r.paper.Numbers.set(MacroName(name, row.Arm, "delta", row.Metric), fmtSigned(row.Delta.Delta.Mean), fmt.Sprintf("%s: %s − %s, %s (paired over seeds)", name, row.Arm, base, row.Metric), row.Hashes)
			r.paper.Numbers.set(MacroName(name, row.Arm, "p", row.Metric), fmtP(row.Delta.P), fmt.Sprintf("%s: paired t-test p, %s vs %s, %s", name, row.Arm, base, row.Metric), row.Hashes)
			if !math.IsNaN(row.PHolm) {
				r.paper.Numbers.set(MacroName(name, row.Arm, "holm", row.Metric), fmtP(row.PHolm), fmt.Sprintf("%s: Holm–Bonferroni-adjusted p within its family, %s vs %s, %s", name, row.Arm, base, row.Metric), row.Hashes)
			}
		}
	}
	return nil
}

func (r *renderer) studies() error {
	studies, err := LoadStudies(r.db)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	r.paper.Numbers.set("hpoStudies", fmt.Sprint(len(studies)), "HPO studies recorded", nil)
	var md, tex strings.Builder
	tex.WriteString("% generated by `harness paper` from registry.db; do not edit\n")
	if len(studies) == 0 {
		note := "No hyper-parameter study is recorded yet (run `harness hpo`, then `harness paper`)."
		md.WriteString("*" + note + "*\n")
		tex.WriteString(texEscape(strings.ReplaceAll(note, "`", "")) + "\n")
		r.add(Output{ID: "figure hpo", Title: "HPO optimisation history", Note: "no study recorded"})
	}
	for _, s := range studies {
		name := "hpo_" + slug(s.Name)
		f, err := hpoFigure(s)
		if err != nil {
			return fmt.Errorf("reports: study %s: %w", s.Name, err)
		}
		note := ""
		if f == nil {
			note = "no complete or pruned trial with a value"
			f = messageFigure("HPO study "+s.Name, "No complete or pruned trial with a value yet.")
		}
		files, err := r.figure(name, f)
		if err != nil {
			return err
		}
		r.add(Output{ID: "figure " + name, Title: "HPO study " + s.Name + ": optimisation history", Files: files, Hashes: s.Hashes(), Note: note})
		complete, pruned := 0, 0
		for _, t := range s.Trials {
			switch t.State.String() {
			case "Complete":
				complete++
			case "Pruned":
				pruned++
			}
		}
		r.paper.Numbers.set(MacroName("hpo", s.Name, "trials"), fmt.Sprint(len(s.Trials)), "HPO study "+s.Name+": trials", s.Hashes())
		r.paper.Numbers.set(MacroName("hpo", s.Name, "pruned"), fmt.Sprint(pruned), "HPO study "+s.Name+": pruned trials", s.Hashes())
		bestVal, bestHash := "n/a", []string(nil)
		if b, ok := s.Best(); ok {
			bestVal = fmtValue(b.Value)
			if h := s.RunHashes[b.Number]; h != "" {
				bestHash = []string{h}
			}
		}
		r.paper.Numbers.set(MacroName("hpo", s.Name, "best"), bestVal, "HPO study "+s.Name+": best objective value", bestHash)
		caption := fmt.Sprintf("HPO study %s: %d trials (%d complete, %d pruned); best objective %s. Dots: complete trials; crosses: pruned trials at their last reported value; dashed: best so far.", s.Name, len(s.Trials), complete, pruned, bestVal)
		fmt.Fprintf(&md, "![%s](figures/%s.png)\n\n*%s*\n\n", caption, name, caption)
		fmt.Fprintf(&tex, "\\begin{figure}[tbp]\n\\centering\n\\includegraphics[width=0.75\\linewidth]{figures/%s}\n\\caption{%s}\n\\end{figure}\n", name, texEscape(caption))
	}
	r.md["hpo"] = md.String()
	return r.write("generated/hpo.tex", []byte(tex.String()))
}

func (r *renderer) sizes() error {
	ps, err := PresetSizes()
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	md, tex := presetTables(ps)
	r.md["presets"] = md
	if err := r.write("tables/presets.md", []byte(md)); err != nil {
		return err
	}
	if err := r.write("tables/presets.tex", []byte(tex)); err != nil {
		return err
	}
	r.add(Output{ID: "table presets", Title: "preset parameter counts and weight sizes (models.Describe; no runs)", Files: []string{"tables/presets.md", "tables/presets.tex"}})
	for _, p := range ps {
		r.paper.Numbers.set(MacroName("preset", p.Preset, "params"), fmt.Sprint(p.Params), "preset "+p.Preset+": parameters", nil)
		r.paper.Numbers.set(MacroName("preset", p.Preset, "fp", "MB"), fmt.Sprintf("%.3f", p.FP16MB), "preset "+p.Preset+": fp16 weights, MB", nil)
		r.paper.Numbers.set(MacroName("preset", p.Preset, "ternary", "MB"), fmt.Sprintf("%.3f", p.TernMB), "preset "+p.Preset+": ternary (1.58-bit) weights, MB", nil)
	}
	pts, err := LoadRunPoints(r.db)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	r.paper.Numbers.set("runsDone", fmt.Sprint(len(pts)), "done training runs with a validation bpb", nil)
	f, err := sizeFigure(pts)
	if err != nil {
		return fmt.Errorf("reports: size figure: %w", err)
	}
	note := ""
	if f == nil {
		note = "no done training run recorded"
		f = messageFigure("Model size vs validation bits per byte", "No finished training run is recorded yet.", "Train with `harness train`, then run `harness paper`.")
	}
	files, err := r.figure("size_bpb", f)
	if err != nil {
		return err
	}
	var hs []string
	for _, p := range pts {
		hs = append(hs, p.Hash)
	}
	r.add(Output{ID: "figure size_bpb", Title: "model size vs validation bpb, by final weight format", Files: files, Hashes: hs, Note: note})
	return nil
}

func (r *renderer) bench() error {
	bs, err := loadBench(r.db)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	f, err := benchFigure(bs)
	if err != nil {
		return fmt.Errorf("reports: bench figure: %w", err)
	}
	if f == nil {
		note := "No benchmark run (kind bench) is recorded yet, so the throughput figure is omitted."
		r.md["bench"] = "*" + note + "*\n"
		r.add(Output{ID: "figure bench", Title: "benchmark throughput", Note: "no bench run recorded"})
		return r.write("generated/bench.tex", []byte("% generated by `harness paper` from registry.db; do not edit\n"+note+"\n"))
	}
	files, err := r.figure("bench", f)
	if err != nil {
		return err
	}
	var hs []string
	for _, b := range bs {
		hs = append(hs, b.Hash)
	}
	r.add(Output{ID: "figure bench", Title: "benchmark throughput", Files: files, Hashes: hs})
	caption := fmt.Sprintf("Training throughput (tokens/s) of %d timed configuration(s) from runs of kind bench.", len(bs))
	if bs[0].Source != "" {
		caption = fmt.Sprintf("Training throughput (tokens/s) of the %d timed configuration(s) of the newest bench run that timed training (%s), with the project's kernels and with the same step's GEMMs routed through the reference BLAS.", len(bs), bs[0].Source)
	}
	r.md["bench"] = fmt.Sprintf("![%s](figures/bench.png)\n\n*%s*\n", caption, caption)
	tex := fmt.Sprintf("%% generated by `harness paper` from registry.db; do not edit\n\\begin{figure}[tbp]\n\\centering\n\\includegraphics[width=0.75\\linewidth]{figures/bench}\n\\caption{%s}\n\\end{figure}\n", texEscape(caption))
	run, rep, err := latestBench(r.db)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if rep != nil {
		history, err := benchHistory(r.db)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		md, ttex := benchTables(run, rep, history)
		if err := r.write("tables/bench.md", []byte(md)); err != nil {
			return err
		}
		if err := r.write("tables/bench.tex", []byte(ttex)); err != nil {
			return err
		}
		r.add(Output{ID: "table bench", Title: "GEMM GFLOP/s with reference ratios, training tokens/s and MFU (newest bench run)", Files: []string{"tables/bench.md", "tables/bench.tex"}, Hashes: []string{run.Hash}})
		r.benchNumbers(run, rep)
		cap2 := fmt.Sprintf("GEMM rates on the LM shapes (best of repeated runs, with each reference timed in alternation in the same run) from the newest bench run %s, attempt %d (%s, up to %d threads, kernel set %s), and the training throughput of every recorded bench run (each run's machine is in the registry: harness show <run>); rows of different runs differ as much as the machines and their load did. MFU is model FLOPs per second over the FMA peak measured in the same run.", short(run.Hash), run.Attempt, texSafeCPU(run.CPU), run.Threads, rep.KernelSet)
		r.md["bench"] += "\n" + md + "\n*" + cap2 + "*\n"
		tex += fmt.Sprintf("\\begin{table}[tbp]\n\\centering\n\\scriptsize\n\\fitwidth{\\input{tables/bench}}\n\\caption{%s}\n\\end{table}\n", texEscape(cap2))
	}
	return r.write("generated/bench.tex", []byte(tex))
}

func (r *renderer) numbers() error {
	ns := r.paper.Numbers
	var hs []string
	for _, n := range ns.List() {
		hs = append(hs, n.Hashes...)
	}
	if err := r.write("generated/numbers.tex", []byte(NumbersTeX(ns))); err != nil {
		return err
	}
	if err := r.write("generated/numbers.md", []byte(NumbersMarkdown(ns))); err != nil {
		return err
	}
	r.add(Output{ID: "numbers", Title: "generated numbers (LaTeX macros and README values)", Files: []string{"generated/numbers.tex", "generated/numbers.md"}, Hashes: hs})
	return nil
}

// removeStale deletes generated files of an earlier render that this
// render did not write (a renamed study, an ablation no longer recorded).
func (r *renderer) removeStale() error {
	for _, d := range []string{"figures", "tables", "generated"} {
		root := filepath.Join(r.dir, d)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if e.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(r.dir, p)
			if err != nil {
				return err
			}
			if !r.written[filepath.ToSlash(rel)] {
				return os.Remove(p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reports: clean %s: %w", root, err)
		}
	}
	return nil
}

// checkPaperDir refuses to render into a directory that is not a paper
// directory: rendering replaces README.md and deletes files under
// figures/, tables/ and generated/ that it did not write. A paper directory
// is missing or empty, or holds README.tmpl.md or a generated/numbers.tex
// from an earlier render.
func checkPaperDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(ents) == 0) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reports: render into %s: %w", dir, err)
	}
	for _, marker := range []string{"README.tmpl.md", filepath.Join("generated", "numbers.tex")} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("reports: %s is not a paper directory (no README.tmpl.md, no generated/numbers.tex from an earlier render) and is not empty; rendering would replace its README.md and delete files under figures/, tables/ and generated/ — give an empty or new directory", dir)
}

// sameBytes compares two files' contents.
func sameBytes(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// texSafeCPU is a CPU model name for a caption: "(R)" and "(TM)" marks
// dropped, runs of spaces folded, "unknown CPU" when empty.
func texSafeCPU(cpu string) string {
	cpu = strings.NewReplacer("(R)", "", "(TM)", "", "(tm)", "").Replace(cpu)
	cpu = strings.Join(strings.Fields(cpu), " ")
	if cpu == "" {
		return "unknown CPU"
	}
	return cpu
}
