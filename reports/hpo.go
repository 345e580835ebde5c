package reports

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/c-bata/goptuna"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nanomamba-edge/harness/registry"
)

// Study is one recorded goptuna study with its trials.
type Study struct {
	Name      string
	Direction goptuna.StudyDirection
	// Objective is the study's "objective" user attribute (val_loss or
	// val_bpb), "" when not recorded.
	Objective string
	Trials    []goptuna.FrozenTrial // by trial number
	// RunHashes maps a trial number to its linked run hash.
	RunHashes map[int]string
}

// Best returns the best complete trial (ok false when none completed).
func (s *Study) Best() (goptuna.FrozenTrial, bool) {
	var best goptuna.FrozenTrial
	found := false
	for _, t := range s.Trials {
		if t.State != goptuna.TrialStateComplete || math.IsNaN(t.Value) {
			continue
		}
		if !found || s.better(t.Value, best.Value) {
			best, found = t, true
		}
	}
	return best, found
}

func (s *Study) better(a, b float64) bool {
	if s.Direction == goptuna.StudyDirectionMaximize {
		return a > b
	}
	return a < b
}

// Hashes lists the run hashes linked to the study's trials, sorted.
func (s *Study) Hashes() []string {
	var hs []string
	for _, h := range s.RunHashes {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}

// LoadStudies reads every goptuna study of the registry, sorted by name.
func LoadStudies(db *registry.DB) ([]*Study, error) {
	st := db.StudyStorage()
	sums, err := st.GetAllStudySummaries()
	if err != nil {
		return nil, fmt.Errorf("studies: %w", err)
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].Name < sums[j].Name })
	var out []*Study
	for _, sm := range sums {
		trials, err := st.GetAllTrials(sm.ID)
		if err != nil {
			return nil, fmt.Errorf("study %s: %w", sm.Name, err)
		}
		sort.Slice(trials, func(i, j int) bool { return trials[i].Number < trials[j].Number })
		s := &Study{Name: sm.Name, Direction: sm.Direction, Objective: sm.UserAttrs["objective"], Trials: trials, RunHashes: map[int]string{}}
		for _, t := range trials {
			h, err := db.TrialRunHash(t.ID)
			if errors.Is(err, registry.ErrNotFound) || h == "" {
				continue
			} else if err != nil {
				return nil, err
			}
			s.RunHashes[t.Number] = h
		}
		out = append(out, s)
	}
	return out, nil
}

// prunedValue is the last intermediate value of a pruned trial.
func prunedValue(t goptuna.FrozenTrial) (float64, bool) {
	step, ok := t.GetLatestStep()
	if !ok {
		return 0, false
	}
	v := t.IntermediateValues[step]
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// hpoFigure plots trial values by trial number (complete: dots, pruned:
// crosses at their last reported value) with the best-so-far line.
func hpoFigure(s *Study) (*figure, error) {
	dir := "minimise"
	if s.Direction == goptuna.StudyDirectionMaximize {
		dir = "maximise"
	}
	ylabel := "trial objective value"
	switch s.Objective {
	case "val_loss":
		ylabel = "objective: validation loss (nats/token)"
	case "val_bpb":
		ylabel = "objective: validation bits per byte"
	}
	p := newPlot(fmt.Sprintf("HPO study %s: optimisation history (%s)", s.Name, dir), "trial number", ylabel)
	var done, pruned, best plotter.XYs
	have := false
	cur := 0.0
	for _, t := range s.Trials {
		switch t.State {
		case goptuna.TrialStateComplete:
			if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
				continue
			}
			done = append(done, plotter.XY{X: float64(t.Number), Y: t.Value})
			if !have || s.better(t.Value, cur) {
				cur, have = t.Value, true
			}
			best = append(best, plotter.XY{X: float64(t.Number), Y: cur})
		case goptuna.TrialStatePruned:
			if v, ok := prunedValue(t); ok {
				pruned = append(pruned, plotter.XY{X: float64(t.Number), Y: v})
			}
		}
	}
	if len(done)+len(pruned) == 0 {
		return nil, nil
	}
	addGrid(p)
	lg := newLegend()
	if len(done) > 0 {
		sc, err := plotter.NewScatter(done)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(0), Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		lg.Add("complete trial", sc)
	}
	if len(pruned) > 0 {
		sc, err := plotter.NewScatter(pruned)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: colorAt(1), Radius: vg.Points(3.5), Shape: draw.CrossGlyph{}}
		p.Add(sc)
		lg.Add("pruned (last reported)", sc)
	}
	if len(best) > 0 {
		// A step line: the best value holds until a better trial arrives.
		var steps plotter.XYs
		for i, b := range best {
			if i > 0 {
				steps = append(steps, plotter.XY{X: b.X, Y: best[i-1].Y})
			}
			steps = append(steps, b)
		}
		if n := len(s.Trials); n > 0 {
			last := float64(s.Trials[n-1].Number)
			if last > steps[len(steps)-1].X {
				steps = append(steps, plotter.XY{X: last, Y: steps[len(steps)-1].Y})
			}
		}
		l, err := plotter.NewLine(steps)
		if err != nil {
			return nil, err
		}
		l.Color = colorAt(7)
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
		lg.Add("best so far", l)
	}
	// Pad both axes so markers at the edges are drawn whole.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, xy := range append(append(plotter.XYs{}, done...), pruned...) {
		lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
	}
	span := math.Max(hi-lo, math.Max(math.Abs(hi)*0.05, 1e-3))
	p.Y.Min, p.Y.Max = lo-0.06*span, hi+0.06*span
	p.X.Min, p.X.Max = -0.5, float64(s.Trials[len(s.Trials)-1].Number)+0.5
	p.X.Tick.Marker = intTicks{}
	return &figure{p: p, legend: lg}, nil
}
