package reports

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPaperSourcesResolve renders from an empty registry with the shipped
// README template and checks that every macro, table, figure and input
// named by paper/main.tex and paper/README.tmpl.md is generated, so the
// paper compiles before any run is recorded.
func TestPaperSourcesResolve(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	p, err := Render(db, Options{Dir: dir, Template: filepath.Join("..", "paper", "README.tmpl.md")})
	must(t, err)
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("README.md not rendered: %v", err)
	}
	tex, err := os.ReadFile(filepath.Join("..", "paper", "main.tex"))
	must(t, err)
	for _, m := range regexp.MustCompile(`\\([A-Za-z]+)\{\}`).FindAllStringSubmatch(string(tex), -1) {
		if latexBuiltin[m[1]] {
			continue
		}
		if _, ok := p.Numbers.Get(m[1]); !ok {
			t.Errorf("main.tex uses \\%s{}, which numbers.tex does not define", m[1])
		}
	}
	// An input guarded by \IfFileExists (the deployment table, generated
	// only once a decode bench is recorded) is optional.
	required := regexp.MustCompile(`\\IfFileExists\{[^}]+\}\{\\input\{[^}]+\}\}\{\}`).ReplaceAllString(string(tex), "")
	for _, m := range regexp.MustCompile(`\\input\{([^}]+)\}`).FindAllStringSubmatch(required, -1) {
		if _, err := os.Stat(filepath.Join(dir, m[1]+".tex")); err != nil {
			t.Errorf("main.tex inputs %s, which is not generated", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`\\includegraphics(?:\[[^]]*\])?\{([^}]+)\}`).FindAllStringSubmatch(string(tex), -1) {
		if _, err := os.Stat(filepath.Join(dir, m[1]+".pdf")); err != nil {
			t.Errorf("main.tex includes %s, which is not generated", m[1])
		}
	}
	tmpl, err := os.ReadFile(filepath.Join("..", "paper", "README.tmpl.md"))
	must(t, err)
	for _, m := range regexp.MustCompile(`num "([^"]+)"`).FindAllStringSubmatch(string(tmpl), -1) {
		if _, ok := p.Numbers.Get(m[1]); !ok {
			t.Errorf("README.tmpl.md uses number %q, which is not generated", m[1])
		}
	}
}

// latexBuiltin are the LaTeX commands main.tex calls with an empty argument.
var latexBuiltin = map[string]bool{"date": true}

func TestMacroName(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"subln", "no-subln", "delta", "val_bpb"}, "sublnNoSublnDeltaValBpb"},
		{[]string{"hidden", "ternary-d256", "val_bpb"}, "hiddenTernaryDTwoFiveSixValBpb"},
		{[]string{"scaling", "quant.scale=absmedian", "p", "arc_easy/acc_norm"}, "scalingQuantScaleAbsmedianPArcEasyAccNorm"},
		{[]string{"preset", "tiny", "ternary", "MB"}, "presetTinyTernaryMB"},
		{[]string{"État", "1"}, "tatOne"},
		{[]string{"", "--"}, "x"},
	} {
		if got := MacroName(c.parts...); got != c.want {
			t.Errorf("MacroName(%q) = %q, want %q", c.parts, got, c.want)
		}
	}
}

func TestFixPDFDates(t *testing.T) {
	in := []byte("<< /Producer (x) /CreationDate (D:20261127035556) /ModDate (D:20261127035557) >>")
	want := "<< /Producer (x) /CreationDate (D:20000101000000) /ModDate (D:20000101000000) >>"
	if got := string(fixPDFDates(in)); got != want {
		t.Errorf("fixPDFDates = %q, want %q", got, want)
	}
	if len(fixPDFDates(in)) != len(in) {
		t.Error("length changed: the xref offsets would break")
	}
}

func TestIntTicks(t *testing.T) {
	for _, c := range []struct {
		min, max float64
		want     string
	}{
		{-0.5, 7.5, "0 1 2 3 4 5 6 7"},
		{-0.5, 29.5, "0 5 10 15 20 25"},
		{-0.5, 99.5, "0 10 20 30 40 50 60 70 80 90"},
	} {
		var labels []string
		for _, tk := range (intTicks{}).Ticks(c.min, c.max) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != c.want {
			t.Errorf("intTicks(%g, %g) = %q, want %q", c.min, c.max, got, c.want)
		}
	}
}
