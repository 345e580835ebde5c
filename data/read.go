package data

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data/bpe"
)

// Document formats understood by Read.
const (
	FormatText  = "text"
	FormatLines = "lines"
	FormatJSONL = "jsonl"
)

// EndOfText is the literal document separator of format "text" and the
// content of the EOS token.
const EndOfText = bpe.EOSToken

// Match returns the files a source path (relative to root, globs allowed)
// names, sorted. It fails, naming the pattern, when nothing matches.
func Match(root, path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("data: empty source path")
	}
	pattern := path
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(root, path)
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("data: bad glob %q: %w", path, err)
	}
	var out []string
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if st.Mode().IsRegular() {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: path %q matches no file under %q", path, root)
	}
	sort.Strings(out)
	return out, nil
}

// Read returns the documents of one source, file by file in sorted order.
func Read(root string, src configs.DataSource) ([]string, error) {
	files, err := Match(root, src.Path)
	if err != nil {
		return nil, err
	}
	var docs []string
	for _, f := range files {
		d, err := ReadFile(f, src.Format)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// ReadFile returns the documents of one file in the given format ("" picks
// "jsonl" for .jsonl files and "text" otherwise).
func ReadFile(path, format string) ([]string, error) {
	raw, err := ReadBytes(path)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = FormatText
		if strings.HasSuffix(strings.TrimSuffix(path, ".gz"), ".jsonl") {
			format = FormatJSONL
		}
	}
	switch format {
	case FormatText:
		return splitText(raw), nil
	case FormatLines:
		return splitLines(raw), nil
	case FormatJSONL:
		return splitJSONL(path, raw)
	}
	return nil, fmt.Errorf("data: %s: unknown format %q (valid: %q, %q, %q)", path, format, FormatText, FormatLines, FormatJSONL)
}

// ReadBytes returns a file's contents, gunzipped when its name ends in .gz.
func ReadBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("data: reading %s: %w", path, err)
	}
	return b, nil
}

// lines splits b at '\n', dropping a trailing '\r' from each line.
func lines(b []byte) [][]byte {
	ls := bytes.Split(b, []byte{'\n'})
	if n := len(ls); n > 0 && len(ls[n-1]) == 0 {
		ls = ls[:n-1]
	}
	for i, l := range ls {
		ls[i] = bytes.TrimSuffix(l, []byte{'\r'})
	}
	return ls
}

func splitText(b []byte) []string {
	ls := lines(b)
	sepEOT := false
	for _, l := range ls {
		if string(bytes.TrimSpace(l)) == EndOfText {
			sepEOT = true
			break
		}
	}
	var docs []string
	var cur [][]byte
	flush := func() {
		if d := strings.TrimSpace(string(bytes.Join(cur, []byte{'\n'}))); d != "" {
			docs = append(docs, d)
		}
		cur = cur[:0]
	}
	for _, l := range ls {
		t := bytes.TrimSpace(l)
		if (sepEOT && string(t) == EndOfText) || (!sepEOT && len(t) == 0) {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

func splitLines(b []byte) []string {
	var docs []string
	for _, l := range lines(b) {
		if d := strings.TrimSpace(string(l)); d != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func splitJSONL(path string, b []byte) ([]string, error) {
	var docs []string
	for i, l := range lines(b) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(l, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: malformed JSON line: %w", path, i+1, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("%s:%d: no string field \"text\"", path, i+1)
		}
		if d := strings.TrimSpace(*rec.Text); d != "" {
			docs = append(docs, d)
		}
	}
	return docs, nil
}
