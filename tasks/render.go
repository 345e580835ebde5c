package tasks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// valueSpec is one doc_to_* entry: a literal int, a field path or a template.
type valueSpec struct {
	isInt bool
	n     int
	field string
	tmpl  *template.Template
	lit   string // a string that is neither a template nor a known field
}

// docSpec holds the compiled doc_to_text, doc_to_target and doc_to_choice.
type docSpec struct {
	text, target valueSpec
	hasChoice    bool
	choiceField  string
	choiceTmpls  []*template.Template
}

var templateFuncs = template.FuncMap{
	"strip":      strings.TrimSpace,
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"capitalize": capitalize,
	"split":      func(s, sep string) []string { return strings.Split(s, sep) },
	"join":       func(xs []string, sep string) string { return strings.Join(xs, sep) },
	"droplast": func(xs []string) []string {
		if len(xs) == 0 {
			return xs
		}
		return xs[:len(xs)-1]
	},
	"last": func(xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		return xs[len(xs)-1]
	},
	"pluck":    pluck,
	"index_of": indexOf,
	"int":      toInt,
	"add":      func(a, b any) (int, error) { return binop(a, b, func(x, y int) int { return x + y }) },
	"sub":      func(a, b any) (int, error) { return binop(a, b, func(x, y int) int { return x - y }) },
}

// capitalize is Python's str.capitalize: first character upper case, the
// rest lower case.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func pluck(list any, key string) ([]any, error) {
	xs, ok := list.([]any)
	if !ok {
		return nil, fmt.Errorf("pluck %q: not a list", key)
	}
	out := make([]any, len(xs))
	for i, x := range xs {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("pluck %q: element %d is not an object", key, i)
		}
		out[i] = m[key]
	}
	return out, nil
}

