package bpe

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nanomamba-edge/harness/rng"
)

// corpusPrefix returns the first n bytes of a corpus file, cut at a line end.
func corpusPrefix(t testing.TB, rel string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "datasets", "corpus", rel))
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

// storyDocs splits TinyStories text at its <|endoftext|> lines into trimmed,
// non-empty documents (the data package's "text" format for such files).
func storyDocs(text string) []string {
	var docs, cur []string
	flush := func() {
		if d := strings.TrimSpace(strings.Join(cur, "\n")); d != "" {
			docs = append(docs, d)
		}
		cur = cur[:0]
	}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) == EOSToken {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

const storiesV2 = "tinystories/TinyStoriesV2-GPT4-train.first10000lines.txt"

func TestPretokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"don't stop", []string{"don", "'t", " stop"}},
		{"I'll see", []string{"I", "'ll", " see"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"a\n\n b", []string{"a", "\n\n", " b"}},
		{"x 12 34", []string{"x", " 12", " 34"}},
		{"hi!!! ok", []string{"hi", "!!!", " ok"}},
		{"end  ", []string{"end", "  "}},
		{"café 3.5", []string{"café", " 3", ".", "5"}},
		{"\xff\xfeab", []string{"\xff\xfe", "ab"}},
		{"", nil},
	}
	for _, c := range cases {
		got := Pretokenize(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("Pretokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestGoldenMerges(t *testing.T) {
	// Chunks (newlines are single-character chunks, so carry no pairs):
	// hello×10, help×4, aaaa×3, ab×2, cd, dc. Initial pair counts:
	// (h,e)=14 (e,l)=14 (l,l)=10 (l,o)=10 (a,a)=9 (l,p)=4 (a,b)=2 (c,d)=1 (d,c)=1.
	//  1. (e,l)  14, tie with (h,e): "e" < "h"
	//  2. (h,el) 14
	//  3. (hel,l) 10, tie with (l,o): "hel" < "l"
	//  4. (hell,o) 10
	//  5. (a,a) 9 — "aaaa" becomes aa·aa, so (aa,aa)=3
	//  6. (hel,p) 4
	//  7. (aa,aa) 3
	//  8. (a,b) 2
	//  9. (c,d) 1, tie with (d,c): "c" < "d"
	// 10. (d,c) 1
	var words []string
	add := func(w string, n int) {
		for i := 0; i < n; i++ {
			words = append(words, w)
		}
	}
	add("hello", 10)
	add("help", 4)
	add("aaaa", 3)
	add("ab", 2)
	add("cd", 1)
	add("dc", 1)
	text := strings.Join(words, "\n")
	tok, err := TrainBPE([]string{text}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []Merge{{"e", "l"}, {"h", "el"}, {"hel", "l"}, {"hell", "o"}, {"a", "a"},
		{"hel", "p"}, {"aa", "aa"}, {"a", "b"}, {"c", "d"}, {"d", "c"}}
	got := tok.Merges()
	if len(got) != len(want) {
		t.Fatalf("got %d merges %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("merge %d = %q, want %q", i+1, got[i], want[i])
		}
	}
	if tok.VocabSize() != 258+10 {
		t.Errorf("VocabSize = %d, want 268", tok.VocabSize())
	}
	ids := tok.Encode("hello help aaaa")
	if got := len(ids); got != 5 { // hello, " ", help... " help" is not a token: " ", "help"
		t.Errorf("Encode gave %d ids %v", got, ids)
	}
	// A vocab limit stops training early.
	tok5, err := TrainBPE([]string{text}, 258+5)
	if err != nil {
		t.Fatal(err)
	}
	if m := tok5.Merges(); len(m) != 5 || m[4] != want[4] {
		t.Errorf("vocab-limited merges = %q", m)
	}
}

func trainedOnStories(t testing.TB, vocab int) *Tokenizer {
	t.Helper()
	docs := storyDocs(corpusPrefix(t, storiesV2, 300_000))
	tok, err := TrainBPE(docs, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRoundTrip(t *testing.T) {
	tok := trainedOnStories(t, 1024)
	if tok.VocabSize() != 1024 {
		t.Fatalf("VocabSize = %d, want 1024", tok.VocabSize())
	}
	s := rng.New(1, "test/roundtrip")
	inputs := []string{
		"", " ", "\n\n", "Once upon a time, there was a little girl.",
		corpusPrefix(t, "tinyshakespeare/input.txt", 20_000),
		"tail <|endoftext|> and <|bos|>head <|endof",
		"invalid \xff\xfe\xc3 utf8 \xe2\x82",
	}
	for i := 0; i < 200; i++ {
		b := make([]byte, s.Intn(64))
		for j := range b {
			b[j] = byte(s.Intn(256))
			if s.Intn(3) == 0 {
				b[j] = "ab \n'e"[s.Intn(6)]
			}
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		for _, tk := range []*Tokenizer{tok, NewByteTokenizer()} {
			ids := tk.Encode(in)
			if out := tk.Decode(ids); out != in {
				t.Fatalf("round trip of %q gave %q", in, out)
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tk.VocabSize() {
					t.Fatalf("id %d outside vocab %d", id, tk.VocabSize())
				}
			}
		}
	}
	story := "Once upon a time there was a little dog."
	if n := len(tok.Encode(story)); n >= len(story)/2 {
		t.Errorf("BPE gave %d tokens for %d bytes; merges are not applied", n, len(story))
	}
	ids := tok.Encode("a<|endoftext|>b<|bos|>")
	if len(ids) != 4 || ids[1] != tok.EOS() || ids[3] != tok.BOS() || tok.EOS() != 256 || tok.BOS() != 257 {
		t.Errorf("specials encoded as %v (EOS %d, BOS %d)", ids, tok.EOS(), tok.BOS())
	}
}

func TestTokenizerJSON(t *testing.T) {
	tok := trainedOnStories(t, 600)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != tok.Hash() || back.VocabSize() != tok.VocabSize() {
		t.Fatalf("reloaded tokenizer differs: hash %s vs %s", back.Hash(), tok.Hash())
	}
	text := corpusPrefix(t, storiesV2, 50_000) + "\xff<|endoftext|>"
	a, b := tok.Encode(text), back.Encode(text)
	if len(a) != len(b) {
		t.Fatalf("encodings differ in length: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("encodings differ at %d", i)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"type": "BPE"`, `"Ġ": 32`, `"<|endoftext|>": 256`, `"type": "ByteLevel"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("tokenizer.json lacks %s", want)
		}
	}
	if !utf8.Valid(raw) {
		t.Error("tokenizer.json is not valid UTF-8")
	}
	// The ["a","b"] merge spelling of newer files loads too.
	alt := bytes.Replace(raw, []byte(`"merges": [`+"\n      \"Ġ t\""), []byte(`"merges": [`+"\n      [\"Ġ\", \"t\"]"), 1)
	if bytes.Equal(alt, raw) {
		t.Fatalf("first merge is not \"Ġ t\"; got %q", tok.Merges()[0])
	}
	if _, err := ParseTokenizer(alt); err != nil {
		t.Errorf("array merge spelling: %v", err)
	}
	bad := []struct{ name, from, to string }{
		{"model type", `"type": "BPE"`, `"type": "WordPiece"`},
		{"missing byte", `"Ġ": 32`, `"Ġ": 9999`},
	}
	for _, c := range bad {
		if _, err := ParseTokenizer(bytes.Replace(raw, []byte(c.from), []byte(c.to), 1)); err == nil {
			t.Errorf("%s: corrupt tokenizer.json loaded without error", c.name)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	a, b := trainedOnStories(t, 400), trainedOnStories(t, 400)
	if a.Hash() != b.Hash() {
		t.Fatal("two trainings on the same text differ")
	}
}

// FromVocab on a tokenizer's own entries and merges rebuilds it (the same
// tokenizer.json), and refuses a malformed vocabulary with an error naming
// the problem.
func TestFromVocab(t *testing.T) {
	tok := trainedOnStories(t, 400)
	n := tok.VocabSize()
	entries := make([]string, n)
	var specials []int32
	for id := range int32(n) {
		entries[id] = tok.tokenString(id)
		if len(tok.tokens.at(id)) == 0 {
			specials = append(specials, id)
		}
	}
	ms := tok.Merges()
	merge := func(i int) (string, string, error) {
		return byteLevelString([]byte(ms[i].Left)), byteLevelString([]byte(ms[i].Right)), nil
	}
	back, err := FromVocab(entries, specials, len(ms), merge)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != tok.Hash() {
		t.Fatal("FromVocab of a tokenizer's entries and merges gives another tokenizer.json")
	}
	with := func(f func(e []string)) []string {
		e := append([]string(nil), entries...)
		f(e)
		return e
	}
	for _, c := range []struct {
		name     string
		entries  []string
		specials []int32
		nm       int
		want     string
	}{
		{"duplicate bytes", with(func(e []string) { e[300] = e[65] }), specials, 0, "is both id 65 and id 300"},
		{"empty token", with(func(e []string) { e[300] = "" }), specials, 0, "is empty"},
		{"not byte-level", with(func(e []string) { e[300] = "\x01" }), specials, 0, "not in the byte-level alphabet"},
		{"byte out of place", with(func(e []string) { e[65], e[66] = e[66], e[65] }), specials, 0, "byte 0x41 must be token 65"},
		{"special out of range", entries, []int32{256, int32(n)}, 0, "outside"},
		{"special twice", entries, []int32{256, 256}, 0, "listed twice"},
		{"no EOS", entries, []int32{257}, 0, "no <|endoftext|>"},
		{"merge of unknown tokens", with(func(e []string) { e[300] = "zzzzq" }), specials, len(ms), "missing from the vocab"},
	} {
		_, err := FromVocab(c.entries, c.specials, c.nm, merge)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
