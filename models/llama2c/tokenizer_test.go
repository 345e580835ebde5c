package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/rng"
)

// encodeRunC is a line-for-line port of run.c's encode, with its O(n²)
// merge loop, used to check the priority-queue implementation.
func encodeRunC(t *Tokenizer, text string, bos, eos bool) []int32 {
	var toks []int32
	if bos {
		toks = append(toks, 1)
	}
	if text != "" {
		toks = append(toks, t.Lookup(" "))
	}
	buf := []byte{}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c&0xC0 != 0x80 {
			buf = buf[:0]
		}
		buf = append(buf, c)
		if i+1 < len(text) && text[i+1]&0xC0 == 0x80 && len(buf) < 4 {
			continue
		}
		if id := t.Lookup(string(buf)); id != -1 {
			toks = append(toks, id)
		} else {
			for _, b := range buf {
				toks = append(toks, int32(b)+3)
			}
		}
		buf = buf[:0]
	}
	for {
		best, bestID, bestIdx := float32(-1e10), int32(-1), -1
		for i := 0; i < len(toks)-1; i++ {
			id := t.Lookup(t.Pieces[toks[i]] + t.Pieces[toks[i+1]])
			if id != -1 && t.Scores[id] > best {
				best, bestID, bestIdx = t.Scores[id], id, i
			}
		}
		if bestIdx == -1 {
			break
		}
		toks[bestIdx] = bestID
		toks = append(toks[:bestIdx+1], toks[bestIdx+2:]...)
	}
	if eos {
		toks = append(toks, 2)
	}
	return toks
}

func TestReadTokenizerTok512(t *testing.T) {
	_, tk := stories260K(t)
	if tk.Vocab() != 512 || tk.MaxTokenLength != 7 {
		t.Fatalf("vocab %d max length %d, want 512 and 7", tk.Vocab(), tk.MaxTokenLength)
	}
	pieces := map[int32]string{0: "<unk>", 1: "\n<s>\n", 2: "\n</s>\n", 3: "<0x00>", 13: "<0x0A>", 258: "<0xFF>", 259: " t", 265: " the"}
	for id, want := range pieces {
		if tk.Pieces[id] != want {
			t.Errorf("piece %d = %q, want %q", id, tk.Pieces[id], want)
		}
		if got := tk.Lookup(want); got != id {
			t.Errorf("Lookup(%q) = %d, want %d", want, got, id)
		}
	}
	if tk.Scores[259] != 0 || tk.Scores[265] != -6 {
		t.Errorf("scores of 259, 265 = %v, %v, want 0, -6", tk.Scores[259], tk.Scores[265])
	}
	if tk.Lookup("no such piece") != -1 {
		t.Error("Lookup of an unknown piece is not -1")
	}
}

func TestDecode(t *testing.T) {
	_, tk := stories260K(t)
	the := tk.Lookup(" the")
	cases := []struct {
		name      string
		prev, tok int32
		want      string
	}{
		{"space stripped after BOS", BOS, the, "the"},
		{"space kept otherwise", the, the, " the"},
		{"space kept after EOS", EOS, the, " the"},
		{"newline byte piece", the, 13, "\n"},
		{"byte piece A", the, 3 + 'A', "A"},
		{"byte piece 0xFF", BOS, 258, "\xff"},
		{"dummy prefix after BOS", BOS, tk.Lookup(" "), ""},
		{"out of range", BOS, 512, ""},
		{"negative", BOS, -1, ""},
	}
	for _, c := range cases {
		if got := tk.Decode(c.prev, c.tok); got != c.want {
			t.Errorf("%s: Decode(%d, %d) = %q, want %q", c.name, c.prev, c.tok, got, c.want)
		}
	}
}

// decodeAll concatenates run.c-style decoding of a token sequence that
// starts with BOS.
func decodeAll(tk *Tokenizer, toks []int32) string {
	var b strings.Builder
	for i := 1; i < len(toks); i++ {
		b.WriteString(tk.Decode(toks[i-1], toks[i]))
	}
	return b.String()
}

