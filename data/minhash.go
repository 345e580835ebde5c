package data

import (
	"strings"
	"unicode"

	"github.com/nanomamba-edge/harness/rng"
)

// MinHash parameters: 5-word shingles, 128 hash functions split into 16 LSH
// bands of 8 rows. The banding finds pairs with Jaccard ≳ (1/16)^(1/8) ≈ 0.71
// as candidates; a candidate is a near duplicate when its MinHash estimate of
// the Jaccard similarity reaches the Cleaner's threshold (0.8 by default).
const (
	ShingleWords = 5
	NumHashes    = 128
	LSHBands     = 16
	LSHRows      = NumHashes / LSHBands
)

// minhashSeed fixes the hash family: dedup results do not depend on a run's
// seed, so differently seeded runs clean the corpus identically.
const minhashSeed = 0x6d696e68617368

// MinHasher computes MinHash signatures with a fixed family of hash functions.
type MinHasher struct {
	keys [NumHashes]uint64
}

// NewMinHasher draws the hash family from the rng stream "data/minhash".
func NewMinHasher() *MinHasher {
	s := rng.New(minhashSeed, "data/minhash")
	m := &MinHasher{}
	for i := range m.keys {
		m.keys[i] = s.Uint64()
	}
	return m
}

// Signature is a MinHash signature.
type Signature [NumHashes]uint64

// Words splits text into lower-cased runs of letters and digits.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
}

// Shingles returns the hashes of the word n-grams of text (n = ShingleWords);
// a text with fewer words is one shingle. It returns nil for a text without
// words.
func Shingles(text string) []uint64 {
	w := Words(text)
	if len(w) == 0 {
		return nil
	}
	n := ShingleWords
	if len(w) < n {
		n = len(w)
	}
	out := make([]uint64, 0, len(w)-n+1)
	for i := 0; i+n <= len(w); i++ {
		h := uint64(14695981039346656037)
		for j := i; j < i+n; j++ {
			for k := 0; k < len(w[j]); k++ {
				h ^= uint64(w[j][k])
				h *= 1099511628211
			}
			h ^= ' '
			h *= 1099511628211
		}
		out = append(out, h)
	}
	return out
}

// Sign returns the signature of a shingle set: for each hash function
// h_i(x) = mix(x ⊕ key_i), a bijection of uint64, the minimum over the set.
func (m *MinHasher) Sign(shingles []uint64) Signature {
	var sig Signature
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	for _, x := range shingles {
		for i, k := range m.keys {
			if h := mix64(x ^ k); h < sig[i] {
				sig[i] = h
			}
		}
	}
	return sig
}

// Jaccard estimates the Jaccard similarity of the two sets behind a and b:
// the fraction of hash functions whose minima agree.
func (a *Signature) Jaccard(b *Signature) float64 {
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / NumHashes
}

// band returns the LSH bucket key of band j.
func (a *Signature) band(j int) uint64 {
	h := mix64(uint64(j) + 0x9e3779b97f4a7c15)
	for _, v := range a[j*LSHRows : (j+1)*LSHRows] {
		h = mix64(h ^ v)
	}
	return h
}

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
