package serve

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

// get requests path from s and returns the status and body.
func get(t *testing.T, s http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func getJSON(t *testing.T, s http.Handler, path string, v any) {
	t.Helper()
	code, body, hd := get(t, s, "GET", path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if ct := hd.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: content type %q", path, ct)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestPagesAndAPI(t *testing.T) {
	f := newFixture(t)
	s := f.server(t)

	// Every page answers 200 with HTML naming what it shows.
	pages := map[string][]string{
		"/":                       {f.running[:12], f.failed[:12], "micro-live", "compare"},
		"/runs?kind=eval":         {f.evals[0][:12]},
		"/runs/" + f.arms[0][:8]:  {f.arms[0], "harness reproduce " + f.arms[0], "QAT phases", "arc_easy", "val_bpb", "avx2"},
		"/runs/" + f.running[:12]: {`id="live"`, "running"},
		"/compare?h=" + f.arms[0][:8] + "&h=" + f.arms[3][:8]: {"quant.subln", "train.seed"},
		"/ablations":         {"subln", "SubLN on vs off"},
		"/ablations/subln":   {"(baseline)", "no-subln", "Paired differences"},
		"/studies":           {"lr-search"},
		"/studies/lr-search": {"η²", "pruned", "best so far"},
		"/bench":             {"512×512×1536", "7.19×", "4311"},
	}
	for p, want := range pages {
		code, body, hd := get(t, s, "GET", p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, body)
			continue
		}
		if ct := hd.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: content type %q", p, ct)
		}
		if csp := hd.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in the page", p, w)
			}
		}
	}

	// Runs: filters, where, sort.
	var rp RunsPage
	getJSON(t, s, "/api/runs?where=quant.subln=false&kind=ablation-arm", &rp)
	if rp.Matched != 2 {
		t.Errorf("where quant.subln=false: %d runs, want 2", rp.Matched)
	}
	for _, r := range rp.Runs {
		if r.Hash != f.arms[2] && r.Hash != f.arms[3] {
			t.Errorf("where quant.subln=false matched %s", r.Hash)
		}
	}
	getJSON(t, s, "/api/runs?q=micro-live", &rp)
	if len(rp.Runs) != 1 || rp.Runs[0].Hash != f.running {
		t.Errorf("q=micro-live: %+v", rp.Runs)
	}
	getJSON(t, s, "/api/runs?status=failed", &rp)
	if len(rp.Runs) != 1 || rp.Runs[0].Hash != f.failed || rp.Runs[0].Error == "" {
		t.Errorf("status=failed: %+v", rp.Runs)
	}
	getJSON(t, s, "/api/runs?kind=hpo-trial&sort=val_bpb&dir=asc", &rp)
	for i := 1; i < len(rp.Runs); i++ {
		if rp.Runs[i-1].ValBPB > rp.Runs[i].ValBPB {
			t.Errorf("sort val_bpb asc: %v before %v", rp.Runs[i-1].ValBPB, rp.Runs[i].ValBPB)
		}
	}
	getJSON(t, s, "/api/runs?limit=3", &rp)
	if len(rp.Runs) != 3 || rp.Matched <= 3 {
		t.Errorf("limit=3: %d of %d", len(rp.Runs), rp.Matched)
	}

	// A run: metrics, evaluation intervals, artifacts, provenance.
	var run RunPage
	getJSON(t, s, "/api/runs/"+f.arms[0][:10], &run)
	if run.Hash != f.arms[0] || len(run.Metrics["loss"]) != 40 || run.Reproduce != "harness reproduce "+f.arms[0] {
		t.Errorf("run: hash %s, %d loss points, %q", run.Hash, len(run.Metrics["loss"]), run.Reproduce)
	}
	if len(run.Evals) != 1 || len(run.Evals[0].Rows) != 2 {
		t.Fatalf("run evals: %+v", run.Evals)
	}
	e := run.Evals[0].Rows[0]
	if e.Task != "arc_easy" || e.Metric != "acc" || math.Abs(float64(e.Lo)-(0.305-1.96*0.02)) > 1e-12 || math.Abs(float64(e.Hi)-(0.305+1.96*0.02)) > 1e-12 {
		t.Errorf("eval row %+v", e)
	}
	var art RunPage
	getJSON(t, s, "/api/runs/"+f.art, &art)
	states := map[string]string{}
	for _, a := range art.Artifacts {
		states[a.Path] = a.State
	}
	if len(art.Artifacts) != 5 || states["runs/"+f.art+"/ckpt-000000040.safetensors"] != "present" ||
		!strings.Contains(states["../secret.txt"], "outside") || !strings.Contains(states["runs/"+f.art+"/link.bin"], "links outside") ||
		!strings.Contains(states["runs/"+f.art+"/gone.bin"], "missing") {
		t.Errorf("artifact states %v", states)
	}
	var live Live
	getJSON(t, s, "/api/runs/"+f.running+"/live", &live)
	if live.Status != registry.StatusRunning || len(live.Last) == 0 {
		t.Errorf("live %+v", live)
	}

	// Compare: the config diff names the arm's key.
	var cmp ComparePage
	getJSON(t, s, "/api/compare?h="+f.arms[0]+"&h="+f.arms[3], &cmp)
	keys := map[string]bool{}
	for _, d := range cmp.Diff {
		keys[d.Key] = true
	}
	if !keys["quant.subln"] || !keys["train.seed"] || len(cmp.Diff) != 2 || cmp.Same == 0 {
		t.Errorf("compare diff %+v (same %d)", cmp.Diff, cmp.Same)
	}

	// Ablation: the same table as the paper's.
	var ab AblationPage
	getJSON(t, s, "/api/ablations/subln", &ab)
	ro, err := registry.OpenReadOnly(f.path)
	must(t, err)
	defer ro.Close()
	as, err := reports.LoadAblations(ro, "")
	must(t, err)
	if len(as) != 1 || ab.Markdown != as[0].Table.Markdown() || len(ab.Rows) != len(as[0].Table.Rows) {
		t.Fatalf("ablation table differs from the paper's")
	}
	for i, r := range as[0].Table.Rows {
		if ab.Rows[i].Metric != r.Metric || ab.Rows[i].Arm != r.Arm || float64(ab.Rows[i].Mean) != r.Est.Mean || !strings.Contains(ab.Markdown, ab.Rows[i].MeanText) {
			t.Errorf("row %d: %+v vs %+v", i, ab.Rows[i], r)
		}
	}
	if len(ab.Members) != 4 || ab.Done != 4 {
		t.Errorf("members %d done %d", len(ab.Members), ab.Done)
	}
	// Paired differences: 2 seeds × (val_bpb, val_loss, 2 arc_easy and 1
	// bpb task metric, train_loss) for no-subln; each diff = value − base.
	if len(ab.Paired) == 0 {
		t.Fatal("no paired differences")
	}
	for _, p := range ab.Paired {
		if p.Arm != "no-subln" || math.Abs(float64(p.Diff)-(float64(p.Value)-float64(p.Base))) > 1e-12 {
			t.Errorf("paired %+v", p)
		}
	}

	// Study: best, pruned, importance.
	var sp StudyPage
	getJSON(t, s, "/api/studies/lr-search", &sp)
	if sp.Trials != 8 || sp.Pruned != 2 || sp.Complete != 6 || sp.BestTrial < 0 {
		t.Errorf("study summary %+v", sp.StudySummary)
	}
	best := math.Inf(1)
	for _, tr := range sp.TrialList {
		if tr.State == "complete" {
			best = math.Min(best, float64(tr.Value))
		}
		if tr.State == "complete" && float64(tr.BestSoFar) != best {
			t.Errorf("trial %d best so far %v, want %v", tr.Number, tr.BestSoFar, best)
		}
	}
	if float64(sp.Best) != best {
		t.Errorf("best %v, want %v", sp.Best, best)
	}
	if len(sp.Importance) != 2 {
		t.Fatalf("importance %+v (%s)", sp.Importance, sp.ImportanceNote)
	}
	for _, im := range sp.Importance {
		n := 0
		for _, b := range im.Bins {
			n += b.N
		}
		if n != 6 || !(im.Eta2 >= 0 && im.Eta2 <= 1) {
			t.Errorf("importance %+v", im)
		}
	}

	// Bench.
	var bp BenchPage
	getJSON(t, s, "/api/bench", &bp)
	if bp.Latest == nil || len(bp.Gemm) != 2 || math.Abs(float64(bp.Gemm[0].Refs[0].Ratio)-57.5/8) > 1e-12 || len(bp.Train) != 1 || len(bp.Peak) != 2 {
		t.Errorf("bench %+v", bp)
	}

	// Figures are SVG.
	for _, p := range []string{"/fig/runs/" + f.arms[0] + "?metric=val_bpb", "/fig/runs/" + f.running + "?metric=loss",
		"/fig/compare?h=" + f.arms[0] + "&h=" + f.arms[2] + "&metric=loss", "/fig/ablations/subln/loss", "/fig/ablations/subln/valbpb",
		"/fig/ablations/subln/bars", "/fig/studies/lr-search", "/fig/bench"} {
		code, body, hd := get(t, s, "GET", p)
		if code != http.StatusOK || hd.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") {
			t.Errorf("GET %s: %d %s %.200s", p, code, hd.Get("Content-Type"), body)
		}
	}

	// The recorded artifact under the root downloads.
	code, body, hd := get(t, s, "GET", "/artifacts/"+f.art+"?path="+url.QueryEscape("runs/"+f.art+"/ckpt-000000040.safetensors"))
	if code != http.StatusOK || body != "checkpoint bytes of the fixture\n" || hd.Get("X-Artifact-SHA256") != f.artSHA ||
		!strings.HasPrefix(hd.Get("Content-Disposition"), "attachment") {
		t.Errorf("artifact download: %d %q %v", code, body, hd)
	}
}

