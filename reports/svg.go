package reports

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// The SVG renderings below draw the paper's figures (the same figure
// builders as Render, at the same size) for the web view, so the two never
// disagree. Fonts are referenced by name, not embedded.

// svgBytes renders f as an SVG document on an opaque white background.
func svgBytes(f *figure) ([]byte, error) {
	c := vgsvg.New(f.size())
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	f.render(dc)
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("reports: svg: %w", err)
	}
	return b.Bytes(), nil
}

// MessageSVG renders a figure that only says why there is nothing to plot,
// as the paper's placeholders do.
func MessageSVG(title string, lines ...string) ([]byte, error) {
	return svgBytes(messageFigure(title, lines...))
}

// AblationFigureKinds are the figures of an ablation: "loss" (the paper's
// training-loss panels: per arm the mean over seeds, a min–max band and
// the arm's QAT phases), "valbpb" (the same for validation bits per byte,
// for the web view only) and "bars" (the paper's effects figure: paired
// differences to the baseline with 95% intervals; the name is kept for
// the web view's addresses).
var AblationFigureKinds = []string{"loss", "valbpb", "bars"}

// AblationFigureSVG renders one of an ablation's paper figures (kind in
// AblationFigureKinds) as SVG, with the paper's placeholder when the
// ablation has no data for it. a must come from LoadAblations.
func AblationFigureSVG(db *registry.DB, a *Ablation, kind string) ([]byte, error) {
	if a == nil {
		return nil, errors.New("reports: ablation figure: no ablation")
	}
	name := a.Matrix.Name
	titles := map[string]string{"loss": "training loss per arm", "valbpb": "validation bits per byte per arm", "bars": "paired differences to the baseline"}
	if _, ok := titles[kind]; !ok {
		return nil, fmt.Errorf("reports: ablation figure %q: unknown kind (want loss, valbpb or bars)", kind)
	}
	if a.Done() == 0 {
		return MessageSVG(fmt.Sprintf("Ablation %s: %s", name, titles[kind]), "No finished runs recorded yet.", fmt.Sprintf("Run `harness ablate %s`, then `harness paper`.", name))
	}
	var f *figure
	var err error
	switch kind {
	case "loss", "valbpb":
		metric, title, ylabel := "loss", titles[kind], "train loss (nats/token)"
		if kind == "valbpb" {
			metric, ylabel = "val_bpb", "validation bits per byte"
		}
		f, err = curveFigure(db, a, metric, fmt.Sprintf("Ablation %s: %s", name, title), ylabel)
		if err != nil {
			return nil, fmt.Errorf("reports: ablation %s %s: %w", name, kind, err)
		}
		if f == nil {
			f = messageFigure(fmt.Sprintf("Ablation %s: %s", name, title), "The done runs recorded no "+metric+" series.")
		}
	case "bars":
		f, _, err = effectsFigure(a)
		if err != nil {
			return nil, fmt.Errorf("reports: ablation %s effects: %w", name, err)
		}
		if f == nil {
			f = messageFigure(fmt.Sprintf("Ablation %s: %s", name, titles[kind]), "No arm has a paired difference to the baseline yet.")
		}
	}
	return svgBytes(f)
}

// StudyFigureSVG renders the paper's optimisation-history figure of an HPO
// study (complete trials, pruned trials at their last reported value, best
// so far) as SVG.
func StudyFigureSVG(s *Study) ([]byte, error) {
	if s == nil {
		return nil, errors.New("reports: study figure: no study")
	}
	f, err := hpoFigure(s)
	if err != nil {
		return nil, fmt.Errorf("reports: study %s: %w", s.Name, err)
	}
	if f == nil {
		f = messageFigure("HPO study "+s.Name, "No complete or pruned trial with a value yet.")
	}
	return svgBytes(f)
}

// BenchFigureSVG renders the paper's training-throughput figure of the
// registry's bench runs as SVG.
func BenchFigureSVG(db *registry.DB) ([]byte, error) {
	bs, err := loadBench(db)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	f, err := benchFigure(bs)
	if err != nil {
		return nil, fmt.Errorf("reports: bench figure: %w", err)
	}
	if f == nil {
		f = messageFigure("Training throughput (runs of kind bench)", "No benchmark run (kind bench) is recorded yet.")
	}
	return svgBytes(f)
}

// RunCurve is one run drawn by RunCurvesSVG, with its legend label.
type RunCurve struct {
	Run   *registry.Run
	Label string
}

