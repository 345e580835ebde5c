// Package serve is the harness's read-only web view of a registry: the runs
// table, a run (config, status, curves with QAT phases, evaluation results,
// artifacts, provenance), a comparison of runs, ablations, HPO studies and
// bench runs, each page with a JSON twin under /api/. Figures are the
// paper's gonum/plot renderings served as SVG (reports.*SVG), so the web
// view and the paper never disagree. Every asset is embedded: nothing is
// loaded from outside the server.
//
// The server only reads: it is given a registry opened with
// registry.OpenReadOnly, answers GET and HEAD only, and serves files only
// through recorded artifact rows whose cleaned, symlink-resolved paths lie
// under the project root.
package serve

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/registry"
)

//go:embed assets
var assetFS embed.FS

// Options configure a Server.
type Options struct {
	// Root is the project root: recorded artifacts are served only from
	// under it, and shipped ablation matrices are matched against it
	// (reports.LoadAblations). Default ".".
	Root string
	// AllowRemote accepts requests whatever their Host header says. By
	// default only loopback host names (127.0.0.0/8, ::1, localhost) are
	// answered, so a page on another site cannot read the registry
	// through DNS rebinding.
	AllowRemote bool
	// Poll is how often a running run's page asks for new points; default
	// 3 s.
	Poll time.Duration
	// Log receives one line per failed request; nil logs nothing.
	Log *log.Logger
}

// Server is the web view; it is an http.Handler.
type Server struct {
	db    *registry.DB
	opts  Options
	pages map[string]*template.Template
	mux   *http.ServeMux
	abl   ablationCache
}

// New returns a server over db, which should be opened with
// registry.OpenReadOnly (the server never writes).
func New(db *registry.DB, o Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("serve: no registry")
	}
	if o.Root == "" {
		o.Root = "."
	}
	if o.Poll <= 0 {
		o.Poll = 3 * time.Second
	}
	s := &Server{db: db, opts: o, mux: http.NewServeMux()}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Endpoints lists the JSON endpoints with what they return (also served
// at /api).
var Endpoints = []struct{ Path, Doc string }{
	{"/api/runs", "runs, newest first; query: kind, status, q (name/preset or hash prefix), where=key=value (repeatable), sort, dir (asc|desc), limit"},
	{"/api/runs/{hash}", "one run (hash or prefix of at least 6 hex digits; attempt=N, default the latest): config, attempts, provenance, metric series, evaluation results with intervals, artifacts, reproduce command"},
	{"/api/runs/{hash}/live", "status, heartbeat and the last point of every metric of one attempt (what a running run's page polls)"},
	{"/api/compare?h=A&h=B", "2 to 8 runs: config differences and the metrics they share"},
	{"/api/ablations", "recorded ablations"},
	{"/api/ablations/{name}", "one ablation: summary table (mean ± 95% CI, Δ vs baseline, paired t-test p), members, per-seed paired differences"},
	{"/api/studies", "recorded HPO studies"},
	{"/api/studies/{name}", "one study: trials with best-so-far, pruned trials, parameter importance"},
	{"/api/bench", "bench runs: the newest GEMM table, FMA peaks and the training-throughput history"},
}

func (s *Server) routes() {
	page := func(pattern string, fn func(*http.Request) (string, any, error)) {
		s.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			name, data, err := fn(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.render(w, r, name, data)
		})
	}
	api := func(pattern string, fn func(*http.Request) (any, error)) {
		s.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			data, err := fn(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, data)
		})
	}
	fig := func(pattern string, fn func(*http.Request) ([]byte, error)) {
		s.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			b, err := fn(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "image/svg+xml")
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(b)
		})
	}

	page("/{$}", s.runsPage)
	page("/runs", s.runsPage)
	page("/runs/{hash}", s.runPage)
	page("/compare", s.comparePage)
	page("/ablations", s.ablationsPage)
	page("/ablations/{name}", s.ablationPage)
	page("/studies", s.studiesPage)
	page("/studies/{name}", s.studyPage)
	page("/bench", s.benchPage)

	api("/api", func(*http.Request) (any, error) { return Endpoints, nil })
	api("/api/runs", func(r *http.Request) (any, error) { return s.runs(r) })
	api("/api/runs/{hash}", func(r *http.Request) (any, error) { return s.run(r) })
	api("/api/runs/{hash}/live", func(r *http.Request) (any, error) { return s.live(r) })
	api("/api/compare", func(r *http.Request) (any, error) { return s.compare(r) })
	api("/api/ablations", func(r *http.Request) (any, error) { return s.ablationList() })
	api("/api/ablations/{name}", func(r *http.Request) (any, error) { return s.ablation(r) })
	api("/api/studies", func(r *http.Request) (any, error) { return s.studyList() })
	api("/api/studies/{name}", func(r *http.Request) (any, error) { return s.study(r) })
	api("/api/bench", func(r *http.Request) (any, error) { return s.bench() })

	fig("/fig/runs/{hash}", s.runFigure)
	fig("/fig/compare", s.compareFigure)
	fig("/fig/ablations/{name}/{kind}", s.ablationFigure)
	fig("/fig/studies/{name}", s.studyFigure)
	fig("/fig/bench", s.benchFigure)

	s.mux.HandleFunc("GET /artifacts/{hash}", s.artifact)

	static, _ := fs.Sub(assetFS, "assets/static")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", noDirs(files)))
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/assets/favicon.svg", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, notFound("no page at %s", r.URL.Path))
	})
}

