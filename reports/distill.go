package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// distillMatrix is the name of the shipped distillation matrix.
const distillMatrix = "distill"

// TeacherInfo is the teacher of a distillation matrix as recorded: its
// done training run's validation bits per byte, parameter count and
// training tokens, and the add-one bigram baseline on the same split.
type TeacherInfo struct {
	Hash     string
	Run      *registry.Run // nil: no done training run recorded
	ValBPB   float64
	Params   int64
	Tokens   int64
	Steps    int64
	BigramBP float64 // NaN when not recorded
	Weights  string  // the last QAT phase's weight format
}

// DistillArm is one arm of the distillation table.
type DistillArm struct {
	Arm    string
	Loss   string // the student's objective, in words
	Params int64  // student parameters (0: unknown)
	Tokens int64  // training tokens of a done member (0: none done)
	// Row is the arm's primary-metric summary; nil when no member is done.
	Row *experiment.Summary
}

// DistillTable is the paper's distillation table: the teacher, then the
// matrix's arms with mean ± CI, paired Δ vs the baseline arm and Holm p.
type DistillTable struct {
	Teacher    TeacherInfo
	Baseline   string
	Metric     string
	Seeds      int
	Arms       []DistillArm
	Footnote   string // the ablation table's footnote ("" when not recorded)
	Provenance string
	// Note says what is missing ("" when everything is recorded).
	Note string
}

// LoadTeacher reads the recorded teacher run of hash.
func LoadTeacher(db *registry.DB, hash string) (TeacherInfo, error) {
	t := TeacherInfo{Hash: hash, ValBPB: math.NaN(), BigramBP: math.NaN()}
	if hash == "" {
		return t, nil
	}
	if js, err := db.Config(hash); err == nil {
		if c, err := configs.FromCanonical(js); err == nil {
			if n, err := models.CountParams(c.Model, c.Quant); err == nil {
				t.Params = n
			}
			if ph := c.QAT.Phases; len(ph) > 0 {
				t.Weights = ph[len(ph)-1].Weights
			}
		}
	} else if !errors.Is(err, registry.ErrNotFound) {
		return t, err
	}
	run, err := db.DoneRun(hash)
	if errors.Is(err, registry.ErrNotFound) {
		return t, nil
	} else if err != nil {
		return t, err
	}
	var res train.Result
	if err := json.Unmarshal([]byte(run.SummaryJSON), &res); err != nil {
		return t, fmt.Errorf("teacher %s: summary unreadable: %w", short(hash), err)
	}
	t.Run, t.ValBPB, t.Tokens, t.Steps = run, res.ValBPB, res.Tokens, res.Steps
	if m, err := db.LastMetric(run.ID, "bigram_val_bpb"); err == nil {
		t.BigramBP = m.Value
	} else if !errors.Is(err, registry.ErrNotFound) {
		return t, err
	}
	return t, nil
}

