package data

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
)

// smallCorpus writes real corpus prefixes under a fresh root.
func smallCorpus(t testing.TB) (string, configs.DataConfig) {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "c/stories.txt", corpusPrefix(t, storiesV2, 150_000))
	writeFile(t, root, "c/shakespeare.txt.gz", corpusPrefix(t, "tinyshakespeare/input.txt", 60_000))
	writeFile(t, root, "c/val.txt", corpusPrefix(t, "tinystories/TinyStories-hf-validation.prefix.txt", 30_000))
	dc := configs.DataConfig{
		Sources: []configs.DataSource{
			{Name: "stories", Path: "c/stories.txt", Weight: 3, Format: "text"},
			{Name: "shakespeare", Path: "c/*.gz", Weight: 1, Format: "text"},
		},
		Validation: configs.DataSource{Name: "val", Path: "c/val.txt", Format: "text"},
		Tokenizer:  "bpe", SeqLen: 64, MinChars: 20, Dedup: true,
	}
	return root, dc
}

func equalTokens(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPrepareCache(t *testing.T) {
	root, dc := smallCorpus(t)
	cache := t.TempDir()
	ds, err := Prepare(root, cache, dc, 512, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ds.CacheHit {
		t.Error("first Prepare reported a cache hit")
	}
	if ds.Tokenizer.VocabSize() != 512 || len(ds.Train) == 0 || len(ds.Val) == 0 || len(ds.Held) == 0 {
		t.Fatalf("vocab %d, train %d, val %d, held %d tokens", ds.Tokenizer.VocabSize(), len(ds.Train), len(ds.Val), len(ds.Held))
	}
	for name, st := range ds.Stats {
		if st.Docs != st.Filtered+st.ExactDups+st.NearDups+st.Kept || st.Kept == 0 {
			t.Errorf("%s: inconsistent stats %+v", name, st)
		}
	}
	if len(ds.Stats) != 3 {
		t.Errorf("stats for %d sources, want 3", len(ds.Stats))
	}
	val := ds.Tokenizer.Decode(ds.Val)
	if !strings.HasPrefix(val, "Spot. Spot saw the shiny car") || int64(len(strings.ReplaceAll(val, EOSToken, "\n"))) != ds.ValBytes {
		t.Errorf("Val decodes to %q… (%d bytes, ValBytes %d)", val[:40], len(val), ds.ValBytes)
	}
	if n := strings.Count(val, EOSToken); n != ds.Stats["val"].Kept {
		t.Errorf("%d EOS in Val, want one per kept document (%d)", n, ds.Stats["val"].Kept)
	}
	// No validation story leaks into training.
	train := ds.Tokenizer.Decode(ds.Train)
	for _, d := range strings.Split(val, EOSToken)[:20] {
		if d != "" && strings.Contains(train, d) {
			t.Fatalf("validation document found in Train: %q", d[:40])
		}
	}

	again, err := Prepare(root, cache, dc, 512, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !again.CacheHit || again.Key != ds.Key {
		t.Fatalf("second Prepare: hit %v, key %s vs %s", again.CacheHit, again.Key, ds.Key)
	}
	if !equalTokens(again.Train, ds.Train) || !equalTokens(again.Val, ds.Val) || !equalTokens(again.Held, ds.Held) ||
		again.ValBytes != ds.ValBytes || again.Tokenizer.Hash() != ds.Tokenizer.Hash() || again.Stats["stories"] != ds.Stats["stories"] {
		t.Fatal("cached dataset differs from the built one")
	}
	// Without a cache the result is the same bits.
	nocache, err := Prepare(root, "", dc, 512, 7)
	if err != nil || !equalTokens(nocache.Train, ds.Train) {
		t.Fatalf("uncached Prepare differs (err %v)", err)
	}

	// Another seed re-mixes but reuses the tokenizer.
	other, err := Prepare(root, cache, dc, 512, 8)
	if err != nil {
		t.Fatal(err)
	}
	if other.CacheHit || other.Key == ds.Key || equalTokens(other.Train, ds.Train) || other.Tokenizer.Hash() != ds.Tokenizer.Hash() {
		t.Error("a new seed should miss the shard cache, reshuffle Train and keep the tokenizer")
	}

	// Changing the data misses the cache.
	f := filepath.Join(root, "c", "stories.txt")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, []byte("\n<|endoftext|>\nA brand new story about a brave little fox who found a key.\n")...), 0o644)
	changed, err := Prepare(root, cache, dc, 512, 7)
	if err != nil {
		t.Fatal(err)
	}
	if changed.CacheHit || changed.Key == ds.Key {
		t.Error("changed data hit the cache")
	}
	// A stale fingerprint in the config is an error.
	dc.Sources[0].Fingerprint = strings.Repeat("0", 64)
	if _, err := Prepare(root, cache, dc, 512, 7); err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("stale fingerprint: err %v", err)
	}
}

func TestPrepareByteAndBigram(t *testing.T) {
	root, dc := smallCorpus(t)
	dc.Tokenizer = "byte"
	ds, err := Prepare(root, "", dc, 512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Tokenizer.VocabSize() != 258 || int64(len(ds.Val)) != ds.ValBytes || int64(len(ds.Held)) != ds.HeldBytes {
		t.Fatalf("byte tokenizer: vocab %d, len(Val) %d vs ValBytes %d", ds.Tokenizer.VocabSize(), len(ds.Val), ds.ValBytes)
	}
	bpb, err := BigramBPB(ds)
	if err != nil {
		t.Fatal(err)
	}
	// Better than uniform over the vocabulary, worse than a perfect model.
	if math.IsNaN(bpb) || bpb <= 1 || bpb >= math.Log2(258) {
		t.Errorf("bigram bpb %.3f outside (1, %.2f)", bpb, math.Log2(258))
	}
	// Known answer on a tiny dataset: Train "ab" then EOS, V = 258.
	tiny := &Dataset{Tokenizer: NewByteTokenizer(), Train: []int32{'a', 'b', 256}, Val: []int32{'a', 'b'}, ValBytes: 2}
	got, _ := BigramBPB(tiny)
	// P(a|EOS) = 1/258 (EOS is never followed in Train); P(b|a) = 2/259.
	want := -(kernels.Log(1.0/258) + kernels.Log(2.0/259)) / kernels.Log(2) / 2
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("tiny bigram bpb %v, want %v", got, want)
	}
	t.Logf("byte-level bigram bpb on the small corpus: %.3f", bpb)
}

