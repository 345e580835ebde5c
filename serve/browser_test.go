package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

// chromium finds a Chromium binary: $CHROMIUM, then the usual names.
func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab with the console messages of the
// pages it loaded.
type browser struct {
	ctx  context.Context
	base string
	shot string // screenshot directory

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	t.Helper()
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium binary found (looked for $CHROMIUM, chromium, chromium-browser, google-chrome, headless-shell); install Debian's chromium (apt-get install -y chromium) to run the browser tests")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })

	shot := os.Getenv("SERVE_SCREENSHOTS")
	if shot == "" {
		shot = t.TempDir()
	}
	must(t, os.MkdirAll(shot, 0o755))
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx, base: "http://" + ln.Addr().String(), shot: shot}
	// The first action starts the browser (with no timeout on it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	t.Logf("browser %s, screenshots in %s", bin, shot)
	return b
}

// run runs actions with a timeout.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// text is the text of the first element sel matches.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return value(t, b, chromedp.Text(chromedp.CSS(sel)))
}

// open loads path, waits for the page and its figures, and checks that
// the console stayed clean (allow: substrings of messages expected).
func (b *browser) open(t *testing.T, path string, allow ...string) {
	t.Helper()
	b.clear()
	b.run(t, "open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("footer")))
	b.imagesLoaded(t)
	b.checkConsole(t, path, allow...)
}

// imagesLoaded waits until every image has loaded and checks that each
// decoded (an SVG that failed to render has no natural width).
func (b *browser) imagesLoaded(t *testing.T) {
	t.Helper()
	value(t, b, chromedp.Poll[bool](`Array.from(document.images).every(i => i.complete)`, chromedp.WithPollingTimeout(30*time.Second)))
	bad := value(t, b, chromedp.Evaluate[[]string](`Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)`))
	if len(bad) > 0 {
		t.Errorf("images that did not load: %v", bad)
	}
}

func (b *browser) clear() {
	b.mu.Lock()
	b.messages = nil
	b.mu.Unlock()
}

// checkConsole fails on console errors and warnings, uncaught exceptions
// and browser-log errors (failed loads, CSP violations) since the last
// clear, except those containing an allowed substring.
func (b *browser) checkConsole(t *testing.T, what string, allow ...string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let the last events arrive
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, m := range b.messages {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleWarning && !m.IsException() {
			continue
		}
		for _, a := range allow {
			if strings.Contains(m.Text, a) {
				continue next
			}
		}
		t.Errorf("%s: console %s (%s)", what, m, m.URL)
	}
}

// screenshot writes a PNG of the whole page.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	png := value(t, b, chromedp.FullScreenshot(100))
	p := filepath.Join(b.shot, name+".png")
	must(t, os.WriteFile(p, png, 0o644))
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: no %q in %q", what, w, clipText(got))
		}
	}
}