func indexOf(x any, list any) (int, error) {
	s := strings.TrimSpace(toString(x))
	xs, ok := list.([]any)
	if !ok {
		return 0, fmt.Errorf("index_of %q: not a list", s)
	}
	for i, v := range xs {
		if toString(v) == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("index_of: %q not found in %v", s, xs)
}

func binop(a, b any, f func(x, y int) int) (int, error) {
	x, err := toInt(a)
	if err != nil {
		return 0, err
	}
	y, err := toInt(b)
	if err != nil {
		return 0, err
	}
	return f(x, y), nil
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case json.Number:
		if n, err := strconv.Atoi(string(x)); err == nil {
			return n, nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func compileDoc(c *TaskConfig) (*docSpec, error) {
	d := &docSpec{}
	var err error
	if d.text, err = compileValue(c.Task, "doc_to_text", c.DocToText); err != nil {
		return nil, err
	}
	if d.target, err = compileValue(c.Task, "doc_to_target", c.DocToTarget); err != nil {
		return nil, err
	}
	switch ch := c.DocToChoice.(type) {
	case nil:
	case string:
		d.hasChoice, d.choiceField = true, ch
	case []any:
		d.hasChoice = true
		for i, x := range ch {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("task %s: doc_to_choice[%d] is %T, want a string", c.Task, i, x)
			}
			t, err := parseTemplate(c.Task, fmt.Sprintf("doc_to_choice[%d]", i), s)
			if err != nil {
				return nil, err
			}
			d.choiceTmpls = append(d.choiceTmpls, t)
		}
	default:
		return nil, fmt.Errorf("task %s: doc_to_choice is %T, want a field name or a list of templates", c.Task, ch)
	}
	return d, nil
}

func parseTemplate(task, what, s string) (*template.Template, error) {
	t, err := template.New(what).Option("missingkey=error").Funcs(templateFuncs).Parse(s)
	if err != nil {
		return nil, fmt.Errorf("task %s: %s: %w", task, what, err)
	}
	return t, nil
}

func compileValue(task, what string, v any) (valueSpec, error) {
	switch x := v.(type) {
	case nil:
		return valueSpec{}, nil
	case int:
		return valueSpec{isInt: true, n: x}, nil
	case string:
		if strings.Contains(x, "{{") {
			t, err := parseTemplate(task, what, x)
			return valueSpec{tmpl: t}, err
		}
		return valueSpec{field: x}, nil
	}
	return valueSpec{}, fmt.Errorf("task %s: %s is %T, want an int, a field name or a template", task, what, v)
}

// lookup resolves a dotted field path; a step through a list collects that
// field of every element.
func lookup(doc any, path string) (any, bool) {
	if m, ok := doc.(map[string]any); ok {
		if v, ok := m[path]; ok {
			return v, true
		}
	}
	head, rest, more := strings.Cut(path, ".")
	switch x := doc.(type) {
	case map[string]any:
		v, ok := x[head]
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
		return lookup(v, rest)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			v, ok := lookup(e, path)
			if !ok {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	}
	return nil, false
}

// eval returns an int (literal or integer field), or a string.
func (v valueSpec) eval(doc map[string]any) (any, error) {
	switch {
	case v.isInt:
		return v.n, nil
	case v.tmpl != nil:
		var sb strings.Builder
		if err := v.tmpl.Execute(&sb, doc); err != nil {
			return nil, err
		}
		return sb.String(), nil
	case v.field != "":
		x, ok := lookup(doc, v.field)
		if !ok {
			// Not a field: lm-eval renders it as a (constant) template.
			return v.field, nil
		}
		switch y := x.(type) {
		case json.Number, int, float64:
			return toInt(y)
		case string:
			return y, nil
		}
		return nil, fmt.Errorf("field %q is %T, want a string or an integer", v.field, x)
	}
	return "", nil
}

// choices renders doc_to_choice.
func (d *docSpec) choices(doc map[string]any) ([]string, error) {
	if !d.hasChoice {
		return nil, nil
	}
	if d.choiceField != "" {
		x, ok := lookup(doc, d.choiceField)
		if !ok {
			return nil, fmt.Errorf("doc_to_choice: no field %q", d.choiceField)
		}
		xs, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("doc_to_choice: field %q is %T, want a list", d.choiceField, x)
		}
		out := make([]string, len(xs))
		for i, e := range xs {
			out[i] = toString(e)
		}
		return out, nil
	}
	out := make([]string, len(d.choiceTmpls))
	for i, t := range d.choiceTmpls {
		var sb strings.Builder
		if err := t.Execute(&sb, doc); err != nil {
			return nil, err
		}
		out[i] = sb.String()
	}
	return out, nil
}

// rendered is a document turned into prompt parts.
type rendered struct {
	text     string // the question (single-input mode)
	textIdx  int    // doc_to_text as an int: multiple-input mode, the gold context
	multi    bool
	gold     int    // target as a choice index
	target   string // target as a string
	hasGold  bool
	choices  []string
	goldText string // the answer text used in few-shot examples
}

func (d *docSpec) render(doc map[string]any) (*rendered, error) {
	r := &rendered{}
	var err error
	if r.choices, err = d.choices(doc); err != nil {
		return nil, err
	}
	t, err := d.text.eval(doc)
	if err != nil {
		return nil, fmt.Errorf("doc_to_text: %w", err)
	}
	switch x := t.(type) {
	case int:
		if x < 0 || x >= len(r.choices) {
			return nil, fmt.Errorf("doc_to_text: index %d outside the %d choices", x, len(r.choices))
		}
		r.multi, r.textIdx = true, x
		r.text = r.choices[x]
	case string:
		r.text = x
	}
	g, err := d.target.eval(doc)
	if err != nil {
		return nil, fmt.Errorf("doc_to_target: %w", err)
	}
	switch x := g.(type) {
	case int:
		r.gold, r.hasGold = x, true
	case string:
		r.target = x
		if d.hasChoice && !r.multi {
			if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
				r.gold, r.hasGold = n, true
			} else if k := slices.Index(r.choices, x); k >= 0 {
				// lm-eval: a string target names one of the choices.
				r.gold, r.hasGold = k, true
			} else {
				return nil, fmt.Errorf("doc_to_target: %q is neither an index nor one of the choices %q", x, r.choices)
			}
		}
	}
	if r.multi {
		r.gold, r.hasGold = r.textIdx, true
		r.goldText = r.target
		return r, nil
	}
	if r.hasGold && d.hasChoice {
		if r.gold < 0 || r.gold >= len(r.choices) {
			return nil, fmt.Errorf("doc_to_target: gold index %d outside the %d choices", r.gold, len(r.choices))
		}
		r.goldText = r.choices[r.gold]
	} else if r.hasGold {
		r.goldText = strconv.Itoa(r.gold)
	} else {
		r.goldText = r.target
	}
	return r, nil
}
