package tasks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/data"
)

// loadSplit reads one split of a task's dataset: root/dataset_path/split.
func loadSplit(root string, c *TaskConfig, split string) ([]map[string]any, error) {
	file := filepath.Join(root, filepath.FromSlash(c.DatasetPath), filepath.FromSlash(split))
	b, err := data.ReadBytes(file)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", c.Task, err)
	}
	var docs []map[string]any
	if c.DatasetFormat == "text" {
		docs = textDocs(string(b))
	} else if docs, err = jsonlDocs(file, b); err != nil {
		return nil, fmt.Errorf("task %s: %w", c.Task, err)
	}
	if lf, ok := c.LabelFiles[split]; ok {
		lpath := filepath.Join(root, filepath.FromSlash(c.DatasetPath), filepath.FromSlash(lf))
		if err := attachLabels(lpath, docs); err != nil {
			return nil, fmt.Errorf("task %s: %w", c.Task, err)
		}
	}
	return docs, nil
}

// jsonlDocs parses one JSON object per non-blank line.
func jsonlDocs(file string, b []byte) ([]map[string]any, error) {
	var docs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s:%d: malformed JSON line: %w", file, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: malformed JSON line: trailing data after the object", file, line)
		}
		docs = append(docs, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	return docs, nil
}

// textDocs splits text into documents on blank lines; each document keeps
// its text with surrounding whitespace trimmed.
func textDocs(s string) []map[string]any {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var docs []map[string]any
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			docs = append(docs, map[string]any{"text": strings.Join(cur, "\n")})
			cur = cur[:0]
		}
	}
	for _, ln := range strings.Split(s, "\n") {
		if strings.TrimSpace(ln) == "" {
			flush()
			continue
		}
		cur = append(cur, ln)
	}
	flush()
	return docs
}

// attachLabels sets field "label" of doc i to line i of the labels file.
func attachLabels(file string, docs []map[string]any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("open labels: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != len(docs) {
		return fmt.Errorf("%s: %d labels for %d documents", file, len(lines), len(docs))
	}
	for i, ln := range lines {
		ln = strings.TrimSpace(ln)
		if ln == "" {
			return fmt.Errorf("%s:%d: empty label", file, i+1)
		}
		docs[i]["label"] = ln
	}
	return nil
}

// countDocs counts a split's documents without decoding them.
func countDocs(root string, c *TaskConfig, split string) (int, error) {
	file := filepath.Join(root, filepath.FromSlash(c.DatasetPath), filepath.FromSlash(split))
	b, err := data.ReadBytes(file)
	if err != nil {
		return 0, fmt.Errorf("task %s: %w", c.Task, err)
	}
	if c.DatasetFormat == "text" {
		return len(textDocs(string(b))), nil
	}
	n := 0
	for _, ln := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(ln)) > 0 {
			n++
		}
	}
	return n, nil
}
