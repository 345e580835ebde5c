package bpe

import "testing"

// BenchmarkEncode encodes Tiny Shakespeare with a 2048-token BPE trained on
// TinyStories, with an empty cache each time (encoding, not look-ups).
func BenchmarkEncode(b *testing.B) {
	docs := storyDocs(corpusPrefix(b, storiesV2, 1<<30))
	tok, err := TrainBPE(docs[:500], 2048)
	if err != nil {
		b.Fatal(err)
	}
	text := corpusPrefix(b, "tinyshakespeare/input.txt", 1<<30)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.resetCache()
		tok.Encode(text)
	}
}
