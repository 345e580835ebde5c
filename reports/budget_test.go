package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// The budget table states each matrix's tokens per run and per parameter,
// seeds, evaluation sets, and its worst member's distance to the add-one
// bigram, computed here from the recorded rows.
func TestBudgetTable(t *testing.T) {
	db := openDB(t)
	hashes := synthFixture(t, db)
	worst, worstArm := math.Inf(1), ""
	for i, h := range hashes {
		run, err := db.DoneRun(h)
		must(t, err)
		bigram := 2.0 + 0.1*float64(i)
		must(t, db.LogMetrics(run.ID, []registry.Metric{{Step: 40, Name: "bigram_val_bpb", Value: bigram}}))
		var res train.Result
		must(t, json.Unmarshal([]byte(run.SummaryJSON), &res))
		if m := 1 - res.ValBPB/bigram; m < worst {
			worst, worstArm = m, map[bool]string{true: "subln", false: "no-subln"}[i < 2]
		}
	}
	c, err := configs.Load(configs.Options{Preset: "micro", Env: []string{}})
	must(t, err)
	info, err := models.Describe(c.Model, c.Quant)
	must(t, err)
	noSubLN, err := configs.Load(configs.Options{Preset: "micro", Sets: []string{"quant.subln=false"}, Env: []string{}})
	must(t, err)
	info2, err := models.Describe(noSubLN.Model, noSubLN.Quant)
	must(t, err)
	lo, hi := min(info.Total, info2.Total), max(info.Total, info2.Total)
	tok := c.Train.Tokens

	dir := filepath.Join(t.TempDir(), "paper")
	writeTemplate(t, dir)
	_, err = Render(db, Options{Dir: dir})
	must(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "tables", "budget.md"))
	must(t, err)
	want := fmt.Sprintf("| `subln` | 2 × 2 (4/4) | %s | %s–%s | %.2f–%.2f | 2 tasks, limit 5 | %.1f%% below (%s) |",
		groupDigits(tok), groupDigits(lo), groupDigits(hi), float64(tok)/float64(hi), float64(tok)/float64(lo), 100*worst, worstArm)
	if !strings.Contains(string(b), want) {
		t.Errorf("budget table lacks\n%s\n%s", want, b)
	}
	tex, err := os.ReadFile(filepath.Join(dir, "tables", "budget.tex"))
	must(t, err)
	if !strings.Contains(string(tex), `\texttt{subln} & 2 $\times$ 2 (4/4)`) {
		t.Errorf("budget.tex:\n%s", tex)
	}
	for n, w := range map[int64]string{1048576: "1,048,576", 12: "12", -1234567: "-1,234,567"} {
		if g := groupDigits(n); g != w {
			t.Errorf("groupDigits(%d) = %q, want %q", n, g, w)
		}
	}
}
