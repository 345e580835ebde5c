package serve

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/reports"
)

func (s *Server) findStudy(name string) (*reports.Study, error) {
	name, err := checkName("study", name)
	if err != nil {
		return nil, err
	}
	studies, err := reports.LoadStudies(s.db)
	if err != nil {
		return nil, err
	}
	for _, st := range studies {
		if st.Name == name {
			return st, nil
		}
	}
	return nil, notFound("no HPO study named %q is recorded (see /studies)", clip(name))
}

// StudySummary is one study in the list.
type StudySummary struct {
	Name      string `json:"name"`
	Direction string `json:"direction"`
	Objective string `json:"objective,omitempty"`
	Trials    int    `json:"n_trials"`
	Complete  int    `json:"complete"`
	Pruned    int    `json:"pruned"`
	Running   int    `json:"running"`
	Failed    int    `json:"failed"`
	Best      Num    `json:"best"`
	// BestTrial is the best complete trial's number (-1 when none).
	BestTrial int    `json:"best_trial"`
	BestHash  string `json:"best_hash,omitempty"`
}

func stateName(st goptuna.TrialState) string {
	switch st {
	case goptuna.TrialStateComplete:
		return "complete"
	case goptuna.TrialStatePruned:
		return "pruned"
	case goptuna.TrialStateRunning:
		return "running"
	case goptuna.TrialStateFail:
		return "failed"
	case goptuna.TrialStateWaiting:
		return "waiting"
	}
	return strings.ToLower(st.String())
}

func summarizeStudy(st *reports.Study) StudySummary {
	sum := StudySummary{Name: st.Name, Direction: "minimize", Objective: st.Objective, Trials: len(st.Trials), Best: nan, BestTrial: -1}
	if st.Direction == goptuna.StudyDirectionMaximize {
		sum.Direction = "maximize"
	}
	for _, t := range st.Trials {
		switch t.State {
		case goptuna.TrialStateComplete:
			sum.Complete++
		case goptuna.TrialStatePruned:
			sum.Pruned++
		case goptuna.TrialStateRunning:
			sum.Running++
		case goptuna.TrialStateFail:
			sum.Failed++
		}
	}
	if b, ok := st.Best(); ok {
		sum.Best, sum.BestTrial, sum.BestHash = Num(b.Value), b.Number, st.RunHashes[b.Number]
	}
	return sum
}

// StudyList is the list of recorded studies.
type StudyList struct {
	Studies []StudySummary `json:"studies"`
}

func (p *StudyList) title() (string, string, string) { return "HPO studies", "studies", "/api/studies" }

func (s *Server) studiesPage(r *http.Request) (string, any, error) {
	p, err := s.studyList()
	return "studies", p, err
}

func (s *Server) studyList() (*StudyList, error) {
	studies, err := reports.LoadStudies(s.db)
	if err != nil {
		return nil, err
	}
	p := &StudyList{Studies: []StudySummary{}}
	for _, st := range studies {
		p.Studies = append(p.Studies, summarizeStudy(st))
	}
	return p, nil
}

// ParamValue is one parameter of a trial, formatted.
type ParamValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TrialRow is one trial with the best complete value up to it.
type TrialRow struct {
	Number    int          `json:"number"`
	State     string       `json:"state"`
	Value     Num          `json:"value"`
	BestSoFar Num          `json:"best_so_far"`
	IsBest    bool         `json:"is_best"`
	Params    []ParamValue `json:"params"`
	// Reports counts the intermediate values; LastReported is the last
	// (the value a pruned trial was stopped at).
	Reports      int       `json:"reports"`
	LastStep     int       `json:"last_step"`
	LastReported Num       `json:"last_reported"`
	Hash         string    `json:"run_hash,omitempty"`
	Start        time.Time `json:"start"`
	Complete     time.Time `json:"complete"`
}

// Bin is one group of trials of a parameter-importance estimate.
type Bin struct {
	Label string `json:"label"`
	N     int    `json:"n"`
	Mean  Num    `json:"mean"`
}

