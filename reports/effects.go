package reports

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nanomamba-edge/harness/experiment"
)

// maxMainMetrics caps the metrics of an ablation's effects figure and body
// table (the primary metric and one headline metric per task).
const maxMainMetrics = 6

// mainMetrics are the metrics an ablation's effects figure and body table
// show, in this order: the primary metric, then per task of the matrix
// (in matrix order) its headline metric — acc_norm, else acc, else
// bits_per_byte, else exact_match, else its first metric — at most
// maxMainMetrics in all. The appendix table has every metric.
func mainMetrics(a *Ablation) []string {
	have := map[string]bool{}
	var all []string
	primary := ""
	for _, r := range a.Table.Rows {
		if !have[r.Metric] {
			have[r.Metric] = true
			all = append(all, r.Metric)
		}
		if r.Primary && primary == "" {
			primary = r.Metric
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(m string) {
		if m != "" && !seen[m] && len(out) < maxMainMetrics {
			seen[m] = true
			out = append(out, m)
		}
	}
	add(primary)
	for _, t := range a.Matrix.Tasks {
		pick := ""
		for _, m := range []string{"acc_norm", "acc", "bits_per_byte", "exact_match"} {
			if have[t+"/"+m] {
				pick = t + "/" + m
				break
			}
		}
		if pick == "" {
			for _, m := range all {
				if strings.HasPrefix(m, t+"/") {
					pick = m
					break
				}
			}
		}
		add(pick)
	}
	if len(out) == 0 && len(all) > 0 {
		add(all[0])
	}
	return out
}

// effect is one compared arm's paired difference to the baseline.
type effect struct {
	arm           string
	d, lo, hi     float64 // lo, hi NaN when the interval is undefined
	pHolm         float64
	boot, primary bool
}

// rowEffect is the difference and 95% interval a table row reports: the
// hierarchical bootstrap's estimate and percentile interval where it ran,
// else the paired mean over seeds ± its Student-t half-width.
func rowEffect(r experiment.Summary) (effect, bool) {
	if r.Delta == nil {
		return effect{}, false
	}
	e := effect{arm: r.Arm, pHolm: r.PHolm, primary: r.Primary, lo: math.NaN(), hi: math.NaN()}
	if b := r.Boot; b != nil {
		e.d, e.lo, e.hi, e.boot = b.Mean, b.Lo, b.Hi, true
	} else {
		e.d = r.Delta.Delta.Mean
		if ci := r.Delta.Delta.CI95; !math.IsNaN(ci) {
			e.lo, e.hi = e.d-ci, e.d+ci
		}
	}
	if math.IsNaN(e.d) {
		return effect{}, false
	}
	return e, true
}

// direction says which sign of a difference is an improvement.
func direction(metric string) string {
	switch {
	case strings.HasSuffix(metric, "bpb"), strings.HasSuffix(metric, "bits_per_byte"), strings.HasSuffix(metric, "loss"), strings.HasSuffix(metric, "perplexity"):
		return "lower is better"
	case strings.HasSuffix(metric, "/acc"), strings.HasSuffix(metric, "/acc_norm"), strings.Contains(metric, "exact_match"):
		return "higher is better"
	}
	return ""
}

// zeroLine marks Δ = 0 across a panel.
type zeroLine struct{}

func (zeroLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(0)
	c.SetColor(color.Gray{Y: 90})
	c.SetLineWidth(vg.Points(0.8))
	c.SetLineDash(nil, 0)
	var path vg.Path
	path.Move(vg.Point{X: x, Y: c.Min.Y})
	path.Line(vg.Point{X: x, Y: c.Max.Y})
	c.Stroke(path)
}

// effectLabels prints each arm's Holm-adjusted p at the right edge of its
// row, inside the room the x range leaves for it.
type effectLabels struct {
	y      []float64
	labels []string
}

func (l effectLabels) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	st := draw.TextStyle{Color: color.Gray{Y: 40}, Handler: plot.DefaultTextHandler, XAlign: draw.XRight, YAlign: draw.YCenter}
	st.Font = font.From(plot.DefaultFont, vg.Points(7))
	for i, s := range l.labels {
		c.FillText(st, vg.Point{X: c.Max.X - vg.Points(2), Y: trY(l.y[i])}, s)
	}
}

// effectPanel draws one metric's paired differences (arm − baseline) with
// their 95% intervals, one row per compared arm in matrix order, and a
// vertical line at zero; nil when no arm has a difference.
func effectPanel(a *Ablation, metric string) (*plot.Plot, error) {
	var es []effect
	for _, r := range a.Table.Rows {
		if r.Metric != metric {
			continue
		}
		if e, ok := rowEffect(r); ok {
			es = append(es, e)
		}
	}
	if len(es) == 0 {
		return nil, nil
	}
	kind := "exploratory"
	if es[0].primary {
		kind = "primary"
	}
	title := metric + " (" + kind + ")"
	if d := direction(metric); d != "" {
		title += ", " + d
	}
	p := newPlot(title, "Δ = arm − baseline", "")
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.X.Label.TextStyle.Font.Size = vg.Points(8)
	p.X.Tick.Marker = plainTicks{}
	n := len(es)
	lo, hi := 0.0, 0.0
	names := make([]string, n)
	xys := make(plotter.XYs, n)
	var bars plotter.XYs
	var errs plotter.XErrors
	lab := effectLabels{}
	for i, e := range es {
		y := float64(n - 1 - i) // first arm on top
		names[n-1-i] = e.arm
		xys[i] = plotter.XY{X: e.d, Y: y}
		lo, hi = math.Min(lo, e.d), math.Max(hi, e.d)
		if !math.IsNaN(e.lo) && !math.IsNaN(e.hi) {
			bars = append(bars, plotter.XY{X: e.d, Y: y})
			errs = append(errs, struct{ Low, High float64 }{e.d - e.lo, e.hi - e.d})
			lo, hi = math.Min(lo, e.lo), math.Max(hi, e.hi)
		}
		s := "p=n/a"
		if !math.IsNaN(e.pHolm) {
			s = "p=" + fmt.Sprintf("%.2g", e.pHolm)
		}
		if e.boot {
			s += " (b)"
		}
		lab.y = append(lab.y, y)
		lab.labels = append(lab.labels, s)
	}
	addGrid(p)
	p.Add(zeroLine{})
	if len(bars) > 0 {
		eb, err := plotter.NewXErrorBars(struct {
			plotter.XYer
			plotter.XErrorer
		}{bars, errs})
		if err != nil {
			return nil, fmt.Errorf("intervals of %s: %w", metric, err)
		}
		eb.LineStyle.Width = vg.Points(1.2)
		eb.CapWidth = vg.Points(6)
		p.Add(eb)
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("differences of %s: %w", metric, err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(0), Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(sc, lab)
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Max(math.Abs(lo), math.Abs(hi)), 1e-3)
	}
	p.X.Min = lo - 0.08*span
	p.X.Max = hi + 0.45*span // room for the p labels
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	return p, nil
}

// effectsFigure shows the paired differences to the baseline for the
// ablation's main metrics (see mainMetrics), one panel per metric, and
// returns the runs behind them; nil when there is nothing to compare.
func effectsFigure(a *Ablation) (*figure, []string, error) {
	var panels []*plot.Plot
	var hs []string
	boot := false
	compared := 0
	for _, m := range mainMetrics(a) {
		p, err := effectPanel(a, m)
		if err != nil {
			return nil, nil, err
		}
		if p == nil {
			continue
		}
		panels = append(panels, p)
		for _, r := range a.Table.Rows {
			if r.Metric != m {
				continue
			}
			hs = append(hs, r.Hashes...)
			if r.Boot != nil {
				boot = true
			}
			if r.Delta != nil && r.Primary {
				compared++
			}
			if strings.Contains(m, "/") {
				for _, h := range r.Hashes {
					if er := a.EvalRuns[h]; er != nil {
						hs = append(hs, er.Hash)
					}
				}
			}
		}
	}
	if len(panels) == 0 {
		return nil, nil, nil
	}
	cols := 1
	if len(panels) > 1 {
		cols = 2
	}
	rows := (len(panels) + cols - 1) / cols
	arms := len(a.Arms()) - 1
	title := fmt.Sprintf("Ablation %s: paired differences to the baseline (%s), 95%% intervals", a.Matrix.Name, a.Table.Baseline)
	note := fmt.Sprintf("Point: mean over %d seed(s) of arm − baseline, paired by seed; bar: 95%% interval (paired Student t over seeds", a.Table.Seeds)
	if boot {
		note += "; (b): hierarchical bootstrap over seeds and documents"
	}
	note += "); p: Holm-adjusted within the primary or the exploratory family."
	rowH := vg.Points(float64(62 + 20*max(arms, 1)))
	return &figure{draw: panelGrid(title, note, panels, cols), height: gridHeight(rows, rowH)}, hs, nil
}
