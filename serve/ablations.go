package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

// loadAblations is reports.LoadAblations under the project root; when the
// shipped matrices cannot be expanded there (a root without datasets), it
// falls back to the latest record of each name and says so.
func (s *Server) loadAblations() ([]*reports.Ablation, string, error) {
	// Expanding the shipped matrices takes most of a second, so the result
	// is kept while the registry's runs and ablations are unchanged (for
	// at most ablationTTL, which bounds staleness after edits under root).
	key, err := s.stateKey()
	if err != nil {
		return nil, "", err
	}
	s.abl.Lock()
	defer s.abl.Unlock()
	if s.abl.key == key && time.Since(s.abl.at) < ablationTTL {
		return s.abl.list, s.abl.note, nil
	}
	as, note, err := s.loadAblationsNow()
	if err != nil {
		return nil, "", err
	}
	s.abl.key, s.abl.at, s.abl.list, s.abl.note = key, time.Now(), as, note
	return as, note, nil
}

const ablationTTL = time.Minute

// ablationCache holds the last loadAblations result.
type ablationCache struct {
	sync.Mutex
	key  string
	at   time.Time
	list []*reports.Ablation
	note string
}

// stateKey changes whenever a run is added or changes status, summary
// or finish time, or an ablation is recorded.
func (s *Server) stateKey() (string, error) {
	runs, err := s.db.Runs(registry.RunFilter{})
	if err != nil {
		return "", err
	}
	abls, err := s.db.Ablations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, r := range runs {
		fmt.Fprintf(h, "%d %s %s %d %d\n", r.ID, r.Status, r.Finished.Format(time.RFC3339Nano), len(r.SummaryJSON), len(r.Error))
	}
	for _, a := range abls {
		fmt.Fprintf(h, "a %d %s\n", a.ID, a.DefHash)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Server) loadAblationsNow() ([]*reports.Ablation, string, error) {
	as, err := reports.LoadAblations(s.db, s.opts.Root)
	if err == nil {
		return as, "", nil
	}
	as, err2 := reports.LoadAblations(s.db, "")
	if err2 != nil {
		return nil, "", err2
	}
	return as, fmt.Sprintf("the shipped matrices could not be checked under the project root %s (%v); each ablation shows its latest record", s.opts.Root, err), nil
}

func (s *Server) findAblation(name string) (*reports.Ablation, string, error) {
	name, err := checkName("ablation", name)
	if err != nil {
		return nil, "", err
	}
	as, note, err := s.loadAblations()
	if err != nil {
		return nil, "", err
	}
	for _, a := range as {
		if a.Matrix.Name == name {
			return a, note, nil
		}
	}
	return nil, "", notFound("no ablation named %q is recorded (see /ablations)", clip(name))
}

// AblationSummary is one ablation in the list.
type AblationSummary struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Baseline    string   `json:"baseline"`
	Arms        []string `json:"arms"`
	Seeds       []int64  `json:"seeds"`
	NMembers    int      `json:"n_members"`
	Done        int      `json:"done"`
	DefHash     string   `json:"def_hash"`
	Provenance  string   `json:"provenance,omitempty"`
}

func summarize(a *reports.Ablation) AblationSummary {
	return AblationSummary{Name: a.Matrix.Name, Description: a.Matrix.Description, Baseline: a.Table.Baseline, Arms: a.Arms(),
		Seeds: a.Matrix.Seeds, NMembers: len(a.Members), Done: a.Done(), DefHash: a.DefHash, Provenance: a.Provenance}
}

// AblationList is the list of recorded ablations.
type AblationList struct {
	Ablations []AblationSummary `json:"ablations"`
	Note      string            `json:"note,omitempty"`
}

func (p *AblationList) title() (string, string, string) {
	return "Ablations", "ablations", "/api/ablations"
}

func (s *Server) ablationsPage(r *http.Request) (string, any, error) {
	p, err := s.ablationList()
	return "ablations", p, err
}

func (s *Server) ablationList() (*AblationList, error) {
	as, note, err := s.loadAblations()
	if err != nil {
		return nil, err
	}
	p := &AblationList{Ablations: []AblationSummary{}, Note: note}
	for _, a := range as {
		p.Ablations = append(p.Ablations, summarize(a))
	}
	return p, nil
}

// AblationRow is one (metric, arm) line of the summary table: mean ± 95%
// CI over seeds and, for other arms than the baseline, the paired
// difference to it with the paired t-test's p. The texts are formatted as
// in the paper's table.
type AblationRow struct {
	Metric    string   `json:"metric"`
	Arm       string   `json:"arm"`
	N         int      `json:"n"`
	Mean      Num      `json:"mean"`
	CI95      Num      `json:"ci95"`
	Baseline  bool     `json:"baseline"`
	Delta     Num      `json:"delta"`
	DeltaCI95 Num      `json:"delta_ci95"`
	P         Num      `json:"p"`
	Hashes    []string `json:"hashes"`
	MeanText  string   `json:"mean_text"`
	DeltaText string   `json:"delta_text"`
	PText     string   `json:"p_text"`
	// Primary marks the matrix's primary metric; PHolm is the
	// Holm-adjusted p within its family (see the page's footnote).
	Primary    bool   `json:"primary"`
	MetricText string `json:"metric_text"` // the metric, marked "(primary)" for the primary one
	PHolm      Num    `json:"p_holm"`
	PHolmText  string `json:"p_holm_text"`
}

