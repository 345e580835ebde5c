package llama2c

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const (
	checkpointPath = "../../datasets/llama2c/stories260K.bin"
	tokenizerPath  = "../../datasets/llama2c/tok512.bin"
)

var (
	loadOnce sync.Once
	sharedCk *Checkpoint
	sharedTk *Tokenizer
	loadErr  error
)

// stories260K returns the shipped checkpoint and tokenizer, read once.
func stories260K(t testing.TB) (*Checkpoint, *Tokenizer) {
	t.Helper()
	loadOnce.Do(func() {
		sharedCk, loadErr = ReadCheckpoint(checkpointPath)
		if loadErr == nil {
			sharedTk, loadErr = ReadTokenizer(tokenizerPath, sharedCk.Vocab)
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return sharedCk, sharedTk
}

// tinyStoriesFile reads a TinyStories corpus file from the repository's
// datasets, falling back to the shared data snapshot when this checkout
// does not ship it yet (tests only).
func tinyStoriesFile(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"../../datasets/corpus/tinystories", "../../../shared/data/corpus/tinystories"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return string(b)
		}
	}
	t.Skipf("TinyStories file %s not found", name)
	return ""
}

// words splits text into lower-case runs of ASCII letters.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return r < 'a' || r > 'z' })
}

// expected200 is the output of llama2.c's run.c for stories260K.bin with
// tok512.bin at temperature 0 and 200 steps (karpathy/llama2.c test_all.py,
// expected_stdout).
const expected200 = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she"
