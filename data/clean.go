package data

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nanomamba-edge/harness/kernels"
)

// Stats counts what cleaning did to one source. Docs = Filtered + ExactDups +
// NearDups + Kept; Chars counts the characters (runes) of the kept documents.
type Stats struct {
	Docs      int   `json:"docs"`
	Filtered  int   `json:"filtered"`
	ExactDups int   `json:"exact_dups"`
	NearDups  int   `json:"near_dups"`
	Kept      int   `json:"kept"`
	Chars     int64 `json:"chars"`
}

// CleanOptions are the cleaning settings; all of them are part of the cache key.
type CleanOptions struct {
	// MinChars drops documents shorter than this many characters.
	MinChars int `json:"min_chars"`
	// MinTextFraction drops documents in which fewer than this fraction of
	// the characters are letters or white space (tables, markup, binary).
	MinTextFraction float64 `json:"min_text_fraction"`
	// Dedup turns on exact and near-duplicate removal.
	Dedup bool `json:"dedup"`
	// NearDupJaccard is the MinHash Jaccard estimate at or above which a
	// document is a near duplicate of an earlier one.
	NearDupJaccard float64 `json:"near_dup_jaccard"`
}

// DefaultMinTextFraction and DefaultNearDupJaccard are the fixed cleaning
// thresholds Prepare uses.
const (
	DefaultMinTextFraction = 0.75
	DefaultNearDupJaccard  = 0.8
)

// Validate reports a setting outside its range.
func (o CleanOptions) Validate() error {
	switch {
	case o.MinChars < 0:
		return fmt.Errorf("data: min_chars %d must be >= 0", o.MinChars)
	case o.MinTextFraction < 0 || o.MinTextFraction > 1:
		return fmt.Errorf("data: min text fraction %g must be in [0,1]", o.MinTextFraction)
	case o.NearDupJaccard <= 0 || o.NearDupJaccard > 1:
		return fmt.Errorf("data: near-duplicate Jaccard %g must be in (0,1]", o.NearDupJaccard)
	}
	return nil
}

// Cleaner filters documents and removes duplicates of every document it has
// kept so far, across calls: call Clean once per source, in a fixed order,
// and the first occurrence of a text wins.
type Cleaner struct {
	opts    CleanOptions
	threads int
	mh      *MinHasher
	seen    map[[16]byte]struct{}
	sigs    []Signature
	buckets [LSHBands]map[uint64][]int32
}

// NewCleaner returns a Cleaner; it fails on out-of-range options.
func NewCleaner(opts CleanOptions) (*Cleaner, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cleaner{opts: opts, threads: runtime.GOMAXPROCS(0), mh: NewMinHasher(), seen: map[[16]byte]struct{}{}}
	for i := range c.buckets {
		c.buckets[i] = map[uint64][]int32{}
	}
	return c, nil
}

// Clean returns the documents that pass the filters and are not duplicates,
// in their input order, and the counts.
func (c *Cleaner) Clean(docs []string) ([]string, Stats) {
	st := Stats{Docs: len(docs)}
	type info struct {
		ok   bool
		key  [16]byte
		sig  Signature
		word bool
	}
	inf := make([]info, len(docs))
	kernels.Parallel(c.threads, len(docs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := docs[i]
			if !c.passes(d) {
				continue
			}
			inf[i].ok = true
			if c.opts.Dedup {
				inf[i].key = normalHash(d)
				if sh := Shingles(d); sh != nil {
					inf[i].sig = c.mh.Sign(sh)
					inf[i].word = true
				}
			}
		}
	})
	var kept []string
	for i, d := range docs {
		in := &inf[i]
		if !in.ok {
			st.Filtered++
			continue
		}
		if c.opts.Dedup {
			if _, dup := c.seen[in.key]; dup {
				st.ExactDups++
				continue
			}
			if in.word && c.nearDup(&in.sig) {
				st.NearDups++
				continue
			}
			c.seen[in.key] = struct{}{}
			if in.word {
				c.insert(&in.sig)
			}
		}
		kept = append(kept, d)
		st.Kept++
		st.Chars += int64(utf8.RuneCountInString(d))
	}
	return kept, st
}

func (c *Cleaner) passes(d string) bool {
	n, text := 0, 0
	for _, r := range d { // invalid bytes arrive as RuneError and count as non-text
		n++
		if unicode.IsLetter(r) || unicode.IsSpace(r) {
			text++
		}
	}
	if n < c.opts.MinChars || n == 0 {
		return false
	}
	return float64(text) >= c.opts.MinTextFraction*float64(n)
}

func (c *Cleaner) nearDup(sig *Signature) bool {
	for b := range c.buckets {
		for _, j := range c.buckets[b][sig.band(b)] {
			if sig.Jaccard(&c.sigs[j]) >= c.opts.NearDupJaccard {
				return true
			}
		}
	}
	return false
}

func (c *Cleaner) insert(sig *Signature) {
	id := int32(len(c.sigs))
	c.sigs = append(c.sigs, *sig)
	for b := range c.buckets {
		k := sig.band(b)
		c.buckets[b][k] = append(c.buckets[b][k], id)
	}
}

// normalHash hashes the lower-cased text with white space runs collapsed, so
// documents differing only in case or spacing are exact duplicates.
func normalHash(d string) [16]byte {
	n := strings.Join(strings.Fields(strings.ToLower(d)), " ")
	s := sha256.Sum256([]byte(n))
	var k [16]byte
	copy(k[:], s[:16])
	return k
}
