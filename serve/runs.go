package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/tasks"
)

// Kinds and Statuses a run may have (the registry's lists).
var (
	runKinds    = []string{registry.KindTrain, registry.KindEval, registry.KindHPOTrial, registry.KindAblationArm, registry.KindBench}
	runStatuses = []string{registry.StatusQueued, registry.StatusRunning, registry.StatusDone, registry.StatusFailed, registry.StatusPruned}
)

// RunRow is one attempt of a run in a table.
type RunRow struct {
	ID         int64     `json:"id"`
	Hash       string    `json:"hash"`
	Attempt    int       `json:"attempt"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Name       string    `json:"name"`
	ParentHash string    `json:"parent_hash,omitempty"`
	ValBPB     Num       `json:"val_bpb"`
	ValLoss    Num       `json:"val_loss"`
	Created    time.Time `json:"created"`
	Heartbeat  time.Time `json:"heartbeat"`
	Error      string    `json:"error,omitempty"`
}

func runRow(r *registry.Run) RunRow {
	row := RunRow{ID: r.ID, Hash: r.Hash, Attempt: r.Attempt, Kind: r.Kind, Status: r.Status, Name: r.Name,
		ParentHash: r.ParentHash, ValBPB: nan, ValLoss: nan, Created: r.Created, Heartbeat: r.Heartbeat, Error: r.Error}
	var m map[string]any
	if r.SummaryJSON != "" && json.Unmarshal([]byte(r.SummaryJSON), &m) == nil {
		if v, ok := m["val_bpb"].(float64); ok {
			row.ValBPB = Num(v)
		}
		if v, ok := m["val_loss"].(float64); ok {
			row.ValLoss = Num(v)
		}
	}
	return row
}

// RunsFilter is the runs table's query.
type RunsFilter struct {
	Kind   string   `json:"kind,omitempty"`
	Status string   `json:"status,omitempty"`
	Q      string   `json:"q,omitempty"`
	Where  []string `json:"where,omitempty"`
	Sort   string   `json:"sort"`
	Dir    string   `json:"dir"`
	Limit  int      `json:"limit"`
}

// RunsPage is the runs table.
type RunsPage struct {
	Filter RunsFilter `json:"filter"`
	// Matched counts the runs matching the filter before the limit.
	Matched int      `json:"matched"`
	Runs    []RunRow `json:"runs"`
	// For the HTML form.
	Kinds    []string `json:"-"`
	Statuses []string `json:"-"`
	Columns  []Column `json:"-"`
	WhereStr string   `json:"-"`
}

func (p *RunsPage) title() (string, string, string) {
	return "Runs", "runs", "/api/runs" + p.query("", "")
}

// Column is a sortable column header.
type Column struct {
	Key, Label, URL, Arrow string
}

// sortKeys are the columns the runs table sorts by.
var sortKeys = []string{"id", "hash", "attempt", "kind", "status", "name", "val_bpb", "val_loss", "created", "heartbeat"}

// query renders the filter as a query string, with sort and dir replaced
// when given.
func (p *RunsPage) query(sortKey, dir string) string {
	q := url.Values{}
	f := p.Filter
	for k, v := range map[string]string{"kind": f.Kind, "status": f.Status, "q": f.Q} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, w := range f.Where {
		q.Add("where", w)
	}
	if sortKey == "" {
		sortKey, dir = f.Sort, f.Dir
	}
	if sortKey != "id" || dir != "desc" {
		q.Set("sort", sortKey)
		q.Set("dir", dir)
	}
	if f.Limit != defaultLimit {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

const defaultLimit = 200

func (s *Server) runsPage(r *http.Request) (string, any, error) {
	p, err := s.runs(r)
	return "runs", p, err
}

func (s *Server) runs(r *http.Request) (*RunsPage, error) {
	q := r.URL.Query()
	f := RunsFilter{Kind: q.Get("kind"), Status: q.Get("status"), Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort"), Dir: q.Get("dir")}
	if f.Kind != "" && !slices.Contains(runKinds, f.Kind) {
		return nil, badRequest("kind=%q: unknown kind (valid: %s)", clip(f.Kind), strings.Join(runKinds, ", "))
	}
	if f.Status != "" && !slices.Contains(runStatuses, f.Status) {
		return nil, badRequest("status=%q: unknown status (valid: %s)", clip(f.Status), strings.Join(runStatuses, ", "))
	}
	if len(f.Q) > 200 {
		return nil, badRequest("q: at most 200 characters")
	}
	if f.Sort == "" {
		f.Sort = "id"
	}
	if !slices.Contains(sortKeys, f.Sort) {
		return nil, badRequest("sort=%q: unknown column (valid: %s)", clip(f.Sort), strings.Join(sortKeys, ", "))
	}
	switch f.Dir {
	case "":
		f.Dir = "desc"
		if f.Sort != "id" && f.Sort != "created" && f.Sort != "heartbeat" {
			f.Dir = "asc"
		}
	case "asc", "desc":
	default:
		return nil, badRequest("dir=%q: want asc or desc", clip(f.Dir))
	}
	var err error
	if f.Limit, err = intParam(q, "limit", defaultLimit, 1, 100000); err != nil {
		return nil, err
	}
	// where: key=value pairs, also accepted space-separated in one field.
	var where [][2]string
	for _, w := range q["where"] {
		for _, part := range strings.Fields(w) {
			k, v, ok := strings.Cut(part, "=")
			if !ok || k == "" {
				return nil, badRequest("where=%q: want key=value, e.g. quant.subln=false", clip(part))
			}
			where = append(where, [2]string{k, v})
			f.Where = append(f.Where, part)
		}
	}
	if len(where) > 20 {
		return nil, badRequest("where: at most 20 conditions")
	}
	all, err := s.db.Runs(registry.RunFilter{Kind: f.Kind, Status: f.Status})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	p := &RunsPage{Filter: f, Kinds: runKinds, Statuses: runStatuses, Runs: []RunRow{}, WhereStr: strings.Join(f.Where, " ")}
	flat := map[string]map[string]string{}
	seenKey := map[string]bool{}
	lq := strings.ToLower(f.Q)
	for i := range all {
		run := &all[i]
		if lq != "" && !strings.Contains(strings.ToLower(run.Name), lq) && !strings.HasPrefix(run.Hash, lq) {
			continue
		}
		if len(where) > 0 {
			fc, ok := flat[run.Hash]
			if !ok {
				if js, err := s.db.Config(run.Hash); err == nil {
					fc, _ = configs.Flatten(js)
				}
				flat[run.Hash] = fc
			}
			match := fc != nil
			for _, kv := range where {
				got, present := fc[kv[0]]
				if present {
					seenKey[kv[0]] = true
				}
				if !present || strings.Trim(got, `"`) != kv[1] {
					match = false
				}
			}
			if !match {
				continue
			}
		}
		p.Runs = append(p.Runs, runRow(run))
	}
	if len(where) > 0 && len(flat) > 0 {
		for _, kv := range where {
			if !seenKey[kv[0]] {
				return nil, badRequest("where %s=%s: no config of the runs matching the other filters has the key %q (keys are dotted, e.g. quant.subln, train.lr)", clip(kv[0]), clip(kv[1]), clip(kv[0]))
			}
		}
	}
	sortRuns(p.Runs, f.Sort, f.Dir == "desc")
	p.Matched = len(p.Runs)
	if len(p.Runs) > f.Limit {
		p.Runs = p.Runs[:f.Limit]
	}
	labels := map[string]string{"id": "#", "hash": "hash", "attempt": "attempt", "kind": "kind", "status": "status", "name": "name / preset",
		"val_bpb": "val_bpb", "val_loss": "val_loss", "created": "created", "heartbeat": "heartbeat"}
	for _, k := range sortKeys {
		c := Column{Key: k, Label: labels[k]}
		dir := "asc"
		if k == f.Sort {
			if f.Dir == "asc" {
				dir, c.Arrow = "desc", "▲"
			} else {
				c.Arrow = "▼"
			}
		} else if k == "id" || k == "created" || k == "heartbeat" {
			dir = "desc"
		}
		c.URL = "/runs" + p.query(k, dir)
		p.Columns = append(p.Columns, c)
	}
	return p, nil
}

