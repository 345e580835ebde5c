package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// synthAblation records a done ablation under a shipped name with the
// given arms (the first is the baseline; arm i runs its own QAT schedule),
// seeds and tasks (none: training metrics only).
func synthAblation(t *testing.T, db *registry.DB, name string, arms []string, seeds []int64, tasks []string) {
	t.Helper()
	var as []ablations.Arm
	for i, a := range arms {
		as = append(as, ablations.Arm{Name: a, Set: map[string]any{"train.lr": 1e-3 * float64(i+1)}})
	}
	m := &ablations.Matrix{Name: name, Description: name + " shapes", Base: "micro", Seeds: seeds, Arms: as,
		Baseline: arms[0], Metrics: []string{"val_bpb", "val_loss"}, Tasks: tasks, Limit: 5}
	spec, _ := json.Marshal(map[string]any{"matrix": m, "set": []string{}})
	def := registry.AblationDef{Name: m.Name, Baseline: m.Baseline, Metrics: m.Metrics, Tasks: m.Tasks, Limit: m.Limit}
	schedules := []string{
		"[{weights: float, start: 0, ramp: 0}, {weights: int4, start: 0.3, ramp: 0.05}, {weights: ternary, start: 0.6, ramp: 0.1}]",
		"[{weights: ternary, start: 0, ramp: 0}]",
		"[{weights: float, start: 0, ramp: 0}, {weights: ternary, start: 0.5, ramp: 0}]",
	}
	for ai, arm := range arms {
		for _, seed := range seeds {
			sets := []string{fmt.Sprintf("train.seed=%d", seed), fmt.Sprintf("train.lr=%g", 1e-3*float64(ai+1)), "qat.phases=" + schedules[ai%len(schedules)]}
			c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
			must(t, err)
			h := synthRun(t, db, c, registry.KindAblationArm, 0.03*float64(ai)+0.01*float64(seed%3))
			def.Members = append(def.Members, registry.AblationMember{RunHash: h, Arm: arm, Seed: seed})
			if len(tasks) > 0 {
				synthEval(t, db, h, tasks, m.Limit, 0.30-0.01*float64(ai)+0.004*float64(seed%4))
			}
		}
	}
	_, err := db.PutAblation(def, string(spec))
	must(t, err)
}

// TestAblationShapes renders matrices of 2 to 5 arms, 3 to 5 seeds, with
// and without task metrics: each gets its loss panels and its effects
// figure (no placeholder), a body table with the main metrics only and a
// full table with every metric; where latexmk is installed, the shipped
// main.tex builds into a PDF without overfull lines.
func TestAblationShapes(t *testing.T) {
	db := openDB(t)
	long := []string{"baseline-arm", "quant.scale=absmedian", "continual-reset-optimizer", "ternary_scratch_long_name", "abrupt"}
	shapes := []struct {
		name  string
		arms  int
		seeds []int64
		tasks []string
	}{
		{"subln", 2, []int64{1, 2, 3, 4, 5}, []string{"tinystories_bpb", "arc_easy"}},
		{"qat", 5, []int64{1, 2, 3}, []string{"tinystories_bpb", "arc_easy"}},
		{"scaling", 2, []int64{1, 2, 3, 4, 5}, nil},
		{"hidden", 3, []int64{1, 2, 3}, nil},
		{"attention", 4, []int64{1, 2, 3, 4}, []string{"arc_easy"}},
	}
	for _, s := range shapes {
		synthAblation(t, db, s.name, long[:s.arms], s.seeds, s.tasks)
	}
	dir := filepath.Join(t.TempDir(), "paper")
	p, err := Render(db, Options{Dir: dir, Template: filepath.Join("..", "paper", "README.tmpl.md")})
	must(t, err)
	notes := map[string]string{}
	for _, o := range p.Outputs {
		notes[o.ID] = o.Note
	}
	for _, s := range shapes {
		for _, id := range []string{"figure loss_" + s.name, "figure effects_" + s.name} {
			if n, ok := notes[id]; !ok || n != "" {
				t.Errorf("%s: present %v, note %q; want a drawn figure", id, ok, n)
			}
		}
		body, err := os.ReadFile(filepath.Join(dir, "tables", "ablation_"+s.name+".tex"))
		must(t, err)
		full, err := os.ReadFile(filepath.Join(dir, "tables", "ablation_"+s.name+"_full.tex"))
		must(t, err)
		if strings.Contains(string(body), "val\\_\\allowbreak{}loss") {
			t.Errorf("%s: the body table shows the exploratory val_loss", s.name)
		}
		if !strings.Contains(string(full), "val\\_\\allowbreak{}loss") || !strings.Contains(string(full), "\\begin{longtable}") {
			t.Errorf("%s: the full table lacks val_loss or is not a longtable", s.name)
		}
		for _, task := range s.tasks {
			if !strings.Contains(string(body), texBreakable(task)) {
				t.Errorf("%s: the body table lacks task %s", s.name, task)
			}
		}
	}
	if _, err := exec.LookPath("latexmk"); err != nil || testing.Short() {
		t.Skip("no latexmk (or -short): the PDF build is not checked")
	}
	for _, f := range []string{"main.tex", "refs.bib", "build-pdf.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "paper", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, f), b, 0o755))
	}
	out, err := exec.Command(filepath.Join(dir, "build-pdf.sh"), filepath.Join(t.TempDir(), "paper.pdf")).CombinedOutput()
	if err != nil {
		t.Fatalf("PDF build: %v\n%s", err, out)
	}
}
