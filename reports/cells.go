package reports

import "github.com/nanomamba-edge/harness/experiment"

// Cells are one ablation row's texts exactly as the paper's table prints
// them, for other views of the same table (the web view).
type Cells struct {
	Metric, Mean, Delta, P, PHolm string
}

// RowCells formats a summary row as the paper's table does.
func RowCells(r experiment.Summary) Cells {
	d, p := fmtDelta(r)
	return Cells{Metric: metricLabel(r), Mean: fmtMean(r.Est.Mean, r.Est.CI95), Delta: d, P: p, PHolm: fmtHolm(r)}
}
