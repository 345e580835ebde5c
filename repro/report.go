package repro

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Identical Status = "identical"
	Differs   Status = "differs"
	Skipped   Status = "skipped"
)

// Check is one row of the summary table: one metric series, the
// checkpoint, a summary field or an eval task metric.
type Check struct {
	// Name says what was compared: "metric loss", "checkpoint sha256",
	// "summary val_loss", "task blimp_anaphor_gender_agreement acc".
	Name string
	// Compared counts the values compared (steps of a series, 1 otherwise).
	Compared int
	Status   Status
	// First is the first divergence of this check; nil unless Differs.
	First *Divergence
	// Note explains a skipped check.
	Note string
}

// Divergence is a place where the recorded and the reproduced run differ.
type Divergence struct {
	// Check is the Name of the check it belongs to.
	Check string
	// Metric is the series, summary field or task metric that differs.
	Metric string
	// Step is the training step of a metric-series divergence; -1 for
	// checks that have no step (checkpoint, summary, task metrics).
	Step int64
	// Recorded and Reproduced are the two values as text: floats in their
	// shortest round-trip spelling, "missing" when one side has no value.
	Recorded, Reproduced string
}

func (d Divergence) String() string {
	at := ""
	if d.Step >= 0 {
		at = fmt.Sprintf("step %d, ", d.Step)
	}
	return fmt.Sprintf("%s%s: recorded %s, reproduced %s", at, d.Check, d.Recorded, d.Reproduced)
}

// DataMismatch is a data source whose files no longer hash to the
// fingerprint the recorded config holds.
type DataMismatch struct {
	Key      string // "data.sources[0]" or "data.validation"
	Name     string // the source's name
	Path     string // the source's path or glob, relative to the root
	Recorded string // the fingerprint in the config
	Current  string // the fingerprint of the files now ("" when they cannot be read)
	Err      string // why the files could not be fingerprinted, if so
}

func (m DataMismatch) String() string {
	if m.Err != "" {
		return fmt.Sprintf("%s (%s): %s cannot be fingerprinted: %s", m.Key, m.Name, m.Path, m.Err)
	}
	return fmt.Sprintf("%s (%s): data changed: %s hashes to %s, the run recorded %s", m.Key, m.Name, m.Path, m.Current, m.Recorded)
}

// CodeVersion is a git commit and whether the working tree had changes.
type CodeVersion struct {
	Commit string
	Dirty  bool
}

func (v CodeVersion) String() string {
	if v.Dirty {
		return v.Commit + " (dirty)"
	}
	return v.Commit
}

// Report is the outcome of Reproduce.
type Report struct {
	Hash    string
	Attempt int    // the recorded attempt compared against
	Kind    string // its run kind
	// RecordedCode and CurrentCode are the code versions of the recorded
	// run and of the tree reproducing it.
	RecordedCode, CurrentCode CodeVersion
	// Warnings are conditions that do not by themselves make the result
	// differ but weaken the comparison (other code version, dirty trees).
	Warnings []string
	// ConfigProblem is set when the stored config does not hash to the run
	// hash: the registry was edited or corrupted after the run.
	ConfigProblem string
	// DataMismatches lists the sources whose files changed; when any is
	// present nothing is re-run.
	DataMismatches []DataMismatch
	// Checks is the summary table, in comparison order.
	Checks []Check
	// RerunHash and RerunID identify the reproduced run in RerunRegistry.
	RerunHash     string
	RerunID       int64
	RerunRegistry string
	// ScratchDir holds the scratch registry and run directories; it is
	// removed unless Options.Keep is set.
	ScratchDir string
	Elapsed    time.Duration
}

// Identical reports whether the reproduction matched the record bit for
// bit: data unchanged, config intact and every check identical or skipped.
func (r *Report) Identical() bool {
	if len(r.DataMismatches) > 0 || r.ConfigProblem != "" || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if c.Status == Differs {
			return false
		}
	}
	return true
}

// Divergences returns the first divergence of every differing check.
func (r *Report) Divergences() []Divergence {
	var ds []Divergence
	for _, c := range r.Checks {
		if c.Status == Differs && c.First != nil {
			ds = append(ds, *c.First)
		}
	}
	return ds
}

// FirstDivergence is the earliest place the runs differ: the metric-series
// divergence with the lowest step (ties broken by series name), else the
// first differing check in table order. ok is false when nothing differs.
func (r *Report) FirstDivergence() (d Divergence, ok bool) {
	for _, c := range r.Divergences() {
		switch {
		case !ok:
			d, ok = c, true
		case c.Step >= 0 && (d.Step < 0 || c.Step < d.Step || (c.Step == d.Step && c.Metric < d.Metric)):
			d = c
		}
	}
	return d, ok
}

// Verdict is the one-line result: "bit identical" or what differs first.
func (r *Report) Verdict() string {
	switch {
	case len(r.DataMismatches) > 0:
		return "MISMATCH: data changed: " + r.DataMismatches[0].String()
	case r.Identical():
		return "bit identical"
	}
	if d, ok := r.FirstDivergence(); ok {
		return "MISMATCH: first divergence at " + d.String()
	}
	if r.ConfigProblem != "" {
		return "MISMATCH: " + r.ConfigProblem
	}
	return "MISMATCH: nothing was compared"
}

// WriteText writes the report for a terminal: warnings, the summary table
// and the verdict.
//
// Only checks that did not match are listed, with a count of each
// status; all lists every check.
func (r *Report) WriteText(w io.Writer, all bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "reproduce %s (attempt %d, %s)\n", r.Hash, r.Attempt, r.Kind)
	fmt.Fprintf(&b, "code: recorded %s, current %s\n", r.RecordedCode, r.CurrentCode)
	for _, s := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", s)
	}
	if r.ConfigProblem != "" {
		fmt.Fprintf(&b, "config: %s\n", r.ConfigProblem)
	}
	for _, m := range r.DataMismatches {
		fmt.Fprintf(&b, "data mismatch: %s\n", m)
	}
	counts := map[Status]int{}
	var listed []Check
	for _, c := range r.Checks {
		counts[c.Status]++
		if all || c.Status != Identical {
			listed = append(listed, c)
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(&b, "%d checks: %d identical, %d differ, %d skipped", len(r.Checks), counts[Identical], counts[Differs], counts[Skipped])
		if !all && counts[Identical] > 0 {
			b.WriteString(" (--all lists the identical ones)")
		}
		b.WriteString("\n")
	}
	if len(listed) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tCOMPARED\tRESULT\tDETAIL")
		for _, c := range listed {
			detail := c.Note
			if c.First != nil {
				detail = c.First.String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Name, c.Compared, c.Status, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.RerunRegistry != "" {
		fmt.Fprintf(&b, "reproduced as run %d of %s in %s\n", r.RerunID, r.RerunHash, r.RerunRegistry)
	}
	fmt.Fprintf(&b, "result: %s (%s)\n", r.Verdict(), r.Elapsed.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}