// MemberRow is one (arm, seed) member with the state of its runs.
type MemberRow struct {
	Arm        string `json:"arm"`
	Seed       int64  `json:"seed"`
	Hash       string `json:"hash"`
	Train      string `json:"train_status"`
	EvalHash   string `json:"eval_hash,omitempty"`
	EvalStatus string `json:"eval_status,omitempty"`
	Error      string `json:"error,omitempty"`
}

// PairedRow is one seed's paired difference arm − baseline.
type PairedRow struct {
	Metric   string `json:"metric"`
	Arm      string `json:"arm"`
	Seed     int64  `json:"seed"`
	Value    Num    `json:"value"`
	Base     Num    `json:"baseline_value"`
	Diff     Num    `json:"diff"`
	Hash     string `json:"hash"`
	BaseHash string `json:"baseline_hash"`
}

// AblationPage is one ablation.
type AblationPage struct {
	AblationSummary
	Tasks   []string      `json:"tasks"`
	Limit   int           `json:"limit"`
	Metrics []string      `json:"metrics"`
	Rows    []AblationRow `json:"rows"`
	Members []MemberRow   `json:"members"`
	Paired  []PairedRow   `json:"paired"`
	// Markdown is the paper's table (reports.AblationTable.Markdown).
	Markdown string   `json:"markdown"`
	Figures  []string `json:"figures"`
	Note     string   `json:"note,omitempty"`
	// Footnote names the primary metric and the correction, as the paper's table does.
	Footnote string `json:"footnote"`
}

func (p *AblationPage) title() (string, string, string) {
	return "Ablation " + p.Name, "ablations", "/api/ablations/" + url.PathEscape(p.Name)
}

func (s *Server) ablationPage(r *http.Request) (string, any, error) {
	p, err := s.ablation(r)
	return "ablation", p, err
}

func (s *Server) ablation(r *http.Request) (*AblationPage, error) {
	a, note, err := s.findAblation(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	p := &AblationPage{AblationSummary: summarize(a), Tasks: a.Matrix.Tasks, Limit: a.Matrix.Limit, Metrics: a.Matrix.Metrics,
		Rows: []AblationRow{}, Members: []MemberRow{}, Paired: []PairedRow{}, Markdown: a.Table.Markdown(), Note: note, Footnote: a.Table.Footnote()}
	for _, k := range reports.AblationFigureKinds {
		p.Figures = append(p.Figures, "/fig/ablations/"+url.PathEscape(a.Matrix.Name)+"/"+k)
	}
	for _, row := range a.Table.Rows {
		ar := AblationRow{Metric: row.Metric, Arm: row.Arm, N: row.Est.N, Mean: Num(row.Est.Mean), CI95: Num(row.Est.CI95),
			Baseline: row.Delta == nil, Delta: nan, DeltaCI95: nan, P: nan, Hashes: row.Hashes}
		// The paper's own cell texts, so the two views never disagree.
		c := reports.RowCells(row)
		ar.MetricText, ar.MeanText, ar.DeltaText, ar.PText, ar.PHolmText = c.Metric, c.Mean, c.Delta, c.P, c.PHolm
		ar.Primary, ar.PHolm = row.Primary, Num(row.PHolm)
		if row.Delta != nil {
			ar.Delta, ar.DeltaCI95, ar.P = Num(row.Delta.Delta.Mean), Num(row.Delta.Delta.CI95), Num(row.Delta.P)
		}
		p.Rows = append(p.Rows, ar)
	}
	// Members, with the values each contributes.
	type key struct {
		arm  string
		seed int64
	}
	values := map[key]map[string]float64{}
	hashes := map[key]string{}
	for _, m := range a.Members {
		mr := MemberRow{Arm: m.Arm, Seed: m.Seed, Hash: m.Hash, Train: "not started"}
		if run := a.TrainRuns[m.Hash]; run != nil {
			mr.Train = run.Status
		} else if run, err := s.db.LatestRun(m.Hash); err == nil {
			mr.Train = run.Status
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
		if m.Err != nil {
			mr.Error = m.Err.Error()
		}
		if e := a.EvalRuns[m.Hash]; e != nil {
			mr.EvalHash, mr.EvalStatus = e.Hash, e.Status
		}
		p.Members = append(p.Members, mr)
		if m.Err == nil {
			k := key{m.Arm, m.Seed}
			values[k], hashes[k] = m.Metrics(), m.Hash
		}
	}
	base := a.Table.Baseline
	for _, row := range a.Table.Rows {
		if row.Delta == nil {
			continue
		}
		for _, seed := range a.Matrix.Seeds {
			k, bk := key{row.Arm, seed}, key{base, seed}
			v, ok1 := values[k][row.Metric]
			b, ok2 := values[bk][row.Metric]
			if !ok1 || !ok2 {
				continue
			}
			p.Paired = append(p.Paired, PairedRow{Metric: row.Metric, Arm: row.Arm, Seed: seed, Value: Num(v), Base: Num(b), Diff: Num(v - b),
				Hash: hashes[k], BaseHash: hashes[bk]})
		}
	}
	return p, nil
}
