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

// armMean averages a metric over an arm's done seeds at the steps every
// seed logged, and returns it with x in training tokens.
func armMean(db *registry.DB, a *Ablation, arm, metric string) (plotter.XYs, error) {
	var runs []series
	tps := 0.0
	for _, m := range a.Members {
		run := a.TrainRuns[m.Hash]
		if m.Arm != arm || run == nil {
			continue
		}
		s, err := loadSeries(db, run, metric)
		if err != nil {
			return nil, err
		}
		if len(s.steps) == 0 {
			continue
		}
		runs = append(runs, s)
		tps = tokensPerStep(m.Config)
	}
	if len(runs) == 0 {
		return nil, nil
	}
	count := map[int64]int{}
	sum := map[int64]float64{}
	for _, s := range runs {
		for i, st := range s.steps {
			count[st]++
			sum[st] += s.values[i]
		}
	}
	var steps []int64
	for st, n := range count {
		if n == len(runs) {
			steps = append(steps, st)
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	xys := make(plotter.XYs, len(steps))
	for i, st := range steps {
		// Summation in seed order per step: sum[st] was accumulated in
		// member order, which is fixed by the registry.
		xys[i] = plotter.XY{X: float64(st) * tps, Y: sum[st] / float64(len(runs))}
	}
	return xys, nil
}

// phaseBand is one QAT phase over a token range.
type phaseBand struct {
	from, to float64
	label    string
}

// phaseBands derives the QAT phases of the baseline arm's first done run
// from its "phase" metric.
func phaseBands(db *registry.DB, a *Ablation) ([]phaseBand, string, error) {
	for _, m := range a.Members {
		run := a.TrainRuns[m.Hash]
		if m.Arm != a.Table.Baseline || run == nil || m.Config == nil {
			continue
		}
		s, err := loadSeries(db, run, "phase")
		if err != nil {
			return nil, "", err
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
		return bands, m.Arm, nil
	}
	return nil, "", nil
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

// curveFigure plots one metric per arm against training tokens, with the
// baseline's QAT phases shaded.
func curveFigure(db *registry.DB, a *Ablation, metric, title, ylabel string) (*figure, error) {
	p := newPlot(title, "training tokens", ylabel)
	p.X.Tick.Marker = siTicks{}
	bs, baseArm, err := phaseBands(db, a)
	if err != nil {
		return nil, err
	}
	lg := newLegend()
	lo, hi := math.Inf(1), math.Inf(-1)
	var lines []plot.Plotter
	for i, arm := range a.Arms() {
		xys, err := armMean(db, a, arm, metric)
		if err != nil {
			return nil, err
		}
		if len(xys) == 0 {
			continue
		}
		for _, xy := range xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", arm, metric, err)
		}
		l.Color = colorAt(i)
		l.Width = vg.Points(1.5)
		if len(xys) <= 30 {
			// Few points (validation passes): mark each one.
			sc, _ := plotter.NewScatter(xys)
			sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(i), Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			lines = append(lines, sc)
		}
		lines = append(lines, l)
		lg.Add(arm, l)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	if len(bs) > 0 {
		p.Add(bands(bs))
		p.X.Min = 0
		lg.Add("")
		lg.Add(fmt.Sprintf("shaded: QAT phases (%s)", baseArm))
	}
	addGrid(p)
	p.Add(lines...)
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi)*0.1, 0.1)
	}
	p.Y.Min = lo - 0.05*span
	p.Y.Max = hi + 0.15*span // room for the phase labels
	return &figure{p: p, legend: lg}, nil
}

// armValues is the (mean, ci) of one metric per arm, in arm order.
func armValues(a *Ablation, metric string) (arms []string, mean, ci []float64, hashes []string) {
	for _, r := range a.Table.Rows {
		if r.Metric != metric {
			continue
		}
		arms = append(arms, r.Arm)
		mean = append(mean, r.Est.Mean)
		c := r.Est.CI95
		if math.IsNaN(c) {
			c = 0
		}
		ci = append(ci, c)
		hashes = append(hashes, r.Hashes...)
	}
	return
}

// mainTaskMetric picks the task metric shown next to val_bpb: the first
// task of the matrix other than the bits-per-byte task, with its accuracy
// (acc_norm, then acc) or else its first metric; the bits-per-byte task
// when it is the only one.
func mainTaskMetric(a *Ablation) string {
	have := map[string]bool{}
	var all []string
	for _, r := range a.Table.Rows {
		if !have[r.Metric] {
			have[r.Metric] = true
			all = append(all, r.Metric)
		}
	}
	var tasks []string
	for _, t := range a.Matrix.Tasks {
		if t != "tinystories_bpb" {
			tasks = append(tasks, t)
		}
	}
	tasks = append(tasks, "tinystories_bpb")
	for _, t := range tasks {
		for _, m := range []string{"acc_norm", "acc", "bits_per_byte"} {
			if have[t+"/"+m] {
				return t + "/" + m
			}
		}
		for _, m := range all {
			if len(m) > len(t) && m[:len(t)+1] == t+"/" {
				return m
			}
		}
	}
	return ""
}

// barPanel draws one metric's arm means with 95% CI error bars. The y
// axis is zoomed to the values (said in the label) so differences show.
func barPanel(a *Ablation, metric, ylabel string) (*plot.Plot, error) {
	arms, mean, ci, _ := armValues(a, metric)
	p := newPlot(metric, "", ylabel)
	if len(arms) == 0 {
		return nil, nil
	}
	addGrid(p)
	for i := range mean {
		// One chart per arm, coloured like the arm's curves.
		bc, err := plotter.NewBarChart(plotter.Values{mean[i]}, vg.Points(22))
		if err != nil {
			return nil, fmt.Errorf("bars of %s: %w", metric, err)
		}
		bc.XMin = float64(i)
		bc.Color = colorAt(i)
		bc.LineStyle.Width = 0
		p.Add(bc)
	}
	xys := make(plotter.XYs, len(mean))
	errs := make(plotter.YErrors, len(mean))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range mean {
		xys[i] = plotter.XY{X: float64(i), Y: mean[i]}
		errs[i] = struct{ Low, High float64 }{ci[i], ci[i]}
		lo, hi = math.Min(lo, mean[i]-ci[i]), math.Max(hi, mean[i]+ci[i])
	}
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{xys, errs})
	if err != nil {
		return nil, fmt.Errorf("error bars of %s: %w", metric, err)
	}
	eb.LineStyle.Width = vg.Points(1.2)
	eb.CapWidth = vg.Points(8)
	p.Add(eb)
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi)*0.05, 0.01)
	}
	if lo-0.3*span > 0 {
		p.Y.Min = lo - 0.3*span
		p.Y.Label.Text = ylabel + " (axis zoomed)"
	} else {
		p.Y.Min = math.Min(0, lo)
	}
	p.Y.Max = hi + 0.15*span
	p.NominalX(arms...)
	p.X.Min, p.X.Max = -0.6, float64(len(arms))-0.4
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p, nil
}

