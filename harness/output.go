package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// table is a command's tabular output, written as aligned text, CSV or a
// JSON array of objects keyed by the (lower-case) column names.
type table struct {
	header []string
	rows   [][]string
	// raw holds, per row, typed values for JSON (numbers stay numbers);
	// nil uses the strings.
	raw [][]any
}

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = cellText(c)
	}
	t.rows = append(t.rows, row)
	t.raw = append(t.raw, cells)
}

func cellText(c any) string {
	switch v := c.(type) {
	case nil:
		return "-"
	case float64:
		return sig(v)
	case string:
		if v == "" {
			return "-"
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}

// sig formats a number with 5 significant digits, never as 19646042.7790.
func sig(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 5, 64)
}

// outputFormat validates --format-style flags.
func outputFormat(asJSON, asCSV bool) (string, error) {
	switch {
	case asJSON && asCSV:
		return "", fmt.Errorf("--json and --csv: choose one")
	case asJSON:
		return "json", nil
	case asCSV:
		return "csv", nil
	}
	return "text", nil
}

func (t *table) write(w io.Writer, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(t.header); err != nil {
			return err
		}
		for i, r := range t.rows {
			rec := make([]string, len(r))
			for j, c := range t.raw[i] {
				switch v := c.(type) {
				case nil:
					rec[j] = ""
				case float64:
					rec[j] = strconv.FormatFloat(v, 'g', -1, 64)
				default:
					rec[j] = fmt.Sprint(v)
				}
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]any, len(t.rows))
		for i := range t.rows {
			m := map[string]any{}
			for j, h := range t.header {
				v := t.raw[i][j]
				if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
					v = nil // JSON has no NaN
				}
				m[strings.ToLower(h)] = v
			}
			out[i] = m
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
