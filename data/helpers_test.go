package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// corpusPrefix returns the first n bytes of a corpus file, cut at a line end.
func corpusPrefix(t testing.TB, rel string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "datasets", "corpus", rel))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > n {
		b = b[:n]
		if i := bytes.LastIndexByte(b, '\n'); i > 0 {
			b = b[:i+1]
		}
	}
	return string(b)
}

const storiesV2 = "tinystories/TinyStoriesV2-GPT4-train.first10000lines.txt"