// noDirs refuses directory listings of the embedded assets.
func noDirs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP applies the method, host and header policy, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if s.opts.Log != nil {
				s.opts.Log.Printf("serve: panic on %s: %v\n%s", r.URL.Path, v, debug.Stack())
			}
			s.fail(w, r, fmt.Errorf("internal error while serving %s", r.URL.Path))
		}
	}()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		s.fail(w, r, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: the web view is read-only (GET and HEAD only)", r.Method)})
		return
	}
	if !s.opts.AllowRemote && !loopbackHost(r.Host) {
		s.fail(w, r, &httpError{http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not a loopback name; this server answers 127.0.0.1, [::1] and localhost only (start it with --allow-remote to change that)", r.Host)})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddr checks a listen address: a loopback host unless allowRemote
// (an empty host, as in ":8080", listens on every interface).
func CheckAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("serve: address %q: want host:port, e.g. 127.0.0.1:8080: %v", addr, err)
	}
	if port == "" {
		return fmt.Errorf("serve: address %q has no port", addr)
	}
	if allowRemote {
		return nil
	}
	if host == "" || !loopbackHost(host) {
		return fmt.Errorf("serve: address %q is not a loopback address; the registry would be readable from other machines (pass --allow-remote to do that on purpose)", addr)
	}
	return nil
}

// httpError is an error with its HTTP status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// fail answers an error: JSON {"error": ...} under /api/, an HTML page
// elsewhere (plain text for figures and files).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	} else if errors.Is(err, registry.ErrNotFound) {
		code = http.StatusNotFound
	}
	if s.opts.Log != nil {
		s.opts.Log.Printf("serve: %s %s: %d %v", r.Method, r.URL.Path, code, err)
	}
	msg := err.Error()
	p := r.URL.Path
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		writeJSON(w, code, map[string]any{"error": msg, "status": code})
	case strings.HasPrefix(p, "/fig/"), strings.HasPrefix(p, "/artifacts/"), strings.HasPrefix(p, "/assets/"):
		w.Header().Del("Content-Disposition")
		http.Error(w, msg, code)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		data := errorData{Code: code, Status: http.StatusText(code), Message: msg}
		if t := s.pages["error"]; t != nil {
			_ = t.ExecuteTemplate(w, "layout", pageData{Title: fmt.Sprintf("%d %s", code, data.Status), Nav: "", Body: data})
		}
	}
}

type errorData struct {
	Code            int
	Status, Message string
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"error": "encode response: " + err.Error(), "status": code})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// pageData is what the layout template receives.
type pageData struct {
	Title, Nav string
	// API is the JSON twin of the page.
	API  string
	Body any
}

// titled lets a page's data name its title, nav tab and JSON twin.
type titled interface {
	title() (title, nav, api string)
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	t := s.pages[name]
	if t == nil {
		s.fail(w, r, fmt.Errorf("no template %q", name))
		return
	}
	pd := pageData{Body: data}
	if tt, ok := data.(titled); ok {
		pd.Title, pd.Nav, pd.API = tt.title()
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", pd); err != nil {
		s.fail(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	base, err := template.New("base").Funcs(funcs).ParseFS(assetFS, "assets/templates/layout.html")
	if err != nil {
		return fmt.Errorf("serve: templates: %w", err)
	}
	names, err := fs.Glob(assetFS, "assets/templates/*.html")
	if err != nil {
		return fmt.Errorf("serve: templates: %w", err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		c, err := base.Clone()
		if err != nil {
			return fmt.Errorf("serve: template %s: %w", name, err)
		}
		t, err := c.ParseFS(assetFS, n)
		if err != nil {
			return fmt.Errorf("serve: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}