func TestPrepareErrors(t *testing.T) {
	root, dc := smallCorpus(t)
	cases := []struct {
		name string
		edit func(*configs.DataConfig) int
		want string
	}{
		{"tokenizer", func(d *configs.DataConfig) int { d.Tokenizer = "wordpiece"; return 512 }, `tokenizer "wordpiece" is unknown`},
		{"vocab", func(d *configs.DataConfig) int { return 100 }, "vocab 100"},
		{"missing file", func(d *configs.DataConfig) int { d.Sources[1].Path = "c/none*.txt"; return 512 }, `"c/none*.txt" matches no file`},
		{"weight", func(d *configs.DataConfig) int { d.Sources[0].Weight = -1; return 512 }, "weight -1"},
		{"names", func(d *configs.DataConfig) int { d.Sources[1].Name = "stories"; return 512 }, `two sources are named "stories"`},
		{"empty", func(d *configs.DataConfig) int { d.MinChars = 1 << 30; return 512 }, "no training documents left"},
	}
	for _, c := range cases {
		d := dc
		d.Sources = append([]configs.DataSource(nil), dc.Sources...)
		vocab := c.edit(&d)
		if _, err := Prepare(root, "", d, vocab, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestMixture(t *testing.T) {
	mk := func(tok int32, ndocs, doclen int) [][]int32 {
		docs := make([][]int32, ndocs)
		for i := range docs {
			docs[i] = make([]int32, doclen)
			for j := range docs[i] {
				docs[i][j] = tok
			}
		}
		return docs
	}
	// Natural sizes 1000 and 3000 tokens (+EOS); weights 3:1 flip them, so
	// source A repeats its documents and source B is truncated.
	srcs := []mixSource{{"a", 3, mk(1, 100, 9)}, {"b", 1, mk(2, 300, 9)}}
	out := pack(srcs, 0, 5)
	count := map[int32]int{}
	for _, v := range out {
		count[v]++
	}
	ta := float64(count[1] + count[1]/9) // tokens incl. EOS
	tb := float64(count[2] + count[2]/9)
	if r := ta / tb; math.Abs(r-3) > 0.05 {
		t.Errorf("mixture ratio %.3f (a %v, b %v tokens), want 3", r, ta, tb)
	}
	if count[0] != (count[1]+count[2])/9 {
		t.Errorf("%d EOS for %d documents", count[0], (count[1]+count[2])/9)
	}
	if !equalTokens(out, pack(srcs, 0, 5)) || equalTokens(out, pack(srcs, 0, 6)) {
		t.Error("pack is not a deterministic function of the seed")
	}
	// All weights zero: natural sizes.
	nat := pack([]mixSource{{"a", 0, mk(1, 100, 9)}, {"b", 0, mk(2, 300, 9)}}, 0, 5)
	if len(nat) != 4000 {
		t.Errorf("natural mixture has %d tokens, want 4000", len(nat))
	}
}

func TestBatch(t *testing.T) {
	ds := &Dataset{Train: make([]int32, 10_000)}
	for i := range ds.Train {
		ds.Train[i] = int32(i)
	}
	tok, tgt := ds.Batch(3, 0, 4, 16, 42)
	tok2, tgt2 := ds.Batch(3, 0, 4, 16, 42)
	if !equalTokens(tok, tok2) || !equalTokens(tgt, tgt2) {
		t.Fatal("same step drew different batches")
	}
	for i := range tok {
		if tgt[i] != (tok[i]+1)%10_000 {
			t.Fatalf("target %d is not the next token after %d", tgt[i], tok[i])
		}
	}
	if other, _ := ds.Batch(4, 0, 4, 16, 42); equalTokens(tok, other) {
		t.Error("different steps drew the same batch")
	}
	if other, _ := ds.Batch(3, 0, 4, 16, 43); equalTokens(tok, other) {
		t.Error("different seeds drew the same batch")
	}
	// Micro-batches of 2 rows are the halves of the 4-row batch.
	m0, _ := ds.Batch(3, 0, 2, 16, 42)
	m1, _ := ds.Batch(3, 1, 2, 16, 42)
	if !equalTokens(append(m0, m1...), tok) {
		t.Error("micro-batch split changed the rows")
	}
	if a, b := (&Dataset{}).Batch(0, 0, 1, 8, 1); a != nil || b != nil {
		t.Error("empty Train should give nil batches")
	}

	ds.Val = ds.Train[:100]
	w := ds.ValBatches(32, 0)
	if len(w) != 4 || len(w[3].Tokens) != 3 || w[3].Targets[2] != 99 || w[1].Tokens[0] != 32 {
		t.Errorf("ValBatches gave %d windows, last %v", len(w), w[len(w)-1])
	}
	if w := ds.ValBatches(32, 40); len(w) != 2 || len(w[1].Targets) != 8 {
		t.Errorf("maxTokens 40 gave %d windows", len(w))
	}
}
