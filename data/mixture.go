package data

import (
	"crypto/sha256"
	"encoding/binary"
	"math"

	"github.com/nanomamba-edge/harness/rng"
)

// HeldOutFraction is the share of training-source documents held out for
// validation (chosen by the hash of the text, see IsHeldOut).
const HeldOutFraction = 0.01

// IsHeldOut reports whether a training document belongs to the held-out
// split: the first 53 bits of sha256(text), as a fraction in [0,1), fall
// below HeldOutFraction. It depends on nothing but the text.
func IsHeldOut(doc string) bool {
	h := sha256.Sum256([]byte(doc))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/(1<<53) < HeldOutFraction
}

// mixSource is one source's tokenized training documents.
type mixSource struct {
	name   string
	weight float64
	docs   [][]int32
}

// mixTargets returns t_s = round(N·w_s/W) for each source (N = Σ tokens with
// one EOS per document), or the natural sizes when every weight is 0.
func mixTargets(srcs []mixSource) []int64 {
	var total int64
	var wsum float64
	n := make([]int64, len(srcs))
	for i, s := range srcs {
		for _, d := range s.docs {
			n[i] += int64(len(d)) + 1
		}
		total += n[i]
		wsum += s.weight
	}
	if wsum == 0 {
		return n
	}
	t := make([]int64, len(srcs))
	for i, s := range srcs {
		t[i] = int64(math.Floor(float64(total)*(s.weight/wsum) + 0.5))
	}
	return t
}

// pack applies the mixture rule (see the package comment) and returns the
// packed training stream, each document followed by eos.
func pack(srcs []mixSource, eos int32, seed int64) []int32 {
	targets := mixTargets(srcs)
	var chosen [][]int32
	var size int64
	for i, s := range srcs {
		if targets[i] == 0 || len(s.docs) == 0 {
			continue
		}
		st := rng.New(seed, "data/mix/"+s.name)
		var got int64
		for got < targets[i] {
			for _, j := range st.Perm(len(s.docs)) {
				chosen = append(chosen, s.docs[j])
				got += int64(len(s.docs[j])) + 1
				if got >= targets[i] {
					break
				}
			}
		}
		size += got
	}
	order := rng.New(seed, "data/mix/order").Perm(len(chosen))
	out := make([]int32, 0, size)
	for _, j := range order {
		out = append(out, chosen[j]...)
		out = append(out, eos)
	}
	return out
}

// concatDocs joins documents, each followed by eos, and returns the UTF-8
// byte count of the texts plus one per separator.
func concatDocs(tok [][]int32, texts []string, eos int32) ([]int32, int64) {
	var out []int32
	var nbytes int64
	for i, d := range tok {
		out = append(out, d...)
		out = append(out, eos)
		nbytes += int64(len(texts[i])) + 1
	}
	return out, nbytes
}