func sortRuns(rs []RunRow, key string, desc bool) {
	num := func(v Num) float64 {
		if !v.OK() {
			return math.Inf(1) // missing values last in ascending order
		}
		return float64(v)
	}
	less := func(a, b RunRow) int {
		switch key {
		case "hash":
			return strings.Compare(a.Hash, b.Hash)
		case "attempt":
			return a.Attempt - b.Attempt
		case "kind":
			return strings.Compare(a.Kind, b.Kind)
		case "status":
			return strings.Compare(a.Status, b.Status)
		case "name":
			return strings.Compare(a.Name, b.Name)
		case "val_bpb":
			return cmpFloat(num(a.ValBPB), num(b.ValBPB))
		case "val_loss":
			return cmpFloat(num(a.ValLoss), num(b.ValLoss))
		case "created":
			return a.Created.Compare(b.Created)
		case "heartbeat":
			return a.Heartbeat.Compare(b.Heartbeat)
		}
		return 0
	}
	sort.SliceStable(rs, func(i, j int) bool {
		c := less(rs[i], rs[j])
		if c == 0 {
			c = cmpInt64(rs[i].ID, rs[j].ID)
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Provenance is where and with what code an attempt ran.
type Provenance struct {
	CodeVersion string    `json:"code_version"`
	Dirty       bool      `json:"dirty"`
	DiffSHA256  string    `json:"diff_sha256,omitempty"`
	GoVersion   string    `json:"go_version"`
	OS          string    `json:"os"`
	CPU         string    `json:"cpu"`
	Threads     int       `json:"threads"`
	KernelSet   string    `json:"kernel_set"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
}

// Point is one metric value.
type Point struct {
	Step  int64 `json:"step"`
	Value Num   `json:"value"`
}

// EvalRow is one task metric with its normal-approximation 95% interval
// (value ± 1.96 stderr).
type EvalRow struct {
	Task   string `json:"task"`
	Metric string `json:"metric"`
	Value  Num    `json:"value"`
	Stderr Num    `json:"stderr"`
	Lo     Num    `json:"ci95_lo"`
	Hi     Num    `json:"ci95_hi"`
	N      int    `json:"n"`
}

// EvalBlock is the results of one eval run.
type EvalBlock struct {
	Run  RunRow    `json:"run"`
	Rows []EvalRow `json:"rows"`
}

// ArtifactRow is a recorded file of a run; URL is set when the file lies
// under the project root and can be downloaded.
type ArtifactRow struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// State is "present" or why the file is not served.
	State string `json:"state"`
	URL   string `json:"url,omitempty"`
}

// RunPage is one attempt of a run.
type RunPage struct {
	Hash       string          `json:"hash"`
	Run        RunRow          `json:"run"`
	Attempts   []RunRow        `json:"attempts"`
	Config     json.RawMessage `json:"config"`
	Summary    json.RawMessage `json:"summary,omitempty"`
	Provenance Provenance      `json:"provenance"`
	Reproduce  string          `json:"reproduce"`
	// Metrics holds every series by name; Last the last point of each.
	Metrics   map[string][]Point `json:"metrics"`
	Last      []LastPoint        `json:"last"`
	Evals     []EvalBlock        `json:"evals"`
	Artifacts []ArtifactRow      `json:"artifacts"`
	Children  []RunRow           `json:"children,omitempty"`

	// For the HTML page.
	ConfigText  string    `json:"-"`
	SummaryText string    `json:"-"`
	Figures     []string  `json:"-"` // metrics plotted on the page
	Others      []string  `json:"-"` // further metrics, linked
	FigureLinks []FigLink `json:"-"`
	OtherLinks  []FigLink `json:"-"`
	Live        bool      `json:"-"`
	LiveURL     string    `json:"-"`
	LiveVersion string    `json:"-"`
	PollMS      int64     `json:"-"`
	FigQuery    string    `json:"-"` // attempt=N
}

// FigLink is a metric's figure URL.
type FigLink struct{ Metric, URL string }

func (p *RunPage) title() (string, string, string) {
	return "Run " + short(p.Hash), "runs", "/api/runs/" + p.Hash + "?" + p.FigQuery
}

// LastPoint is the newest point of one series.
type LastPoint struct {
	Name  string `json:"name"`
	Step  int64  `json:"step"`
	Value Num    `json:"value"`
}

// attemptOf resolves {hash} and ?attempt= to one recorded attempt.
func (s *Server) attemptOf(r *http.Request) (string, *registry.Run, []registry.Run, error) {
	h, err := s.resolve(r.PathValue("hash"))
	if err != nil {
		return "", nil, nil, err
	}
	all, err := s.db.Runs(registry.RunFilter{})
	if err != nil {
		return "", nil, nil, err
	}
	var attempts []registry.Run
	for _, run := range all {
		if run.Hash == h {
			attempts = append(attempts, run)
		}
	}
	if len(attempts) == 0 {
		return "", nil, nil, notFound("%s is a recorded config, but no run of it was ever started", short(h))
	}
	n, err := intParam(r.URL.Query(), "attempt", 0, 1, math.MaxInt32)
	if err != nil {
		return "", nil, nil, err
	}
	sel := &attempts[0] // newest first
	if n > 0 {
		sel = nil
		for i := range attempts {
			if attempts[i].Attempt == n {
				sel = &attempts[i]
			}
		}
		if sel == nil {
			return "", nil, nil, notFound("run %s has no attempt %d (it has %d)", short(h), n, len(attempts))
		}
	}
	return h, sel, attempts, nil
}

func (s *Server) runPage(r *http.Request) (string, any, error) {
	p, err := s.run(r)
	return "run", p, err
}

// primaryMetrics are plotted on a run's page when recorded, in this order.
var primaryMetrics = []string{"loss", "val_bpb", "val_loss"}

func (s *Server) run(r *http.Request) (*RunPage, error) {
	h, run, attempts, err := s.attemptOf(r)
	if err != nil {
		return nil, err
	}
	p := &RunPage{Hash: h, Run: runRow(run), Metrics: map[string][]Point{}, Last: []LastPoint{}, Evals: []EvalBlock{}, Artifacts: []ArtifactRow{},
		Reproduce: "harness reproduce " + h, Live: run.Status == registry.StatusRunning, PollMS: s.opts.Poll.Milliseconds(),
		FigQuery: fmt.Sprintf("attempt=%d", run.Attempt)}
	for i := range attempts {
		p.Attempts = append(p.Attempts, runRow(&attempts[i]))
	}
	if js, err := s.db.Config(h); err == nil {
		p.Config, p.ConfigText = rawJSON(js), prettyJSON(js)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	if run.SummaryJSON != "" {
		p.Summary, p.SummaryText = rawJSON(run.SummaryJSON), prettyJSON(run.SummaryJSON)
	}
	p.Provenance = Provenance{CodeVersion: run.CodeVersion, Dirty: run.CodeDirty, DiffSHA256: run.CodeDiff, GoVersion: run.GoVersion,
		OS: run.OS, CPU: run.CPU, Threads: run.Threads, KernelSet: run.KernelSet, Started: run.Started, Finished: run.Finished}
	names, err := s.db.MetricNames(run.ID)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		ms, err := s.db.Metrics(run.ID, n)
		if err != nil {
			return nil, err
		}
		pts := make([]Point, len(ms))
		for i, m := range ms {
			pts[i] = Point{m.Step, Num(m.Value)}
		}
		p.Metrics[n] = pts
		if len(pts) > 0 {
			l := pts[len(pts)-1]
			p.Last = append(p.Last, LastPoint{n, l.Step, l.Value})
		}
	}
	for _, m := range primaryMetrics {
		if len(p.Metrics[m]) > 0 {
			p.Figures = append(p.Figures, m)
		}
	}
	for _, n := range names {
		if !slices.Contains(p.Figures, n) {
			p.Others = append(p.Others, n)
		}
	}
	if len(p.Figures) == 0 && len(p.Others) > 0 {
		p.Figures, p.Others = p.Others[:1], p.Others[1:]
	}
	figURL := func(m string) string {
		return "/fig/runs/" + h + "?" + url.Values{"attempt": {fmt.Sprint(run.Attempt)}, "metric": {m}}.Encode()
	}
	for _, m := range p.Figures {
		p.FigureLinks = append(p.FigureLinks, FigLink{m, figURL(m)})
	}
	for _, m := range p.Others {
		p.OtherLinks = append(p.OtherLinks, FigLink{m, figURL(m)})
	}
	p.LiveURL = fmt.Sprintf("/api/runs/%s/live?attempt=%d", h, run.Attempt)
	if p.Live {
		l, err := s.liveOf(h, run)
		if err != nil {
			return nil, err
		}
		p.LiveVersion = l.Version
	}
	// Evaluation: the run's own results, then those of eval runs of it.
	if rows, err := s.evalRows(run); err != nil {
		return nil, err
	} else if len(rows) > 0 {
		p.Evals = append(p.Evals, EvalBlock{Run: p.Run, Rows: rows})
	}
	all, err := s.db.Runs(registry.RunFilter{})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range all {
		c := &all[i]
		if c.ParentHash != h || seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true // newest attempt only
		p.Children = append(p.Children, runRow(c))
		if c.Kind != registry.KindEval {
			continue
		}
		rows, err := s.evalRows(c)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			p.Evals = append(p.Evals, EvalBlock{Run: runRow(c), Rows: rows})
		}
	}
	arts, err := s.db.Artifacts(run.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		row := ArtifactRow{Kind: a.Kind, Path: a.Path, SHA256: a.SHA256, Bytes: a.Bytes, State: "present"}
		if _, err := s.artifactFile(a); err != nil {
			row.State = err.Error()
		} else {
			row.URL = "/artifacts/" + h + "?" + url.Values{"attempt": {fmt.Sprint(run.Attempt)}, "path": {a.Path}}.Encode()
		}
		p.Artifacts = append(p.Artifacts, row)
	}
	return p, nil
}

// evalRows are a run's task results: the registry's rows, or, for older
// eval runs without rows, those of its lm-eval summary.
func (s *Server) evalRows(run *registry.Run) ([]EvalRow, error) {
	trs, err := s.db.TaskResults(run.ID)
	if err != nil {
		return nil, err
	}
	if len(trs) == 0 && run.Kind == registry.KindEval && run.SummaryJSON != "" {
		var res tasks.Results
		if json.Unmarshal([]byte(run.SummaryJSON), &res) == nil && len(res.Results) > 0 {
			trs = experiment.Rows(&res)
		}
	}
	rows := make([]EvalRow, 0, len(trs))
	for _, t := range trs {
		row := EvalRow{Task: t.Task, Metric: t.Metric, Value: Num(t.Value), Stderr: Num(t.Stderr), Lo: nan, Hi: nan, N: t.N}
		if row.Value.OK() && row.Stderr.OK() {
			row.Lo, row.Hi = Num(t.Value-1.96*t.Stderr), Num(t.Value+1.96*t.Stderr)
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Task != rows[j].Task {
			return rows[i].Task < rows[j].Task
		}
		return rows[i].Metric < rows[j].Metric
	})
	return rows, nil
}

// Live is what a running run's page polls.
type Live struct {
	Hash         string      `json:"hash"`
	Attempt      int         `json:"attempt"`
	Status       string      `json:"status"`
	Heartbeat    time.Time   `json:"heartbeat"`
	HeartbeatAgo string      `json:"heartbeat_ago"`
	Finished     time.Time   `json:"finished"`
	Error        string      `json:"error,omitempty"`
	Last         []LastPoint `json:"last"`
	// Version changes whenever a series gains a point (the sum of the
	// series' last steps and their count) or the status changes.
	Version string `json:"version"`
}

func (s *Server) live(r *http.Request) (*Live, error) {
	h, run, _, err := s.attemptOf(r)
	if err != nil {
		return nil, err
	}
	return s.liveOf(h, run)
}

func (s *Server) liveOf(h string, run *registry.Run) (*Live, error) {
	l := &Live{Hash: h, Attempt: run.Attempt, Status: run.Status, Heartbeat: run.Heartbeat, HeartbeatAgo: ago(run.Heartbeat),
		Finished: run.Finished, Error: run.Error, Last: []LastPoint{}}
	names, err := s.db.MetricNames(run.ID)
	if err != nil {
		return nil, err
	}
	var sum int64
	for _, n := range names {
		m, err := s.db.LastMetric(run.ID, n)
		if err != nil {
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			return nil, err
		}
		l.Last = append(l.Last, LastPoint{n, m.Step, Num(m.Value)})
		sum += m.Step
	}
	l.Version = fmt.Sprintf("%d-%d-%s", sum, len(l.Last), run.Status)
	return l, nil
}