// barFigure shows val_bpb and the main task metric side by side.
func barFigure(a *Ablation) (*figure, []string, error) {
	left, err := barPanel(a, "val_bpb", "validation bits per byte")
	if err != nil || left == nil {
		return nil, nil, err
	}
	task := mainTaskMetric(a)
	var right *plot.Plot
	if task != "" {
		if right, err = barPanel(a, task, taskUnit(task)); err != nil {
			return nil, nil, err
		}
	}
	_, _, _, hs := armValues(a, "val_bpb")
	if task != "" {
		_, _, _, th := armValues(a, task)
		hs = append(hs, th...)
		for _, h := range th {
			if r := a.EvalRuns[h]; r != nil {
				hs = append(hs, r.Hash)
			}
		}
	}
	title := fmt.Sprintf("Ablation %s: mean over %d seed(s), error bars 95%% CI", a.Matrix.Name, len(a.Matrix.Seeds))
	f := &figure{draw: func(c draw.Canvas) {
		st := draw.TextStyle{Color: color.Black, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
		st.Font = font.From(plot.DefaultFont, vg.Points(11))
		c.FillText(st, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(4)}, title)
		body := c
		body.Max.Y -= vg.Points(22)
		if right == nil {
			left.Draw(body)
			return
		}
		l, r := body, body
		l.Max.X = (c.Min.X + c.Max.X) / 2
		r.Min.X = l.Max.X + vg.Points(6)
		left.Draw(l)
		right.Draw(r)
	}}
	return f, hs, nil
}

func taskUnit(metric string) string {
	switch {
	case hasSuffix(metric, "/acc"), hasSuffix(metric, "/acc_norm"):
		return "accuracy (fraction)"
	case hasSuffix(metric, "bits_per_byte"):
		return "bits per byte"
	case hasSuffix(metric, "perplexity"):
		return "perplexity"
	}
	return "value"
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }
