package data

import (
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

// benchText is about 2.4 MB of TinyStories.
func benchText(b *testing.B) []string {
	docs := splitText([]byte(corpusPrefix(b, storiesV2, 1<<30)))
	return append(docs, splitText([]byte(corpusPrefix(b, "tinystories/TinyStories-hf-train.prefix.txt", 1<<30)))...)
}

func BenchmarkTrainBPE2048(b *testing.B) {
	docs := benchText(b)
	var n int64
	for _, d := range docs {
		n += int64(len(d))
	}
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := TrainBPE(docs, 2048); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareCorpus prepares the whole shipped corpus (no cache) and
// reports its size and the bigram baseline.
func BenchmarkPrepareCorpus(b *testing.B) {
	dc := configs.DataConfig{
		Sources: []configs.DataSource{
			{Name: "tinystories", Path: "datasets/corpus/tinystories/TinyStories*-train*.txt", Weight: 2},
			{Name: "gutenberg", Path: "datasets/corpus/gutenberg_children/*.txt", Weight: 1},
			{Name: "shakespeare", Path: "datasets/corpus/tinyshakespeare/input.txt", Weight: 0.25},
		},
		Validation: configs.DataSource{Name: "tinystories_val", Path: "datasets/corpus/tinystories/TinyStories-hf-validation.prefix.txt"},
		Tokenizer:  "bpe", MinChars: 64, Dedup: true, TokenizerChars: 3_000_000,
	}
	for i := 0; i < b.N; i++ {
		ds, err := Prepare("..", "", dc, 2048, 1)
		if err != nil {
			b.Fatal(err)
		}
		bpb, _ := BigramBPB(ds)
		b.ReportMetric(float64(len(ds.Train)), "train_tokens")
		b.ReportMetric(float64(ds.ValBytes)/float64(len(ds.Val)), "val_bytes/token")
		b.ReportMetric(bpb, "bigram_bpb")
		if i == 0 {
			for name, st := range ds.Stats {
				b.Logf("%s: %+v", name, st)
			}
		}
	}
}