// Importance estimates how much one parameter alone explains the
// objective (see ImportanceMethod).
type Importance struct {
	Param string `json:"param"`
	Kind  string `json:"kind"` // "quantile bins" or "by value"
	N     int    `json:"n"`
	Eta2  Num    `json:"eta2"`
	// Chance is η² expected of a parameter without effect: (k−1)/(n−1).
	Chance Num `json:"eta2_chance"`
	// Spread is the largest minus the smallest bin mean.
	Spread Num   `json:"spread"`
	Bins   []Bin `json:"bins"`
}

// ImportanceMethod states how Importance is computed.
const ImportanceMethod = "For each parameter, the complete trials are grouped by its value (categorical parameters, or numeric ones with few distinct values) or into k quantile bins by rank (tied values share a bin), k = min(4, n/2) for n trials, so a group holds about two trials or more. " +
	"η² is the share of the objective's variance explained by the groups alone: the between-group sum of squares over the total sum of squares (0 = no effect, 1 = the parameter alone determines the objective). " +
	"With k groups of n trials, a parameter with no effect still gets η² ≈ (k−1)/(n−1) on average: that is the chance column; only η² well above it means anything. " +
	"Spread is the largest minus the smallest group mean of the objective. " +
	"This is a main-effects-only, fANOVA-like estimate: it ignores interactions and is noisy with few trials."

// StudyPage is one study.
type StudyPage struct {
	StudySummary
	Params     []string     `json:"params"`
	TrialList  []TrialRow   `json:"trials"`
	Importance []Importance `json:"importance"`
	Method     string       `json:"importance_method"`
	// ImportanceNote says why no importance is given ("" otherwise).
	ImportanceNote string `json:"importance_note,omitempty"`
	Figure         string `json:"figure"`
}

func (p *StudyPage) title() (string, string, string) {
	return "HPO study " + p.Name, "studies", "/api/studies/" + url.PathEscape(p.Name)
}

func (s *Server) studyPage(r *http.Request) (string, any, error) {
	p, err := s.study(r)
	return "study", p, err
}

