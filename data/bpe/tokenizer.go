package bpe

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Special tokens: EOS separates documents, BOS may start a sequence. In
// tokenizers built here they take ids 256 and 257, right after the bytes.
const (
	EOSToken = "<|endoftext|>"
	BOSToken = "<|bos|>"
)

// Tokenizer kinds.
const (
	KindBPE  = "bpe"
	KindByte = "byte"
)

// Merge is one BPE merge rule: the token Left followed by Right becomes one
// token. Left and Right are raw bytes (not the byte-level strings).
type Merge struct {
	Left, Right string
}

type mergeRule struct {
	rank, id int32
}

// Tokenizer is a byte-level BPE tokenizer. With no merges it is the byte
// tokenizer: one token per byte, plus the specials. Encode and Decode are
// safe for concurrent use.
type Tokenizer struct {
	tokens   vocab // id → raw bytes (empty for specials)
	specials []special
	merges   [][2]int32           // rank → the ids of the left and right tokens
	rules    map[uint64]mergeRule // pair → (rank, merged id)
	eos, bos int32

	cache     sync.Map // chunk → []int32
	cacheSize atomic.Int64
}

type special struct {
	id      int32
	content string
}

const maxCacheEntries = 1 << 18

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// vocab holds the tokens' raw bytes back to back, token id at
// buf[off[id]:off[id+1]] (a special token's range is empty): two
// allocations for the whole vocabulary rather than one per token.
type vocab struct {
	buf []byte
	off []uint32 // len = tokens + 1
}

// n is the number of tokens.
func (v *vocab) n() int { return max(len(v.off)-1, 0) }

// at is the raw bytes of token id (empty for a special).
func (v *vocab) at(id int32) []byte { return v.buf[v.off[id]:v.off[id+1]:v.off[id+1]] }

// add appends a token of raw bytes b (none for a special).
func (v *vocab) add(b []byte) {
	if len(v.off) == 0 {
		v.off = append(v.off, 0)
	}
	v.buf = append(v.buf, b...)
	v.off = append(v.off, uint32(len(v.buf)))
}

// NewByteTokenizer returns the byte tokenizer: ids 0–255 are the bytes,
// 256 is EOS and 257 is BOS.
func NewByteTokenizer() *Tokenizer {
	t := &Tokenizer{rules: map[uint64]mergeRule{}}
	for b := 0; b < 256; b++ {
		t.tokens.add([]byte{byte(b)})
	}
	t.addSpecial(EOSToken)
	t.addSpecial(BOSToken)
	t.eos, t.bos = 256, 257
	return t
}

func (t *Tokenizer) addSpecial(content string) {
	id := int32(t.tokens.n())
	t.tokens.add(nil)
	t.specials = append(t.specials, special{id, content})
}

// VocabSize is the number of token ids (bytes, merges and specials).
func (t *Tokenizer) VocabSize() int { return t.tokens.n() }

// EOS is the id of <|endoftext|>.
func (t *Tokenizer) EOS() int32 { return t.eos }

// BOS is the id of <|bos|>, or -1 when the vocabulary has none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// Merges returns the merge rules in rank order.
func (t *Tokenizer) Merges() []Merge {
	out := make([]Merge, len(t.merges))
	for i, m := range t.merges {
		out[i] = Merge{Left: string(t.tokens.at(m[0])), Right: string(t.tokens.at(m[1]))}
	}
	return out
}

// Kind is "byte" for a tokenizer without merges and "bpe" otherwise.
func (t *Tokenizer) Kind() string {
	if len(t.merges) == 0 {
		return KindByte
	}
	return KindBPE
}

// Token returns the text of one id: its raw bytes, or a special token's
// content. It returns "" for an id outside the vocabulary.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= t.tokens.n() {
		return ""
	}
	if len(t.tokens.at(id)) == 0 {
		for _, s := range t.specials {
			if s.id == id {
				return s.content
			}
		}
	}
	return string(t.tokens.at(id))
}

// Decode concatenates the tokens' bytes; special tokens decode to their
// content and ids outside the vocabulary to nothing.
func (t *Tokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(t.Token(id))
	}
	return sb.String()
}

// Encode tokenizes s. Literal special-token strings become their ids; the
// rest is pre-tokenized and each chunk merged by rank. Decode(Encode(s)) == s
// for every byte string s.
func (t *Tokenizer) Encode(s string) []int32 {
	var out []int32
	for len(s) > 0 {
		pos, sp := t.nextSpecial(s)
		for _, c := range Pretokenize(s[:pos]) {
			out = append(out, t.encodeChunk(c)...)
		}
		if sp == nil {
			break
		}
		out = append(out, sp.id)
		s = s[pos+len(sp.content):]
	}
	return out
}

func (t *Tokenizer) nextSpecial(s string) (int, *special) {
	best, bi := len(s), -1
	if !strings.Contains(s, "<|") {
		return best, nil
	}
	for i := range t.specials {
		if p := strings.Index(s, t.specials[i].content); p >= 0 && p < best {
			best, bi = p, i
		}
	}
	if bi < 0 {
		return best, nil
	}
	return best, &t.specials[bi]
}

func (t *Tokenizer) encodeChunk(c string) []int32 {
	if len(t.rules) == 0 || len(c) == 1 {
		ids := make([]int32, len(c))
		for i := 0; i < len(c); i++ {
			ids[i] = int32(c[i])
		}
		return ids
	}
	if v, ok := t.cache.Load(c); ok {
		return v.([]int32)
	}
	ids := make([]int32, len(c))
	for i := 0; i < len(c); i++ {
		ids[i] = int32(c[i])
	}
	for len(ids) > 1 {
		best := mergeRule{rank: -1}
		var a, b int32
		for i := 0; i+1 < len(ids); i++ {
			if r, ok := t.rules[pairKey(ids[i], ids[i+1])]; ok && (best.rank < 0 || r.rank < best.rank) {
				best, a, b = r, ids[i], ids[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		w := 0
		for i := 0; i < len(ids); i++ {
			if i+1 < len(ids) && ids[i] == a && ids[i+1] == b {
				ids[w] = best.id
				i++
			} else {
				ids[w] = ids[i]
			}
			w++
		}
		ids = ids[:w]
	}
	if t.cacheSize.Load() < maxCacheEntries {
		if _, loaded := t.cache.LoadOrStore(c, ids); !loaded {
			t.cacheSize.Add(1)
		}
	}
	return ids
}

func (t *Tokenizer) resetCache() {
	t.cache.Clear()
	t.cacheSize.Store(0)
}
