package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// series is one metric of one run: x in training tokens.
type series struct {
	steps  []int64
	values []float64
}

// loadSeries reads a metric of a done training run, with the step scaled
// to tokens by the run's tokens per optimizer step.
func loadSeries(db *registry.DB, run *registry.Run, name string) (series, error) {
	ms, err := db.Metrics(run.ID, name)
	if err != nil {
		return series{}, err
	}
	var s series
	for _, m := range ms {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		s.steps = append(s.steps, m.Step)
		s.values = append(s.values, m.Value)
	}
	return s, nil
}

func tokensPerStep(c *configs.Config) float64 {
	if c == nil {
		return 1
	}
	return float64(c.Train.BatchSize) * float64(c.Data.SeqLen)
}

// armBand is one metric of one arm over its done seeds, at the steps
// every seed logged: the mean and the minimum and maximum over seeds, with
// x in training tokens.
type armBand struct {
	x, mean, lo, hi []float64
	seeds           int
}

// armSeries collects a metric of an arm's done seeds (see armBand); an
// arm without any logged value gives seeds == 0.
func armSeries(db *registry.DB, a *Ablation, arm, metric string) (armBand, error) {
	var runs []series
	tps := 0.0
	for _, m := range a.Members {
		run := a.TrainRuns[m.Hash]
		if m.Arm != arm || run == nil {
			continue
		}
		s, err := loadSeries(db, run, metric)
		if err != nil {
			return armBand{}, err
		}
		if len(s.steps) == 0 {
			continue
		}
		runs = append(runs, s)
		tps = tokensPerStep(m.Config)
	}
	if len(runs) == 0 {
		return armBand{}, nil
	}
	type acc struct {
		n           int
		sum, lo, hi float64
	}
	at := map[int64]*acc{}
	for _, s := range runs {
		for i, st := range s.steps {
			v := s.values[i]
			e := at[st]
			if e == nil {
				e = &acc{lo: v, hi: v}
				at[st] = e
			}
			// Summation in member (seed) order per step, fixed by the
			// registry.
			e.n++
			e.sum += v
			e.lo, e.hi = math.Min(e.lo, v), math.Max(e.hi, v)
		}
	}
	var steps []int64
	for st, e := range at {
		if e.n == len(runs) {
			steps = append(steps, st)
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	b := armBand{seeds: len(runs)}
	for _, st := range steps {
		e := at[st]
		b.x = append(b.x, float64(st)*tps)
		b.mean = append(b.mean, e.sum/float64(len(runs)))
		b.lo = append(b.lo, e.lo)
		b.hi = append(b.hi, e.hi)
	}
	return b, nil
}

func (b armBand) meanXYs() plotter.XYs {
	xys := make(plotter.XYs, len(b.x))
	for i := range b.x {
		xys[i] = plotter.XY{X: b.x[i], Y: b.mean[i]}
	}
	return xys
}

// polygon is the band's outline: the maxima forward, the minima back.
func (b armBand) polygon() plotter.XYs {
	n := len(b.x)
	xys := make(plotter.XYs, 0, 2*n)
	for i := 0; i < n; i++ {
		xys = append(xys, plotter.XY{X: b.x[i], Y: b.hi[i]})
	}
	for i := n - 1; i >= 0; i-- {
		xys = append(xys, plotter.XY{X: b.x[i], Y: b.lo[i]})
	}
	return xys
}

// phaseBand is one QAT phase over a token range.
type phaseBand struct {
	from, to float64
	label    string
}

// phaseBands derives the QAT phases of an arm's first done run from its
// "phase" metric (the arms of one matrix may schedule them differently).
func phaseBands(db *registry.DB, a *Ablation, arm string) ([]phaseBand, error) {
	for _, m := range a.Members {
		run := a.TrainRuns[m.Hash]
		if m.Arm != arm || run == nil || m.Config == nil {
			continue
		}
		s, err := loadSeries(db, run, "phase")
		if err != nil {
			return nil, err
		}
		tps := tokensPerStep(m.Config)
		var bands []phaseBand
		for i, st := range s.steps {
			idx := int(s.values[i])
			x := float64(st) * tps
			if len(bands) > 0 && bands[len(bands)-1].label == phaseLabel(m.Config, idx) {
				bands[len(bands)-1].to = x
				continue
			}
			if len(bands) > 0 {
				bands[len(bands)-1].to = x
			}
			from := x
			if len(bands) == 0 {
				from = 0
			}
			bands = append(bands, phaseBand{from: from, to: x, label: phaseLabel(m.Config, idx)})
		}
		if len(bands) > 0 {
			bands[len(bands)-1].to = math.Max(bands[len(bands)-1].to, float64(m.Config.Train.Tokens))
		}
		return bands, nil
	}
	return nil, nil
}

func phaseLabel(c *configs.Config, idx int) string {
	if idx >= 0 && idx < len(c.QAT.Phases) {
		return c.QAT.Phases[idx].Weights
	}
	return fmt.Sprintf("phase %d", idx)
}

// bands shades QAT phases across the full height of the data area and
// labels each at the top (the y range leaves head room for the labels).
type bands []phaseBand

func (bs bands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	st := draw.TextStyle{Color: color.Gray{Y: 70}, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
	st.Font = font.From(plot.DefaultFont, vg.Points(8))
	for i, b := range bs {
		x0 := vg.Length(math.Max(float64(trX(b.from)), float64(c.Min.X)))
		x1 := vg.Length(math.Min(float64(trX(b.to)), float64(c.Max.X)))
		if x1 <= x0 {
			continue
		}
		r := vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}
		c.SetColor(bandColors[i%len(bandColors)])
		c.Fill(r.Path())
		if st.Width(b.label)+vg.Points(4) < x1-x0 {
			c.FillText(st, vg.Point{X: (x0 + x1) / 2, Y: c.Max.Y - vg.Points(3)}, b.label)
		}
	}
}

// gridCols is the number of columns for n panels: one row up to three,
// then two or three columns.
func gridCols(n int) int {
	switch {
	case n <= 3:
		return max(n, 1)
	case n == 4:
		return 2
	}
	return 3
}

// gridHeight is the height of a figure with rows rows of panels each
// rowH high, plus the title and note.
func gridHeight(rows int, rowH vg.Length) vg.Length {
	return vg.Points(44) + vg.Length(rows)*rowH
}

// curveFigure draws one panel per arm: the metric's mean over seeds
// against training tokens with a band from the minimum to the maximum
// over seeds, the arm's own QAT phases shaded, and the baseline's mean as
// a dashed reference line. The panels share their axes.
func curveFigure(db *registry.DB, a *Ablation, metric, title, ylabel string) (*figure, error) {
	type panel struct {
		arm    string
		color  int
		band   armBand
		phases []phaseBand
	}
	var ps []panel
	var base *armBand
	lo, hi, xmax := math.Inf(1), math.Inf(-1), 0.0
	minSeeds, maxSeeds := math.MaxInt, 0
	for i, arm := range a.Arms() {
		b, err := armSeries(db, a, arm, metric)
		if err != nil {
			return nil, err
		}
		if b.seeds == 0 || len(b.x) == 0 {
			continue
		}
		phases, err := phaseBands(db, a, arm)
		if err != nil {
			return nil, err
		}
		for j := range b.x {
			lo, hi = math.Min(lo, b.lo[j]), math.Max(hi, b.hi[j])
			xmax = math.Max(xmax, b.x[j])
		}
		for _, ph := range phases {
			xmax = math.Max(xmax, ph.to)
		}
		minSeeds, maxSeeds = min(minSeeds, b.seeds), max(maxSeeds, b.seeds)
		ps = append(ps, panel{arm: arm, color: i, band: b, phases: phases})
		if arm == a.Table.Baseline {
			base = &ps[len(ps)-1].band
		}
	}
	if len(ps) == 0 {
		return nil, nil
	}
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi)*0.1, 0.1)
	}
	cols := gridCols(len(ps))
	rows := (len(ps) + cols - 1) / cols
	var plots []*plot.Plot
	shaded := false
	for k, pn := range ps {
		name := pn.arm
		if pn.arm == a.Table.Baseline {
			name += " (baseline)"
		}
		xl, yl := "", ""
		if k/cols == rows-1 || k+cols >= len(ps) {
			xl = "training tokens"
		}
		if k%cols == 0 {
			yl = ylabel
		}
		p := newPlot(name, xl, yl)
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.X.Tick.Marker = siTicks{}
		if len(pn.phases) > 0 {
			p.Add(bands(pn.phases))
			shaded = true
		}
		addGrid(p)
		r, g, bl, _ := colorAt(pn.color).RGBA()
		if pn.band.seeds > 1 {
			poly, err := plotter.NewPolygon(pn.band.polygon())
			if err != nil {
				return nil, fmt.Errorf("%s %s band: %w", pn.arm, metric, err)
			}
			poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 90}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		if base != nil && pn.arm != a.Table.Baseline {
			bline, err := plotter.NewLine(base.meanXYs())
			if err != nil {
				return nil, fmt.Errorf("baseline %s: %w", metric, err)
			}
			bline.Color = color.Gray{Y: 40}
			bline.Width = vg.Points(1)
			bline.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(bline)
		}
		xys := pn.band.meanXYs()
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", pn.arm, metric, err)
		}
		l.Color = colorAt(pn.color)
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(xys) <= 30 {
			// Few points (validation passes): mark each one.
			sc, _ := plotter.NewScatter(xys)
			sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(pn.color), Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		p.X.Min, p.X.Max = 0, xmax
		p.Y.Min = lo - 0.05*span
		p.Y.Max = hi + 0.15*span // room for the phase labels
		plots = append(plots, p)
	}
	seeds := fmt.Sprint(maxSeeds)
	if minSeeds != maxSeeds {
		seeds = fmt.Sprintf("%d–%d", minSeeds, maxSeeds)
	}
	note := fmt.Sprintf("Line: mean over %s seed(s); band: minimum to maximum over seeds", seeds)
	if base != nil && len(ps) > 1 {
		note += fmt.Sprintf("; dashed: the baseline (%s) mean", a.Table.Baseline)
	}
	if shaded {
		note += "; shading: each arm's own QAT phases"
	}
	rowH := vg.Points(190)
	if rows > 1 {
		rowH = vg.Points(150)
	}
	return &figure{draw: panelGrid(title, note+".", plots, cols), height: gridHeight(rows, rowH)}, nil
}
