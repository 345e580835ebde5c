package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nanomamba-edge/harness/registry"
)

// Num is a float that encodes as JSON null when it is NaN or infinite
// (encoding/json refuses those) and prints with four decimals.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// OK reports whether n is finite.
func (n Num) OK() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

// String formats n as the paper's tables do (%.4f), "–" when not finite.
func (n Num) String() string {
	if !n.OK() {
		return "–"
	}
	return strconv.FormatFloat(float64(n), 'f', 4, 64)
}

var nan = Num(math.NaN())

// minHashDigits is the shortest hash prefix a URL may give.
const minHashDigits = 6

// checkHash validates a hash or hash prefix from a URL: 6 to 64 hex digits.
func checkHash(h string) (string, error) {
	h = strings.ToLower(h)
	if len(h) < minHashDigits || len(h) > 64 {
		return "", badRequest("hash %q: want %d to 64 hexadecimal digits", clip(h), minHashDigits)
	}
	for _, c := range h {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", badRequest("hash %q: not hexadecimal (want digits 0-9 and a-f)", clip(h))
		}
	}
	return h, nil
}

// resolve expands a hash or prefix from a URL to the one recorded hash.
func (s *Server) resolve(h string) (string, error) {
	h, err := checkHash(h)
	if err != nil {
		return "", err
	}
	full, err := s.db.ResolvePrefix(h)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return "", notFound("no run or config with hash %s in the registry", h)
	case errors.Is(err, registry.ErrAmbiguousPrefix):
		return "", badRequest("%v", err)
	case err != nil:
		return "", err
	}
	return full, nil
}

// checkName validates an ablation or study name from a URL: 1 to 200
// bytes of printable UTF-8. It is only compared with recorded names.
func checkName(what, n string) (string, error) {
	if n == "" || len(n) > 200 || !utf8.ValidString(n) {
		return "", badRequest("%s name %q: want 1 to 200 bytes of UTF-8", what, clip(n))
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return "", badRequest("%s name %q: contains a control character", what, clip(n))
		}
	}
	return n, nil
}

// clip shortens user input quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s=%q: want an integer from %d to %d", name, clip(v), lo, hi)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// prettyJSON indents a JSON document (the input unchanged when it is not
// JSON).
func prettyJSON(js string) string {
	var v any
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		return js
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return js
	}
	return string(b)
}

// rawJSON returns js as a raw message when it is valid JSON, else as a
// JSON string.
func rawJSON(js string) json.RawMessage {
	if js == "" {
		return nil
	}
	if json.Valid([]byte(js)) {
		return json.RawMessage(js)
	}
	b, _ := json.Marshal(js)
	return b
}

var funcs = template.FuncMap{
	"short":   short,
	"time":    fmtTime,
	"ago":     ago,
	"bytes":   humanBytes,
	"join":    strings.Join,
	"fmtg":    func(v Num) string { return fmtG(v) },
	"pct":     func(v Num) string { return fmtPct(v) },
	"fmt1":    func(v Num) string { return fmtFixed(v, 1) },
	"fmt0":    func(v Num) string { return fmtFixed(v, 0) },
	"fmt2x":   func(v Num) string { return fmtRatio(v) },
	"hasPfx":  strings.HasPrefix,
	"inc":     func(i int) int { return i + 1 },
	"hashURL": func(h string) string { return "/runs/" + url.PathEscape(h) },
}

func fmtG(v Num) string {
	if !v.OK() {
		return "–"
	}
	return strconv.FormatFloat(float64(v), 'g', 4, 64)
}

func fmtPct(v Num) string {
	if !v.OK() {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(v))
}

func fmtFixed(v Num, prec int) string {
	if !v.OK() {
		return "–"
	}
	return strconv.FormatFloat(float64(v), 'f', prec, 64)
}

func fmtRatio(v Num) string {
	if !v.OK() || v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(v))
}
