package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	b := []byte(content)
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadFormats(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, format, content string
		want                  []string
	}{
		{"blank.txt", "text", "one\ntwo\n\n\nthree\n  \nfour\n", []string{"one\ntwo", "three", "four"}},
		{"crlf.txt", "text", "a\r\nb\r\n\r\nc\r\n", []string{"a\nb", "c"}},
		{"eot.txt", "text", "s1 p1\n\ns1 p2\n<|endoftext|>\ns2\n<|endoftext|>\n", []string{"s1 p1\n\ns1 p2", "s2"}},
		{"eot.txt.gz", "", "x\n<|endoftext|>\ny", []string{"x", "y"}},
		{"l.txt", "lines", "a b\n\n c \nd", []string{"a b", "c", "d"}},
		{"l.txt.gz", "lines", "a\nb\n", []string{"a", "b"}},
		{"j.jsonl", "jsonl", "{\"text\":\"hi\\nthere\"}\n\n{\"text\":\" x \",\"id\":3}\n", []string{"hi\nthere", "x"}},
		{"j.jsonl.gz", "", "{\"text\":\"z\"}\n", []string{"z"}},
	}
	for _, c := range cases {
		writeFile(t, dir, c.name, c.content)
		got, err := Read(dir, configs.DataSource{Path: c.name, Format: c.format})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.jsonl", "{\"text\":\"ok\"}\n\n{\"text\": oops}\n")
	writeFile(t, dir, "bad.jsonl.gz", "{\"text\":\"ok\"}\n{\"body\":\"x\"}\n")
	writeFile(t, dir, "a.txt", "x")
	cases := []struct {
		src  configs.DataSource
		want string
	}{
		{configs.DataSource{Path: "bad.jsonl", Format: "jsonl"}, "bad.jsonl:3: malformed JSON"},
		{configs.DataSource{Path: "bad.jsonl.gz"}, "bad.jsonl.gz:2: no string field \"text\""},
		{configs.DataSource{Path: "missing/*.txt"}, `"missing/*.txt" matches no file`},
		{configs.DataSource{Path: "a.txt", Format: "csv"}, `unknown format "csv"`},
		{configs.DataSource{Path: "[", Format: "text"}, "bad glob"},
	}
	for _, c := range cases {
		_, err := Read(dir, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%s): error %v, want it to contain %q", c.src.Path, err, c.want)
		}
	}
}

func TestGlobAndFingerprint(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "g/b.txt", "beta")
	writeFile(t, dir, "g/a.txt", "alpha")
	writeFile(t, dir, "g/c.md", "gamma")
	src := configs.DataSource{Path: "g/*.txt"}
	docs, err := Read(dir, src)
	if err != nil || strings.Join(docs, ",") != "alpha,beta" {
		t.Fatalf("glob read = %q, %v; want sorted alpha,beta", docs, err)
	}
	fp1, err := Fingerprint(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	// The same files under another root give the same fingerprint.
	dir2 := t.TempDir()
	writeFile(t, dir2, "g/a.txt", "alpha")
	writeFile(t, dir2, "g/b.txt", "beta")
	if fp2, _ := Fingerprint(dir2, src); fp2 != fp1 {
		t.Errorf("fingerprint depends on the root: %s vs %s", fp1, fp2)
	}
	// Changing a byte, renaming, or adding a file changes it.
	writeFile(t, dir2, "g/b.txt", "betA")
	if fp, _ := Fingerprint(dir2, src); fp == fp1 {
		t.Error("content change kept the fingerprint")
	}
	writeFile(t, dir2, "g/b.txt", "beta")
	writeFile(t, dir2, "g/d.txt", "")
	if fp, _ := Fingerprint(dir2, src); fp == fp1 {
		t.Error("an added file kept the fingerprint")
	}
	if _, err := Fingerprint(dir, configs.DataSource{Path: "nope.txt"}); err == nil || !strings.Contains(err.Error(), "nope.txt") {
		t.Errorf("missing path error = %v, want it to name nope.txt", err)
	}
}