// RunCurvesSVG plots one metric of one or more runs (any status: a running
// run shows what it has logged so far) against training tokens, in the
// style of the paper's ablation curves: the first run's QAT phases (its
// "phase" metric) shaded and labelled, one colour per run. When a run has
// no stored training config, the x axis is the optimizer step instead.
func RunCurvesSVG(db *registry.DB, runs []RunCurve, metric string) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errors.New("reports: run curves: no runs")
	}
	cfgs := make([]*configs.Config, len(runs))
	tokens := true
	for i, rc := range runs {
		if rc.Run == nil {
			return nil, fmt.Errorf("reports: run curves: run %d is nil", i)
		}
		if js, err := db.Config(rc.Run.Hash); err == nil {
			if c, err := configs.FromCanonical(js); err == nil && c.Train.BatchSize > 0 && c.Data.SeqLen > 0 {
				cfgs[i] = c
			}
		}
		if cfgs[i] == nil {
			tokens = false
		}
	}
	scale := func(i int) float64 {
		if tokens {
			return tokensPerStep(cfgs[i])
		}
		return 1
	}
	title := fmt.Sprintf("Run %s: %s", short(runs[0].Run.Hash), metric)
	if len(runs) > 1 {
		title = fmt.Sprintf("%d runs: %s", len(runs), metric)
	}
	xlabel := "training tokens"
	if !tokens {
		xlabel = "optimizer step"
	}
	p := newPlot(title, xlabel, metric)
	if tokens {
		p.X.Tick.Marker = siTicks{}
	}
	lg := newLegend()
	lo, hi := math.Inf(1), math.Inf(-1)
	var lines []plot.Plotter
	for i, rc := range runs {
		s, err := loadSeries(db, rc.Run, metric)
		if err != nil {
			return nil, err
		}
		if len(s.steps) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.steps))
		for j, st := range s.steps {
			xys[j] = plotter.XY{X: float64(st) * scale(i), Y: s.values[j]}
			lo, hi = math.Min(lo, s.values[j]), math.Max(hi, s.values[j])
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("reports: run %s %s: %w", short(rc.Run.Hash), metric, err)
		}
		l.Color = colorAt(i)
		l.Width = vg.Points(1.5)
		if len(xys) <= 30 {
			sc, _ := plotter.NewScatter(xys)
			sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(i), Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			lines = append(lines, sc)
		}
		lines = append(lines, l)
		label := rc.Label
		if label == "" {
			label = short(rc.Run.Hash)
		}
		lg.Add(label, l)
	}
	if len(lines) == 0 {
		return MessageSVG(title, fmt.Sprintf("No %s values recorded yet.", metric))
	}
	if metric != "phase" {
		bs, err := runPhaseBands(db, runs[0].Run, cfgs[0], scale(0), tokens)
		if err != nil {
			return nil, err
		}
		if len(bs) > 0 {
			p.Add(bands(bs))
			p.X.Min = 0
			lg.Add("")
			lg.Add(fmt.Sprintf("shaded: QAT phases (%s)", short(runs[0].Run.Hash)))
		}
	}
	addGrid(p)
	p.Add(lines...)
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi)*0.1, 0.1)
	}
	p.Y.Min = lo - 0.05*span
	p.Y.Max = hi + 0.15*span // room for the phase labels
	return svgBytes(&figure{p: p, legend: lg})
}

// runPhaseBands derives the QAT phases of one run from its "phase" metric,
// as phaseBands does for an ablation's baseline; x is step × scale. When x
// is in tokens, the last band reaches the planned number of tokens.
func runPhaseBands(db *registry.DB, run *registry.Run, c *configs.Config, scale float64, inTokens bool) ([]phaseBand, error) {
	s, err := loadSeries(db, run, "phase")
	if err != nil {
		return nil, err
	}
	label := func(idx int) string {
		if c != nil {
			return phaseLabel(c, idx)
		}
		return fmt.Sprintf("phase %d", idx)
	}
	var bs []phaseBand
	for i, st := range s.steps {
		x := float64(st) * scale
		l := label(int(s.values[i]))
		if len(bs) > 0 && bs[len(bs)-1].label == l {
			bs[len(bs)-1].to = x
			continue
		}
		if len(bs) > 0 {
			bs[len(bs)-1].to = x
		}
		from := x
		if len(bs) == 0 {
			from = 0
		}
		bs = append(bs, phaseBand{from: from, to: x, label: l})
	}
	if len(bs) > 0 && c != nil && inTokens {
		bs[len(bs)-1].to = math.Max(bs[len(bs)-1].to, float64(c.Train.Tokens))
	}
	return bs, nil
}
