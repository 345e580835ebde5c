// Package reports renders tables (Markdown and LaTeX) and figures
// (gonum/plot: PNG for Markdown, PDF/SVG for LaTeX) from registry queries,
// each carrying the run hashes it was computed from.
package reports