// teacherOf is the distill.teacher a matrix sets for every arm.
func teacherOf(m *ablations.Matrix) string {
	if m == nil {
		return ""
	}
	if v, ok := m.Set["distill.teacher"]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// distillObjective describes a student's objective from its config.
func distillObjective(d configs.DistillConfig) string {
	r := d.KDRatio
	switch d.Loss {
	case "", configs.DistillNone:
		return "CE"
	case "fkl":
		return fmt.Sprintf("%g·CE + %g·forward KL (τ = %g)", 1-r, r, d.Temperature)
	case "rkl":
		return fmt.Sprintf("%g·CE + %g·reverse KL", 1-r, r)
	case "minillm":
		return fmt.Sprintf("%g·CE + %g·MiniLLM (teacher mix α = %g)", 1-r, r, d.TeacherMix)
	}
	return d.Loss
}

// BuildDistillTable assembles the table from the recorded distill
// ablation a (nil: not recorded; m is then the shipped matrix) and its
// teacher.
func BuildDistillTable(db *registry.DB, a *Ablation, m *ablations.Matrix) (*DistillTable, error) {
	if a != nil {
		m = a.Matrix
	}
	t := &DistillTable{Metric: "val_bpb"}
	if m == nil {
		t.Note = "the distill matrix is not shipped"
		return t, nil
	}
	t.Metric, t.Seeds, t.Baseline = m.PrimaryMetric(), len(m.Seeds), m.BaselineArm()
	teacher, err := LoadTeacher(db, teacherOf(m))
	if err != nil {
		return nil, err
	}
	t.Teacher = teacher
	rows := map[string]*experiment.Summary{}
	cfgs := map[string]*configs.Config{}
	tokens := map[string]int64{}
	if a != nil {
		t.Baseline, t.Provenance = a.Table.Baseline, a.Provenance
		for i := range a.Table.Rows {
			if r := &a.Table.Rows[i]; r.Metric == t.Metric {
				rows[r.Arm] = r
			}
		}
		for _, mb := range a.Members {
			if mb.Config != nil && cfgs[mb.Arm] == nil {
				cfgs[mb.Arm] = mb.Config
			}
			if mb.Train != nil && tokens[mb.Arm] == 0 {
				tokens[mb.Arm] = mb.Train.Tokens
			}
		}
		if a.Done() > 0 {
			t.Footnote = a.Table.Footnote()
		}
	}
	for _, arm := range m.ArmList() {
		da := DistillArm{Arm: arm.Name, Row: rows[arm.Name], Tokens: tokens[arm.Name]}
		c := cfgs[arm.Name]
		if c == nil { // not recorded: the shipped arm's config
			sets := []string{}
			for k, v := range m.Set {
				sets = append(sets, fmt.Sprintf("%s=%v", k, v))
			}
			for k, v := range arm.Set {
				sets = append(sets, fmt.Sprintf("%s=%v", k, v))
			}
			if lc, err := configs.Load(configs.Options{Preset: m.Base, Sets: sets, Env: []string{}}); err == nil {
				c = lc
			}
		}
		if c != nil {
			da.Loss = distillObjective(c.Distill)
			if n, err := models.CountParams(c.Model, c.Quant); err == nil {
				da.Params = n
			}
		} else {
			da.Loss = fmt.Sprint(arm.Set["distill.loss"])
		}
		t.Arms = append(t.Arms, da)
	}
	var missing []string
	if teacher.Run == nil {
		missing = append(missing, "the teacher has no done training run (`harness train --preset teacher`)")
	}
	if a == nil || a.Done() == 0 {
		missing = append(missing, "no member of the matrix is done (`harness ablate distill`)")
	} else {
		var none []string
		for _, da := range t.Arms {
			if da.Row == nil {
				none = append(none, "`"+da.Arm+"`")
			}
		}
		if len(none) > 0 {
			missing = append(missing, fmt.Sprintf("no done member of arm(s) %s (`harness ablate distill` runs them)", strings.Join(none, ", ")))
		}
	}
	t.Note = strings.Join(missing, "; ")
	return t, nil
}

// Hashes are the runs behind the table: the teacher and every arm's runs.
func (t *DistillTable) Hashes() []string {
	var hs []string
	if t.Teacher.Run != nil {
		hs = append(hs, t.Teacher.Hash)
	}
	for _, a := range t.Arms {
		if a.Row != nil {
			hs = append(hs, a.Row.Hashes...)
		}
	}
	return uniqueSorted(hs)
}

func fmtCount(n int64) string {
	if n <= 0 {
		return "–"
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// cells are one arm's value columns: mean ± CI (n), Δ ± CI, p, Holm p.
func (a DistillArm) cells(seeds int) (mean, delta, p, holm, runs string) {
	if a.Row == nil {
		return "not recorded", "", "", "", ""
	}
	mean = fmtMean(a.Row.Est.Mean, a.Row.Est.CI95) + fmt.Sprintf(" (n = %d)", a.Row.Est.N)
	delta, p = fmtDelta(*a.Row)
	holm = fmtHolm(*a.Row)
	runs = shortHashes(a.Row.Hashes)
	return
}

// Markdown renders the table.
func (t *DistillTable) Markdown() string {
	var b strings.Builder
	b.WriteString("<!-- generated by `harness paper` from registry.db; do not edit -->\n")
	fmt.Fprintf(&b, "| model | objective | parameters | training tokens | %s (mean ± 95%% CI) | Δ vs %s | p | p (Holm) | runs |\n|---|---|---:|---:|---|---|---|---|---|\n", t.Metric, t.Baseline)
	tc := t.Teacher
	if tc.Hash != "" {
		val, runs := "not recorded", ""
		if tc.Run != nil {
			val, runs = fmtValue(tc.ValBPB)+" (1 run)", "`"+short(tc.Hash)[:8]+"`"
		}
		w := tc.Weights
		if w == "" {
			w = "float"
		}
		fmt.Fprintf(&b, "| teacher (%s weights) | CE | %s | %s | %s | | | | %s |\n", w, fmtCount(tc.Params), fmtCount(tc.Tokens), val, runs)
		if !math.IsNaN(tc.BigramBP) {
			fmt.Fprintf(&b, "| add-one bigram (teacher's split and tokenizer) | counts | | | %s | | | | |\n", fmtValue(tc.BigramBP))
		}
	}
	for _, a := range t.Arms {
		mean, delta, p, holm, runs := a.cells(t.Seeds)
		if runs != "" {
			runs = "`" + runs + "`"
		}
		fmt.Fprintf(&b, "| student `%s` (ternary) | %s | %s | %s | %s | %s | %s | %s | %s |\n", a.Arm, a.Loss, fmtCount(a.Params), fmtCount(a.Tokens), mean, delta, p, holm, runs)
	}
	b.WriteString("\n*" + t.Caption() + "*\n")
	return b.String()
}

// Caption says what the table shows and what is missing.
func (t *DistillTable) Caption() string {
	var s strings.Builder
	fmt.Fprintf(&s, "Distillation of the ternary student from the float teacher %s: %s of the teacher's done run and of each student arm over seeds (mean ± 95%% Student-t CI, n done seeds); Δ = arm − %s paired over seeds, p = paired t-test, Holm within the primary family.",
		"`"+short(t.Teacher.Hash)+"`", t.Metric, t.Baseline)
	if tc := t.Teacher; tc.Run != nil && !math.IsNaN(tc.BigramBP) && tc.BigramBP > 0 {
		fmt.Fprintf(&s, " The teacher is %.1f%% below the add-one bigram's bits per byte.", 100*(1-tc.ValBPB/tc.BigramBP))
	}
	if t.Footnote != "" {
		s.WriteString(" " + t.Footnote)
	}
	if t.Provenance != "" {
		s.WriteString(" Recorded matrix: " + t.Provenance + ".")
	}
	if t.Note != "" {
		s.WriteString(" Not recorded yet: " + t.Note + ".")
	}
	return s.String()
}

// LaTeX renders a booktabs table; run hashes go into comments.
func (t *DistillTable) LaTeX() string {
	var b strings.Builder
	b.WriteString("% generated by `harness paper` from registry.db; do not edit\n")
	fmt.Fprintf(&b, "\\begin{tabular}{llrrllll}\n\\toprule\nmodel & objective & params & tokens & %s & $\\Delta$ vs %s & $p$ & $p_{\\mathrm{Holm}}$ \\\\\n\\midrule\n", texEscape(t.Metric), texEscape(t.Baseline))
	tc := t.Teacher
	if tc.Hash != "" {
		val := "not recorded"
		if tc.Run != nil {
			val = fmtValue(tc.ValBPB)
		}
		fmt.Fprintf(&b, "teacher & CE & %s & %s & %s &  &  &  \\\\ %% run: %s\n", texEscape(fmtCount(tc.Params)), texEscape(fmtCount(tc.Tokens)), val, tc.Hash)
		if !math.IsNaN(tc.BigramBP) {
			fmt.Fprintf(&b, "add-one bigram & counts &  &  & %s &  &  &  \\\\\n", fmtValue(tc.BigramBP))
		}
	}
	for _, a := range t.Arms {
		mean, delta, p, holm, _ := a.cells(t.Seeds)
		hs := ""
		if a.Row != nil {
			hs = strings.Join(a.Row.Hashes, " ")
		}
		fmt.Fprintf(&b, "%s & %s & %s & %s & %s & %s & %s & %s \\\\ %% runs: %s\n", texEscape(a.Arm), texEscape(a.Loss), texEscape(fmtCount(a.Params)), texEscape(fmtCount(a.Tokens)),
			texEscape(mean), texEscape(delta), texEscape(p), texEscape(holm), hs)
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	return b.String()
}

// distill renders tables/distill.{md,tex} and generated/distill.tex (always,
// with placeholders while the teacher or the matrix is not recorded), the
// README fragment "distill" and the teacher's numbers.
func (r *renderer) distill() error {
	a := r.abl[distillMatrix]
	var shipped *ablations.Matrix
	if m, err := ablations.Load(distillMatrix); err == nil {
		shipped = m
	}
	t, err := BuildDistillTable(r.db, a, shipped)
	if err != nil {
		return fmt.Errorf("reports: distill: %w", err)
	}
	md, tex := t.Markdown(), t.LaTeX()
	caption := t.Caption()
	gtex := fmt.Sprintf("%% generated by `harness paper` from registry.db; do not edit\n\\begin{table}[tbp]\n\\centering\n\\scriptsize\n\\fitwidth{\\input{tables/distill}}\n\\caption{%s}\n\\end{table}\n", texEscape(strings.ReplaceAll(caption, "`", "")))
	for _, f := range []struct{ rel, body string }{{"tables/distill.md", md}, {"tables/distill.tex", tex}, {"generated/distill.tex", gtex}} {
		if err := r.write(f.rel, []byte(f.body)); err != nil {
			return err
		}
	}
	r.md["distill"] = md
	r.add(Output{ID: "table distill", Title: "distillation: the teacher and the student arms (val_bpb, paired Δ vs none, Holm p)",
		Files: []string{"tables/distill.md", "tables/distill.tex", "generated/distill.tex"}, Hashes: t.Hashes(), Note: t.Note})
	ns := r.paper.Numbers
	tc := t.Teacher
	var th []string
	if tc.Run != nil {
		th = []string{tc.Hash}
		ns.set("distillTeacherValBpb", fmtValue(tc.ValBPB), "distill: the teacher's validation bits per byte", th)
		ns.set("distillTeacherTokens", fmt.Sprint(tc.Tokens), "distill: the teacher's training tokens", th)
		if !math.IsNaN(tc.BigramBP) {
			ns.set("distillTeacherBigramValBpb", fmtValue(tc.BigramBP), "distill: add-one bigram bits per byte on the teacher's split", th)
		}
	}
	ns.placeholder("distillTeacherValBpb", "distill: the teacher's validation bits per byte (not recorded)")
	ns.placeholder("distillTeacherTokens", "distill: the teacher's training tokens (not recorded)")
	ns.placeholder("distillTeacherBigramValBpb", "distill: add-one bigram bits per byte on the teacher's split (not recorded)")
	if tc.Params > 0 {
		ns.set("distillTeacherParams", fmt.Sprint(tc.Params), "distill: the teacher's parameters", nil)
	} else {
		ns.placeholder("distillTeacherParams", "distill: the teacher's parameters (unknown)")
	}
	return nil
}