func clipText(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func count(t *testing.T, b *browser, sel string) int {
	t.Helper()
	return value(t, b, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// TestBrowser loads every page in headless Chromium against a registry
// built by the test, checks the rows and numbers in the DOM and a clean
// console, watches a running run's curve update without a reload, and
// writes a screenshot of each page.
func TestBrowser(t *testing.T) {
	f := newFixture(t)
	ro, err := registry.OpenReadOnly(f.path)
	must(t, err)
	t.Cleanup(func() { ro.Close() })
	s, err := New(ro, Options{Root: f.root, Poll: 250 * time.Millisecond})
	must(t, err)
	b := newBrowser(t, s)

	t.Run("runs", func(t *testing.T) {
		b.open(t, "/runs")
		if n := count(t, b, "#runs tbody tr"); n != 20 {
			t.Errorf("runs table: %d rows, want 20", n)
		}
		rows := b.text(t, "#runs tbody")
		contains(t, "runs table", rows, f.running[:12], f.failed[:12], f.bench[:12], "micro-live", "running", "failed", "ablation-arm", "hpo-trial")
		// The first ablation run's val_bpb as the summary recorded it.
		contains(t, "runs table", rows, fmt.Sprintf("%.4f", lossAt(40, 2, 0.01)/1.8))
		b.screenshot(t, "runs")

		// Sort by val_bpb by clicking the header, then filter by config.
		b.run(t, "sort", chromedp.Click(chromedp.CSS(`#runs thead a[href*="sort=val_bpb"]`)), chromedp.WaitReady(chromedp.CSS(`th .arrow`)))
		if loc := value(t, b, chromedp.Location()); !strings.Contains(loc, "sort=val_bpb") {
			t.Errorf("after sorting: %s", loc)
		}
		vals := value(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#runs tbody tr td:nth-child(8)')).map(td => td.textContent)`))
		prev := ""
		for _, v := range vals {
			if v == "–" {
				break // runs without val_bpb go last
			}
			if prev != "" && v < prev {
				t.Errorf("val_bpb not ascending: %s after %s", v, prev)
			}
			prev = v
		}
		b.open(t, "/runs?where=quant.subln%3Dfalse&kind=ablation-arm")
		if n := count(t, b, "#runs tbody tr"); n != 2 {
			t.Errorf("where quant.subln=false: %d rows, want 2", n)
		}
		contains(t, "filtered runs", b.text(t, "#runs tbody"), f.arms[2][:12], f.arms[3][:12])

		// Select two runs and compare them through the form.
		b.open(t, "/runs?kind=ablation-arm")
		b.run(t, "compare", chromedp.Click(chromedp.CSS(`input[value="`+f.arms[0]+`"]`)), chromedp.Click(chromedp.CSS(`input[value="`+f.arms[3]+`"]`)),
			chromedp.Click(chromedp.CSS(`button[form="cmp"]`)), chromedp.WaitReady(chromedp.CSS("#diff")))
		b.imagesLoaded(t)
		contains(t, "compare", b.text(t, "#diff"), "quant.subln", "train.seed", "true", "false")
		b.checkConsole(t, "compare")
		b.screenshot(t, "compare")
	})

	t.Run("run", func(t *testing.T) {
		b.open(t, "/runs/"+f.arms[0][:8])
		if got := b.text(t, "#hash"); got != f.arms[0] {
			t.Errorf("hash %q", got)
		}
		contains(t, "reproduce", b.text(t, "#reproduce"), "harness reproduce "+f.arms[0])
		contains(t, "status", b.text(t, "#status"), "done")
		if n := count(t, b, "img.fig"); n != 3 {
			t.Errorf("%d figures, want loss, val_bpb, val_loss", n)
		}
		ev := b.text(t, "table.eval")
		// arc_easy acc 0.305 ± 1.96 × 0.02.
		contains(t, "evaluation", ev, "arc_easy", "0.3050", "0.0200", "[0.2658, 0.3442]", "100")
		contains(t, "provenance", b.text(t, "#provenance"), "avx2", "go")
		contains(t, "config", b.text(t, "#config"), `"subln": true`, `"seed": 1`)
		contains(t, "latest values", b.text(t, "#last"), "loss", "40", fmt.Sprintf("%.4f", lossAt(40, 2, 0.01)))
		b.screenshot(t, "run")

		b.open(t, "/runs/"+f.art)
		arts := b.text(t, "#artifacts")
		contains(t, "artifacts", arts, f.artSHA, "download", "outside the project root", "links outside the project root", "missing under the project root")
		if n := count(t, b, "#artifacts a"); n != 1 {
			t.Errorf("%d download links, want 1 (the file under the root)", n)
		}
		b.open(t, "/runs/"+f.failed)
		contains(t, "failed run", b.text(t, "#status-table"), "failed", "loss became NaN at step 6")
	})

	t.Run("live", func(t *testing.T) {
		b.open(t, "/runs/"+f.running)
		contains(t, "running run", b.text(t, "#status"), "running")
		src0 := value(t, b, chromedp.Evaluate[string](`document.querySelector('img.live-fig').src`))
		if got := b.text(t, `#last tr[data-metric="loss"] .step`); got != "15" {
			t.Errorf("loss step before: %q", got)
		}
		b.screenshot(t, "run-live-before")
		// The run logs ten more steps: the page picks them up by itself.
		c := loadConfig(t, "train.seed=7", "qat.phases=[{weights: float, start: 0, ramp: 0}, {weights: int4, start: 0.3, ramp: 0.05}, {weights: ternary, start: 0.6, ramp: 0.1}]")
		must(t, f.rw.LogMetrics(f.runningID, points(c, 16, 25, 40, 0)))
		value(t, b, chromedp.Poll[bool](`document.querySelector('#last tr[data-metric="loss"] .step').textContent === "25"`,
			chromedp.WithPollingTimeout(20*time.Second)))
		value(t, b, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('img.live-fig').src !== %q`, src0), chromedp.WithPollingTimeout(20*time.Second)))
		b.imagesLoaded(t)
		src1 := value(t, b, chromedp.Evaluate[string](`document.querySelector('img.live-fig').src`))
		if !strings.Contains(src1, "&v=") {
			t.Errorf("figure src after update: %s", src1)
		}
		contains(t, "live values", b.text(t, "#last"), fmt.Sprintf("%.4f", lossAt(25, phaseAt(c, 25, 40), 0)))
		// Same document: no navigation happened.
		if nav := value(t, b, chromedp.Evaluate[int](`performance.getEntriesByType('navigation').length`)); nav != 1 {
			t.Errorf("%d navigations", nav)
		}
		b.screenshot(t, "run-live-after")
		// The run finishes: the status changes and polling stops.
		must(t, f.rw.FinishRun(f.runningID, registry.StatusDone, ""))
		value(t, b, chromedp.Poll[bool](`document.getElementById('status').textContent === "done" && document.getElementById('live').dataset.state === "stopped"`,
			chromedp.WithPollingTimeout(20*time.Second)))
		b.checkConsole(t, "live")
	})

	t.Run("ablation", func(t *testing.T) {
		b.open(t, "/ablations")
		contains(t, "ablations", b.text(t, "#ablations"), "subln", "SubLN on vs off", "4 / 4")
		b.screenshot(t, "ablations")
		b.open(t, "/ablations/subln")
		if n := count(t, b, "img.fig"); n != 3 {
			t.Errorf("%d figures, want 3", n)
		}
		contains(t, "ablation info", b.text(t, "#ablation-info"), "4 of 4", "subln, no-subln")
		as, err := reports.LoadAblations(ro, "")
		must(t, err)
		table := b.text(t, "#ablation-table")
		for _, r := range as[0].Table.Rows {
			// The paper's cells: mean ± CI and the paired Δ.
			want := fmt.Sprintf("%.4f", r.Est.Mean)
			if r.Delta != nil {
				want = fmt.Sprintf("%+.4f", r.Delta.Delta.Mean)
			}
			contains(t, "ablation table", table, r.Metric, want)
		}
		contains(t, "ablation table", table, "(baseline)", "no-subln")
		if n := count(t, b, "#paired tbody tr"); n == 0 || n%2 != 0 {
			t.Errorf("paired differences: %d rows", n)
		}
		if n := count(t, b, "#members tbody tr"); n != 4 {
			t.Errorf("members: %d rows", n)
		}
		contains(t, "members", b.text(t, "#members"), f.arms[0][:12], f.evals[0][:12], "done")
		b.screenshot(t, "ablation")
	})

	t.Run("study", func(t *testing.T) {
		b.open(t, "/studies")
		contains(t, "studies", b.text(t, "#studies"), "lr-search", "minimize", "val_loss")
		b.screenshot(t, "studies")
		b.open(t, "/studies/lr-search")
		if n := count(t, b, "#trials tbody tr"); n != 8 {
			t.Errorf("trials: %d rows", n)
		}
		if n := count(t, b, "#trials tbody tr.trial-pruned"); n != 2 {
			t.Errorf("pruned trials: %d rows", n)
		}
		if n := count(t, b, "#importance tbody tr"); n != 2 {
			t.Errorf("importance: %d rows", n)
		}
		// Trial 6 is the best: 3 + 1/7 + 0.
		contains(t, "best", b.text(t, "#best"), fmt.Sprintf("%.4f", 3+1.0/7), "trial 6", f.trials[6][:12])
		contains(t, "importance", b.text(t, "#importance"), "lr", "subln", "quantile bins", "by value")
		contains(t, "method", b.text(t, "#method"), "η²", "quantile bins")
		b.screenshot(t, "study")
	})

	t.Run("bench", func(t *testing.T) {
		b.open(t, "/bench")
		contains(t, "gemm", b.text(t, "#gemm"), "512×512×1536", "57.5", "8.0", "7.19×", "110.2", "8.82×")
		contains(t, "train", b.text(t, "#train"), "tiny", "16×128", "4311", "13.4%", "7.33×")
		contains(t, "peak", b.text(t, "#peak"), "150.5", "300.2")
		b.screenshot(t, "bench")
	})

	t.Run("errors", func(t *testing.T) {
		// The page itself answers 4xx: the browser logs that load.
		b.open(t, "/runs/zzzzzz", "status of 400")
		contains(t, "error page", b.text(t, "#error-message"), "not hexadecimal")
		b.open(t, "/ablations/nope", "status of 404")
		contains(t, "error page", b.text(t, "#error-message"), "no ablation named")
		b.screenshot(t, "error")
	})
	if t.Failed() {
		return
	}
	if d := os.Getenv("SERVE_SCREENSHOTS"); d != "" {
		t.Logf("screenshots written to %s", d)
	}
}

// TestBrowserRegistry loads the pages of an existing registry (opened
// read-only) named by $SERVE_REGISTRY, with the project root
// $SERVE_ROOT (default "."): the runs table, every ablation and study,
// the bench page and the newest runs of each kind. It checks that every
// page and figure loads with a clean console. Skipped when
// $SERVE_REGISTRY is not set.
func TestBrowserRegistry(t *testing.T) {
	path := os.Getenv("SERVE_REGISTRY")
	if path == "" {
		t.Skip("set SERVE_REGISTRY to a registry file to browse it (e.g. a copy of registry.db)")
	}
	root := os.Getenv("SERVE_ROOT")
	if root == "" {
		root = "."
	}
	ro, err := registry.OpenReadOnly(path)
	must(t, err)
	t.Cleanup(func() { ro.Close() })
	s, err := New(ro, Options{Root: root})
	must(t, err)
	b := newBrowser(t, s)
	pages := []string{"/runs", "/ablations", "/studies", "/bench"}
	as, err := reports.LoadAblations(ro, "")
	must(t, err)
	for _, a := range as {
		pages = append(pages, "/ablations/"+a.Matrix.Name)
	}
	studies, err := reports.LoadStudies(ro)
	must(t, err)
	for _, st := range studies {
		pages = append(pages, "/studies/"+st.Name)
	}
	seen := map[string]bool{}
	var picked []string
	runs, err := ro.Runs(registry.RunFilter{})
	must(t, err)
	for _, r := range runs {
		if !seen[r.Kind] {
			seen[r.Kind] = true
			picked = append(picked, r.Hash)
			pages = append(pages, "/runs/"+r.Hash)
		}
	}
	if len(picked) >= 2 {
		pages = append(pages, "/compare?h="+picked[0]+"&h="+picked[1])
	}
	for i, p := range pages {
		b.open(t, p)
		b.screenshot(t, fmt.Sprintf("registry-%02d", i))
	}
}