func TestEncodeKnownAnswers(t *testing.T) {
	_, tk := stories260K(t)
	cases := []struct {
		text     string
		bos, eos bool
		want     []string // pieces
	}{
		{"", true, false, []string{"\n<s>\n"}},
		{"", false, false, nil},
		{"", true, true, []string{"\n<s>\n", "\n</s>\n"}},
		{"Once upon a time", true, false, []string{"\n<s>\n", " Once", " upon", " a", " time"}},
		{"the cat.", false, true, []string{" the", " c", "at", ".", "\n</s>\n"}},
		{"é", false, false, []string{" ", "é"}},
		{"株", false, false, []string{" ", "<0xE6>", "<0xA0>", "<0xAA>"}},
		{"a\nb", false, false, []string{" a", "<0x0A>", "b"}},
	}
	for _, c := range cases {
		got := tk.Encode(c.text, c.bos, c.eos)
		var pieces []string
		for _, id := range got {
			pieces = append(pieces, tk.Pieces[id])
		}
		if !slices.Equal(pieces, c.want) {
			t.Errorf("Encode(%q, %v, %v) = %q, want %q", c.text, c.bos, c.eos, pieces, c.want)
		}
	}
}

func TestEncodeMatchesRunCMergeLoop(t *testing.T) {
	_, tk := stories260K(t)
	texts := []string{
		"hello world!", "abcdefgh", "0123456789", "Lets try ö & 株式会社", "𒎗𓐍",
		"[INST]\n<<<SYS>>>test<<</SYS>>>\nhello[/INST]\n", "  two  spaces  ", "aaaaaaaaaaaaaaaa",
		"Once upon a time, there was a little girl named Lily. She loved to play outside.",
	}
	// Strings glued from random vocabulary pieces exercise many merge ties.
	s := rng.New(7, "llama2c-encode-test")
	for range 40 {
		var b strings.Builder
		for range 1 + s.Intn(30) {
			p := tk.Pieces[259+s.Intn(tk.Vocab()-259)]
			b.WriteString(p)
		}
		texts = append(texts, b.String())
	}
	val := tinyStoriesFile(t, "TinyStories-hf-validation.prefix.txt")
	texts = append(texts, val[:3000])
	for _, text := range texts {
		got, want := tk.Encode(text, true, true), encodeRunC(tk, text, true, true)
		if !slices.Equal(got, want) {
			t.Fatalf("Encode(%q):\n got %v\nwant %v", text, got, want)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	_, tk := stories260K(t)
	val := tinyStoriesFile(t, "TinyStories-hf-validation.prefix.txt")
	texts := []string{val[:50000], "Lets try ö & 株式会社 🙂", "Tom said, \"Hi!\"\n\nThe end."}
	for _, text := range texts {
		toks := tk.Encode(text, true, false)
		if got := decodeAll(tk, toks); got != text {
			n := min(len(got), len(text), 200)
			t.Fatalf("round trip of %d bytes differs; got %q..., want %q...", len(text), got[:n], text[:n])
		}
	}
	toks := tk.Encode(val[:50000], true, false)
	// The 512-piece vocabulary compresses TinyStories to roughly 2–3.5
	// bytes per token.
	if r := 50000 / float64(len(toks)); r < 2 || r > 3.5 {
		t.Errorf("%.2f bytes per token, want 2..3.5", r)
	}
}

func writeTokenizer(t *testing.T, maxLen int32, pieces []string, extra []byte) string {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, uint32(maxLen))
	for i, p := range pieces {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(-i)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	b = append(b, extra...)
	path := filepath.Join(t.TempDir(), "tok.bin")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadTokenizerRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile(tokenizerPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	write := func(b []byte) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("t%d.bin", n))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noBytes := []string{"<unk>", "<s>", "</s>"}
	for range 256 {
		noBytes = append(noBytes, "x")
	}
	cases := []struct {
		name  string
		path  string
		vocab int
		want  string
	}{
		{"wrong vocab (fewer)", tokenizerPath, 511, "bytes after its 511 tokens"},
		{"wrong vocab (more)", tokenizerPath, 513, "truncated at token 512 of 513"},
		{"too small vocab", tokenizerPath, 100, "too small"},
		{"truncated inside a piece", write(good[:len(good)-2]), 512, "truncated inside token 511"},
		{"empty", write(nil), 512, "shorter than its 4-byte header"},
		{"bad max length", write(binary.LittleEndian.AppendUint32(nil, 0)), 512, "max_token_length 0"},
		{"piece longer than max", writeTokenizer(t, 3, []string{"<unk>"}, nil), 259, "length 5, want 0..3"},
		{"no byte pieces", writeTokenizer(t, 7, noBytes, nil), 259, "want the byte piece \"<0x00>\""},
		{"missing", filepath.Join(dir, "missing.bin"), 512, "missing.bin"},
	}
	for _, c := range cases {
		if _, err := ReadTokenizer(c.path, c.vocab); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	_, tk := stories260K(b)
	text := tinyStoriesFile(b, "TinyStories-hf-validation.prefix.txt")[:50000]
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Encode(text, true, false)
	}
}
