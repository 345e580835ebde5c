package serve

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

const maxCompare = 8

// DiffRow is one config key whose value differs between the compared
// runs; Values are the JSON encodings in run order ("" = absent).
type DiffRow struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// ComparePage compares the latest attempts of 2 to 8 runs.
type ComparePage struct {
	Runs []RunRow  `json:"runs"`
	Diff []DiffRow `json:"config_diff"`
	// Same counts the config keys equal in every run.
	Same int `json:"same_keys"`
	// Metrics are the series every run recorded (the overlaid figures).
	Metrics     []string  `json:"metrics"`
	Query       string    `json:"-"`
	FigureLinks []FigLink `json:"-"`
	OtherLinks  []FigLink `json:"-"`
}

func (p *ComparePage) title() (string, string, string) {
	return "Compare runs", "runs", "/api/compare?" + p.Query
}

// compareRuns reads ?h= (2 to 8 distinct hashes or prefixes) and returns
// the latest attempt of each.
func (s *Server) compareRuns(r *http.Request) ([]*registry.Run, string, error) {
	var hs []string
	for _, v := range r.URL.Query()["h"] {
		for _, part := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' }) {
			hs = append(hs, part)
		}
	}
	if len(hs) > maxCompare {
		return nil, "", badRequest("compare at most %d runs (got %d)", maxCompare, len(hs))
	}
	var runs []*registry.Run
	var full []string
	for _, h := range hs {
		f, err := s.resolve(h)
		if err != nil {
			return nil, "", err
		}
		if slices.Contains(full, f) {
			continue
		}
		run, err := s.db.LatestRun(f)
		if errors.Is(err, registry.ErrNotFound) {
			return nil, "", notFound("%s is a recorded config, but no run of it was ever started", short(f))
		} else if err != nil {
			return nil, "", err
		}
		full = append(full, f)
		runs = append(runs, run)
	}
	if len(runs) < 2 {
		return nil, "", badRequest("compare needs 2 to %d distinct runs: /compare?h=<hash>&h=<hash> (select them in the runs table)", maxCompare)
	}
	q := url.Values{}
	for _, f := range full {
		q.Add("h", f)
	}
	return runs, q.Encode(), nil
}

func (s *Server) comparePage(r *http.Request) (string, any, error) {
	p, err := s.compare(r)
	return "compare", p, err
}

func (s *Server) compare(r *http.Request) (*ComparePage, error) {
	runs, query, err := s.compareRuns(r)
	if err != nil {
		return nil, err
	}
	p := &ComparePage{Query: query, Diff: []DiffRow{}, Metrics: []string{}}
	flats := make([]map[string]string, len(runs))
	keys := map[string]bool{}
	count := map[string]int{}
	for i, run := range runs {
		p.Runs = append(p.Runs, runRow(run))
		if js, err := s.db.Config(run.Hash); err == nil {
			flats[i], _ = configs.Flatten(js)
		}
		for k := range flats[i] {
			keys[k] = true
		}
		names, err := s.db.MetricNames(run.ID)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			count[n]++
		}
	}
	for _, k := range sortedKeys(keys) {
		vals := make([]string, len(runs))
		same := true
		for i := range runs {
			vals[i] = flats[i][k]
			if vals[i] != vals[0] {
				same = false
			}
		}
		if same {
			p.Same++
			continue
		}
		p.Diff = append(p.Diff, DiffRow{Key: k, Values: vals})
	}
	for _, m := range primaryMetrics {
		if count[m] == len(runs) {
			p.Metrics = append(p.Metrics, m)
		}
	}
	for _, m := range sortedKeys(count) {
		if count[m] == len(runs) && !slices.Contains(p.Metrics, m) && m != "phase" {
			p.Metrics = append(p.Metrics, m)
		}
	}
	for _, m := range p.Metrics {
		l := FigLink{m, "/fig/compare?" + query + "&" + url.Values{"metric": {m}}.Encode()}
		if slices.Contains(primaryMetrics, m) {
			p.FigureLinks = append(p.FigureLinks, l)
		} else {
			p.OtherLinks = append(p.OtherLinks, l)
		}
	}
	return p, nil
}

// compareFigure overlays one metric of the compared runs (?metric=).
func (s *Server) compareFigure(r *http.Request) ([]byte, error) {
	runs, _, err := s.compareRuns(r)
	if err != nil {
		return nil, err
	}
	metric, err := metricParam(r)
	if err != nil {
		return nil, err
	}
	var cs []reports.RunCurve
	found := false
	for _, run := range runs {
		names, err := s.db.MetricNames(run.ID)
		if err != nil {
			return nil, err
		}
		found = found || slices.Contains(names, metric)
		label := short(run.Hash)
		if run.Name != "" {
			label += " " + run.Name
		}
		if len(label) > 40 {
			label = strings.ToValidUTF8(label[:40], "") + "…"
		}
		cs = append(cs, reports.RunCurve{Run: run, Label: label})
	}
	if !found {
		return nil, notFound("none of the compared runs recorded a %q series", metric)
	}
	return reports.RunCurvesSVG(s.db, cs, metric)
}

// metricParam reads ?metric= (a series name, default loss).
func metricParam(r *http.Request) (string, error) {
	m := r.URL.Query().Get("metric")
	if m == "" {
		return "loss", nil
	}
	if len(m) > 100 {
		return "", badRequest("metric: at most 100 characters")
	}
	for _, c := range m {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-./,:", c)) {
			return "", badRequest("metric=%q: want a series name such as loss or val_bpb", clip(m))
		}
	}
	return m, nil
}
