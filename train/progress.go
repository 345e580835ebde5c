package train

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
)

// progress reports training progress: a progress bar on a terminal, plain
// lines at each logging step otherwise, nothing for a nil writer.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int64
}

func newProgress(w io.Writer, total, done int64) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100_000_000),
		)
		p.bar.Set64(done)
	}
	return p
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// set moves the bar to done steps.
func (p *progress) set(done int64, loss float64) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("train loss %.4f", loss))
		p.bar.Set64(done)
	}
}

// line writes one plain progress line (only without a bar).
func (p *progress) line(done int64, loss, lr, tps float64) {
	if p.w != nil && p.bar == nil {
		fmt.Fprintf(p.w, "step %d/%d loss %.4f lr %.4g tok/s %.0f\n", done, p.total, loss, lr, tps)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
