package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/rng"
)

// Dataset is a prepared corpus: packed token streams and what produced them.
type Dataset struct {
	Tokenizer *Tokenizer
	// Train is the packed training stream (mixture applied, EOS between
	// documents).
	Train []int32
	// Val is the validation stream; ValBytes counts its UTF-8 text bytes
	// plus one byte per EOS, the denominator of bits-per-byte.
	Val      []int32
	ValBytes int64
	// Held is the held-out split of the training sources, HeldBytes its
	// byte count (same convention as ValBytes).
	Held      []int32
	HeldBytes int64
	// Stats holds the cleaning counts per source name (the validation
	// source included).
	Stats map[string]Stats
	// Key is the content hash the shard cache is keyed by.
	Key string
	// CacheHit reports that the streams were loaded from the cache.
	CacheHit bool
}

// cacheVersion changes whenever the preparation code changes its output.
const cacheVersion = 1

type sourceKey struct {
	Name, Path, Format, Fingerprint string
	Weight                          float64
}

type tokenizerKey struct {
	Version        int
	Sources        []sourceKey
	Validation     *sourceKey
	Clean          CleanOptions
	HeldOut        float64
	Tokenizer      string
	Vocab          int
	TokenizerChars int
}

func hashJSON(v any) string {
	b, _ := json.Marshal(v) // plain structs of strings and numbers always marshal
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Prepare reads, cleans and tokenizes the configured corpus (paths relative
// to root) and packs the streams. With a non-empty cacheDir the tokenizer and
// the streams are cached there, keyed by a hash of the source fingerprints,
// the cleaning and tokenizer settings, vocab and seed; a second call with the
// same inputs loads them without reading or tokenizing the text. The seed
// drives only the mixture; the tokenizer does not depend on it.
func Prepare(root, cacheDir string, dc configs.DataConfig, vocab int, seed int64) (*Dataset, error) {
	if dc.Tokenizer != KindBPE && dc.Tokenizer != KindByte {
		return nil, fmt.Errorf("data: tokenizer %q is unknown (valid: %q, %q)", dc.Tokenizer, KindBPE, KindByte)
	}
	if vocab < 258 {
		return nil, fmt.Errorf("data: vocab %d is below the 258 byte and special tokens", vocab)
	}
	if len(dc.Sources) == 0 {
		return nil, fmt.Errorf("data: no sources configured (data.sources is empty)")
	}
	if dc.TokenizerChars < 0 {
		return nil, fmt.Errorf("data: tokenizer_chars %d must be >= 0", dc.TokenizerChars)
	}
	opts := CleanOptions{MinChars: dc.MinChars, MinTextFraction: DefaultMinTextFraction, Dedup: dc.Dedup, NearDupJaccard: DefaultNearDupJaccard}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	key := tokenizerKey{Version: cacheVersion, Clean: opts, HeldOut: HeldOutFraction, Tokenizer: dc.Tokenizer, Vocab: vocab, TokenizerChars: dc.TokenizerChars}
	names := map[string]bool{}
	for i, s := range dc.Sources {
		sk, err := resolveSource(root, s, fmt.Sprintf("data.sources[%d]", i))
		if err != nil {
			return nil, err
		}
		if names[sk.Name] {
			return nil, fmt.Errorf("data: two sources are named %q; names must be unique", sk.Name)
		}
		names[sk.Name] = true
		key.Sources = append(key.Sources, sk)
	}
	if dc.Validation.Path != "" {
		sk, err := resolveSource(root, dc.Validation, "data.validation")
		if err != nil {
			return nil, err
		}
		if names[sk.Name] {
			return nil, fmt.Errorf("data: validation source name %q is also a training source name", sk.Name)
		}
		key.Validation = &sk
	}
	tokKey := hashJSON(key)
	shardKey := hashJSON(struct {
		Tokenizer string
		Seed      int64
	}{tokKey, seed})
	shardDir := ""
	if cacheDir != "" {
		shardDir = filepath.Join(cacheDir, "shards-"+shardKey)
		if ds, err := loadShards(shardDir); err == nil {
			ds.Key, ds.CacheHit = shardKey, true
			return ds, nil
		}
	}
	ds, err := build(root, cacheDir, tokKey, key, dc, opts, vocab, seed)
	if err != nil {
		return nil, err
	}
	ds.Key = shardKey
	if shardDir != "" {
		if err := saveShards(cacheDir, shardDir, ds); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

func resolveSource(root string, s configs.DataSource, where string) (sourceKey, error) {
	if s.Weight < 0 {
		return sourceKey{}, fmt.Errorf("data: %s (%s): weight %g must be >= 0", where, s.Path, s.Weight)
	}
	switch s.Format {
	case "", FormatText, FormatLines, FormatJSONL:
	default:
		return sourceKey{}, fmt.Errorf("data: %s (%s): unknown format %q (valid: %q, %q, %q)", where, s.Path, s.Format, FormatText, FormatLines, FormatJSONL)
	}
	fp, err := Fingerprint(root, s)
	if err != nil {
		return sourceKey{}, fmt.Errorf("%s: %w", where, err)
	}
	if s.Fingerprint != "" && s.Fingerprint != fp {
		return sourceKey{}, fmt.Errorf("data: %s (%s): files changed since the config was resolved (fingerprint %s, now %s)", where, s.Path, s.Fingerprint, fp)
	}
	name := s.Name
	if name == "" {
		name = s.Path
	}
	return sourceKey{Name: name, Path: s.Path, Format: s.Format, Fingerprint: fp, Weight: s.Weight}, nil
}

func build(root, cacheDir, tokKey string, key tokenizerKey, dc configs.DataConfig, opts CleanOptions, vocab int, seed int64) (*Dataset, error) {
	cl, err := NewCleaner(opts)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Stats: map[string]Stats{}}
	var valDocs []string
	if key.Validation != nil {
		docs, err := Read(root, dc.Validation)
		if err != nil {
			return nil, err
		}
		kept, st := cl.Clean(docs)
		ds.Stats[key.Validation.Name] = st
		valDocs = kept
	}
	train := make([][]string, len(dc.Sources))
	var heldDocs []string
	for i, s := range dc.Sources {
		docs, err := Read(root, s)
		if err != nil {
			return nil, err
		}
		kept, st := cl.Clean(docs)
		ds.Stats[key.Sources[i].Name] = st
		for _, d := range kept {
			if IsHeldOut(d) {
				heldDocs = append(heldDocs, d)
			} else {
				train[i] = append(train[i], d)
			}
		}
		if len(train[i]) == 0 && s.Weight > 0 {
			return nil, fmt.Errorf("data: source %q has no training documents left after cleaning (%+v)", key.Sources[i].Name, st)
		}
	}
	tok, err := tokenizerFor(cacheDir, tokKey, key, train, vocab)
	if err != nil {
		return nil, err
	}
	ds.Tokenizer = tok
	eos := tok.EOS()
	srcs := make([]mixSource, len(train))
	for i := range train {
		srcs[i] = mixSource{name: key.Sources[i].Name, weight: key.Sources[i].Weight, docs: encodeAll(tok, train[i])}
	}
	ds.Train = pack(srcs, eos, seed)
	ds.Held, ds.HeldBytes = concatDocs(encodeAll(tok, heldDocs), heldDocs, eos)
	if key.Validation != nil {
		ds.Val, ds.ValBytes = concatDocs(encodeAll(tok, valDocs), valDocs, eos)
	} else {
		ds.Val, ds.ValBytes = ds.Held, ds.HeldBytes
	}
	if len(ds.Train) == 0 {
		return nil, fmt.Errorf("data: the training stream is empty (check the sources' weights and min_chars)")
	}
	return ds, nil
}

// encodeAll tokenizes documents in parallel; each output depends only on its
// document.
func encodeAll(tok *Tokenizer, docs []string) [][]int32 {
	out := make([][]int32, len(docs))
	kernels.Parallel(runtime.GOMAXPROCS(0), len(docs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = tok.Encode(docs[i])
		}
	})
	return out
}

// tokenizerFor returns the byte tokenizer, or loads the cached BPE tokenizer
// for tokKey, or trains and caches it.
func tokenizerFor(cacheDir, tokKey string, key tokenizerKey, train [][]string, vocab int) (*Tokenizer, error) {
	if key.Tokenizer == KindByte {
		return NewByteTokenizer(), nil
	}
	path := ""
	if cacheDir != "" {
		path = filepath.Join(cacheDir, "tokenizer-"+tokKey+".json")
		if t, err := LoadTokenizer(path); err == nil {
			return t, nil
		}
	}
	t, err := TrainBPE(tokenizerTexts(key, train), vocab)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("data: cache dir: %w", err)
		}
		if err := writeAtomic(path, t.JSON()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// tokenizerTexts picks the tokenizer's training text. With TokenizerChars = 0
// it is every training document. Otherwise each source gets a byte budget in
// proportion to its weight (to its size when all weights are 0) and
// contributes whole documents in the order of the rng stream
// (0, "data/tokenizer/<name>") until the budget is spent; the seed is fixed
// so runs that differ only in seed share one tokenizer.
func tokenizerTexts(key tokenizerKey, train [][]string) []string {
	var all []string
	if key.TokenizerChars == 0 {
		for _, docs := range train {
			all = append(all, docs...)
		}
		return all
	}
	share := make([]float64, len(train))
	var sum float64
	for i := range train {
		share[i] = key.Sources[i].Weight
		sum += share[i]
	}
	if sum == 0 {
		for i, docs := range train {
			for _, d := range docs {
				share[i] += float64(len(d))
			}
			sum += share[i]
		}
	}
	for i, docs := range train {
		if len(docs) == 0 || share[i] == 0 {
			continue
		}
		budget := int64(float64(key.TokenizerChars) * (share[i] / sum))
		var used int64
		for _, j := range rng.New(0, "data/tokenizer/"+key.Sources[i].Name).Perm(len(docs)) {
			if used >= budget {
				break
			}
			all = append(all, docs[j])
			used += int64(len(docs[j]))
		}
	}
	return all
}