// TestBadInput: every bad input is a clear 4xx, never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	s := f.server(t)
	cases := []struct {
		method, path string
		code         int
		msg          string
	}{
		{"GET", "/runs/xyz123", 400, "not hexadecimal"},
		{"GET", "/runs/abcd", 400, "want 6 to 64"},
		{"GET", "/runs/" + strings.Repeat("a", 65), 400, "want 6 to 64"},
		{"GET", "/runs/abcdef0123", 404, "no run or config"},
		{"GET", "/api/runs/abcdef0123", 404, "no run or config"},
		{"GET", "/api/runs/" + f.arms[0] + "?attempt=abc", 400, "attempt"},
		{"GET", "/api/runs/" + f.arms[0] + "?attempt=9", 404, "no attempt 9"},
		{"GET", "/api/runs/" + f.arms[0] + "?attempt=-1", 400, "attempt"},
		{"GET", "/api/runs?kind=bogus", 400, "unknown kind"},
		{"GET", "/api/runs?status=bogus", 400, "unknown status"},
		{"GET", "/api/runs?sort=bogus", 400, "unknown column"},
		{"GET", "/api/runs?dir=up", 400, "asc or desc"},
		{"GET", "/api/runs?limit=0", 400, "limit"},
		{"GET", "/api/runs?limit=1e9", 400, "limit"},
		{"GET", "/api/runs?where=novalue", 400, "key=value"},
		{"GET", "/api/runs?where=no.such.key=1", 400, "matching the other filters has the key"},
		{"GET", "/runs?where==1", 400, "key=value"},
		{"GET", "/api/compare", 400, "2 to 8"},
		{"GET", "/api/compare?h=" + f.arms[0], 400, "2 to 8"},
		{"GET", "/api/compare?h=" + f.arms[0] + "&h=" + f.arms[0][:8], 400, "distinct"},
		{"GET", "/api/compare?h=" + f.arms[0] + "&h=zz", 400, "want 6 to 64"},
		{"GET", "/api/compare?h=a1b2c3&h=a1b2c4&h=a1b2c5&h=a1b2c6&h=a1b2c7&h=a1b2c8&h=a1b2c9&h=a1b2ca&h=a1b2cb", 400, "at most 8"},
		{"GET", "/api/ablations/nope", 404, "no ablation named"},
		{"GET", "/ablations/%00x", 400, "control character"},
		{"GET", "/api/studies/" + strings.Repeat("s", 201), 400, "1 to 200"},
		{"GET", "/api/studies/nope", 404, "no HPO study"},
		{"GET", "/fig/ablations/subln/zzz", 404, "want one of"},
		{"GET", "/fig/ablations/nope/bars", 404, "no ablation"},
		{"GET", "/fig/runs/" + f.arms[0] + "?metric=nope", 404, "no \"nope\" series"},
		{"GET", "/fig/runs/" + f.arms[0] + "?metric=%3Cscript%3E", 400, "series name"},
		{"GET", "/fig/compare?h=" + f.arms[0] + "&h=" + f.arms[1] + "&metric=nope", 404, "none of the compared runs"},
		{"GET", "/artifacts/" + f.art + "?path=..%2Fsecret.txt", 403, "outside the project root"},
		{"GET", "/artifacts/" + f.art + "?path=" + url.QueryEscape(f.root+"/../secret.txt"), 404, "no artifact"},
		{"GET", "/artifacts/" + f.art + "?path=" + url.QueryEscape("runs/"+f.art+"/link.bin"), 403, "links outside"},
		{"GET", "/artifacts/" + f.art + "?path=" + url.QueryEscape("runs/"+f.art+"/gone.bin"), 403, "missing"},
		{"GET", "/artifacts/" + f.art + "?path=registry.db", 404, "no artifact"},
		{"GET", "/artifacts/" + f.art, 400, "recorded path"},
		{"GET", "/assets/", 404, "not found"},
		{"GET", "/assets/templates/layout.html", 404, ""},
		{"GET", "/nothing/here", 404, "no page"},
		{"POST", "/runs", 405, "read-only"},
		{"DELETE", "/api/runs/" + f.arms[0], 405, "read-only"},
		{"PUT", "/api/runs", 405, "read-only"},
	}
	for _, c := range cases {
		code, body, _ := get(t, s, c.method, c.path)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s %s: %d %.300s; want %d with %q", c.method, c.path, code, body, c.code, c.msg)
		}
		if strings.HasPrefix(c.path, "/api/") && c.method == "GET" {
			var e struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.Status != code {
				t.Errorf("%s: error body %q is not {error, status}", c.path, body)
			}
		}
	}
	// The absolute path outside the root, as recorded, is refused.
	var art RunPage
	getJSON(t, s, "/api/runs/"+f.art, &art)
	for _, a := range art.Artifacts {
		if a.Kind == "export" && a.URL != "" {
			t.Errorf("artifact %s outside the root has a URL", a.Path)
		}
		if strings.HasPrefix(a.Path, "/") {
			code, body, _ := get(t, s, "GET", "/artifacts/"+f.art+"?path="+url.QueryEscape(a.Path))
			if code != 403 || !strings.Contains(body, "outside the project root") {
				t.Errorf("absolute artifact %s: %d %s", a.Path, code, body)
			}
		}
	}
	// Requests naming another host are refused (DNS rebinding).
	req := httptest.NewRequest("GET", "http://evil.example:8080/api/runs", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example: %d", rec.Code)
	}
	for _, h := range []string{"localhost:1", "127.0.0.1", "[::1]:8080", "127.1.2.3:80"} {
		if !loopbackHost(h) {
			t.Errorf("loopbackHost(%q) false", h)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "localhost:0": true, "[::1]:80": true, ":8080": false,
		"0.0.0.0:8080": false, "192.168.1.2:80": false, "example.com:80": false, "127.0.0.1": false, "nonsense": false} {
		if err := CheckAddr(addr, false); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want ok %v", addr, err, ok)
		}
	}
	if err := CheckAddr("0.0.0.0:8080", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

// FuzzRequest: no path or query makes the server fail (5xx) or panic.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{"/", "/runs?sort=val_bpb", "/runs/abcdef", "/api/runs?where=a=b", "/fig/runs/abcdef?metric=loss",
		"/ablations/subln", "/studies/%ff", "/compare?h=abcdef&h=123456", "/artifacts/abcdef?path=../x", "/api/runs/abcdef/live?attempt=1"} {
		f.Add(s)
	}
	srv := newFixture(f).server(f)
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse(p)
		if err != nil || !strings.HasPrefix(u.Path, "/") || u.Host != "" || u.Scheme != "" {
			return
		}
		req := httptest.NewRequest("GET", "http://127.0.0.1"+u.RequestURI(), nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body.String())
		}
	})
}