func (s *Server) study(r *http.Request) (*StudyPage, error) {
	st, err := s.findStudy(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	p := &StudyPage{StudySummary: summarizeStudy(st), TrialList: []TrialRow{}, Importance: []Importance{}, Method: ImportanceMethod,
		Figure: "/fig/studies/" + url.PathEscape(st.Name)}
	names := map[string]bool{}
	for _, t := range st.Trials {
		for k := range t.Params {
			names[k] = true
		}
	}
	p.Params = sortedKeys(names)
	maximize := st.Direction == goptuna.StudyDirectionMaximize
	best := math.NaN()
	for _, t := range st.Trials {
		row := TrialRow{Number: t.Number, State: stateName(t.State), Value: nan, LastReported: nan, Hash: st.RunHashes[t.Number],
			Start: t.DatetimeStart, Complete: t.DatetimeComplete, Reports: len(t.IntermediateValues), LastStep: -1}
		if t.State == goptuna.TrialStateComplete && !math.IsNaN(t.Value) && !math.IsInf(t.Value, 0) {
			row.Value = Num(t.Value)
			if math.IsNaN(best) || (maximize && t.Value > best) || (!maximize && t.Value < best) {
				best = t.Value
			}
		}
		row.BestSoFar = Num(best)
		row.IsBest = t.Number == p.BestTrial
		if step, ok := t.GetLatestStep(); ok {
			row.LastStep, row.LastReported = step, Num(t.IntermediateValues[step])
		}
		for _, k := range p.Params {
			v, ok := t.Params[k]
			if !ok {
				continue
			}
			row.Params = append(row.Params, ParamValue{k, fmtParam(v)})
		}
		p.TrialList = append(p.TrialList, row)
	}
	p.Importance, p.ImportanceNote = importance(st.Trials, p.Params)
	return p, nil
}

func fmtParam(v any) string {
	if f, ok := toFloat(v); ok {
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	return fmt.Sprint(v)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// importance computes each parameter's η² and spread over the complete
// trials with a finite value (ImportanceMethod), most important first.
func importance(trials []goptuna.FrozenTrial, params []string) ([]Importance, string) {
	var done []goptuna.FrozenTrial
	for _, t := range trials {
		if t.State == goptuna.TrialStateComplete && !math.IsNaN(t.Value) && !math.IsInf(t.Value, 0) {
			done = append(done, t)
		}
	}
	if len(done) < 3 {
		return []Importance{}, fmt.Sprintf("parameter importance needs at least 3 complete trials (the study has %d)", len(done))
	}
	out := []Importance{}
	for _, name := range params {
		type obs struct {
			x     float64
			label string
			y     float64
		}
		var xs []obs
		numeric := true
		for _, t := range done {
			v, ok := t.Params[name]
			if !ok {
				continue
			}
			f, isNum := toFloat(v)
			if !isNum || math.IsNaN(f) {
				numeric = false
			}
			xs = append(xs, obs{f, fmtParam(v), t.Value})
		}
		if len(xs) < 3 {
			continue
		}
		distinct := map[string]bool{}
		for _, o := range xs {
			distinct[o.label] = true
		}
		imp := Importance{Param: name, N: len(xs), Eta2: nan, Chance: nan, Spread: nan}
		groups := map[string][]float64{}
		display := map[string]string{} // group key → label, when they differ
		var order []string
		k := max(2, min(4, len(xs)/2))
		if !numeric || len(distinct) <= k {
			imp.Kind = "by value"
			sort.SliceStable(xs, func(i, j int) bool {
				if numeric {
					return xs[i].x < xs[j].x
				}
				return xs[i].label < xs[j].label
			})
			for _, o := range xs {
				if _, ok := groups[o.label]; !ok {
					order = append(order, o.label)
				}
				groups[o.label] = append(groups[o.label], o.y)
			}
		} else {
			imp.Kind = "quantile bins"
			sort.SliceStable(xs, func(i, j int) bool { return xs[i].x < xs[j].x })
			bin := make([]int, len(xs))
			for i := range xs {
				bin[i] = i * k / len(xs)
				if i > 0 && xs[i].x == xs[i-1].x {
					bin[i] = bin[i-1] // ties share a bin
				}
			}
			lo, hi := map[int]float64{}, map[int]float64{}
			var ids []int
			for i, o := range xs {
				b := bin[i]
				if _, ok := lo[b]; !ok {
					lo[b] = o.x
					ids = append(ids, b)
				}
				hi[b] = o.x
			}
			for _, b := range ids {
				key := strconv.Itoa(b)
				display[key] = strconv.FormatFloat(lo[b], 'g', 3, 64)
				if hi[b] != lo[b] {
					display[key] += " – " + strconv.FormatFloat(hi[b], 'g', 3, 64)
				}
				order = append(order, key)
			}
			for i, o := range xs {
				key := strconv.Itoa(bin[i])
				groups[key] = append(groups[key], o.y)
			}
		}
		var all []float64
		for _, o := range xs {
			all = append(all, o.y)
		}
		grand := mean(all)
		var sst, ssb float64
		for _, y := range all {
			sst += (y - grand) * (y - grand)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, g := range order {
			m := mean(groups[g])
			ssb += float64(len(groups[g])) * (m - grand) * (m - grand)
			lo, hi = math.Min(lo, m), math.Max(hi, m)
			label := g
			if d, ok := display[g]; ok {
				label = d
			}
			imp.Bins = append(imp.Bins, Bin{Label: label, N: len(groups[g]), Mean: Num(m)})
		}
		if sst > 0 {
			imp.Eta2 = Num(math.Min(1, ssb/sst))
		}
		imp.Chance = Num(float64(len(order)-1) / float64(len(all)-1))
		imp.Spread = Num(hi - lo)
		out = append(out, imp)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := float64(out[i].Eta2), float64(out[j].Eta2)
		if math.IsNaN(a) {
			a = -1
		}
		if math.IsNaN(b) {
			b = -1
		}
		return a > b
	})
	note := ""
	if len(out) == 0 {
		note = "no parameter was set in at least 3 complete trials"
	}
	return out, note
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
