package llama2c

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// Special token ids of llama2.c's SentencePiece vocabularies.
const (
	BOS int32 = 1 // beginning of sequence; generation stops when it is sampled
	EOS int32 = 2 // end of sequence
)

// byteOffset is the id of the piece <0x00>: byte b falls back to id b+3.
const byteOffset = 3

// Tokenizer is a llama2.c tokenizer.bin vocabulary: one piece and one merge
// score per token id.
type Tokenizer struct {
	Pieces         []string
	Scores         []float32
	MaxTokenLength int
	lookup         map[string]int32
}

// ReadTokenizer parses llama2.c's tokenizer.bin format (int32
// max_token_length, then per token: float32 score, int32 length, bytes)
// holding exactly vocab tokens.
func ReadTokenizer(path string, vocab int) (*Tokenizer, error) {
	if vocab < byteOffset+256 {
		return nil, fmt.Errorf("llama2c: tokenizer vocab %d too small, want at least %d (3 specials + 256 byte pieces)", vocab, byteOffset+256)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: read tokenizer: %w", err)
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("llama2c: tokenizer %s is %d bytes, shorter than its 4-byte header", path, len(b))
	}
	t := &Tokenizer{
		Pieces:         make([]string, vocab),
		Scores:         make([]float32, vocab),
		MaxTokenLength: int(int32(binary.LittleEndian.Uint32(b))),
		lookup:         make(map[string]int32, vocab),
	}
	if t.MaxTokenLength <= 0 || t.MaxTokenLength > 1<<16 {
		return nil, fmt.Errorf("llama2c: tokenizer %s: max_token_length %d, want 1..65536", path, t.MaxTokenLength)
	}
	off := 4
	for i := range vocab {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("llama2c: tokenizer %s is truncated at token %d of %d (offset %d)", path, i, vocab, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		n := int(int32(binary.LittleEndian.Uint32(b[off+4:])))
		off += 8
		if n < 0 || n > t.MaxTokenLength {
			return nil, fmt.Errorf("llama2c: tokenizer %s: token %d has length %d, want 0..%d (max_token_length)", path, i, n, t.MaxTokenLength)
		}
		if len(b)-off < n {
			return nil, fmt.Errorf("llama2c: tokenizer %s is truncated inside token %d of %d", path, i, vocab)
		}
		if score != score {
			return nil, fmt.Errorf("llama2c: tokenizer %s: token %d has a NaN score", path, i)
		}
		t.Scores[i] = score
		t.Pieces[i] = string(b[off : off+n])
		off += n
		// On duplicate pieces the lowest id wins.
		if _, dup := t.lookup[t.Pieces[i]]; !dup {
			t.lookup[t.Pieces[i]] = int32(i)
		}
	}
	if off != len(b) {
		return nil, fmt.Errorf("llama2c: tokenizer %s has %d bytes after its %d tokens; is the vocab size right?", path, len(b)-off, vocab)
	}
	for v := range 256 {
		if want := fmt.Sprintf("<0x%02X>", v); t.Pieces[byteOffset+v] != want {
			return nil, fmt.Errorf("llama2c: tokenizer %s: token %d is %q, want the byte piece %q", path, byteOffset+v, t.Pieces[byteOffset+v], want)
		}
	}
	return t, nil
}

// Vocab returns the number of tokens.
func (t *Tokenizer) Vocab() int { return len(t.Pieces) }

// Lookup returns the id of a piece, or -1 when it is not in the vocabulary.
func (t *Tokenizer) Lookup(piece string) int32 {
	if id, ok := t.lookup[piece]; ok {
		return id
	}
	return -1
}

// Decode returns the bytes that token tok stands for after token prev, as
// run.c's decode: after BOS a leading space is stripped; a piece <0xNN> is
// the raw byte NN. An id outside the vocabulary decodes to "".
func (t *Tokenizer) Decode(prev, tok int32) string {
	if tok < 0 || int(tok) >= len(t.Pieces) {
		return ""
	}
	p := t.Pieces[tok]
	if prev == BOS && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	if v, ok := bytePiece(p); ok {
		return string([]byte{v})
	}
	return p
}

// bytePiece parses "<0xNN>" (hex, either case).
func bytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(p[3])
	lo, ok2 := hexVal(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Encode tokenizes text as run.c's encode: optional BOS, the dummy-prefix
// piece " " when text is non-empty (skipped if the vocabulary lacks it), one token per UTF-8 codepoint (unknown
// codepoints fall back to their bytes, id byte+3), then repeated merging of
// the adjacent pair whose concatenation is the highest-scoring piece (the
// leftmost such pair on ties), then optional EOS.
//
// The merge loop is run.c's, computed with a priority queue over a linked
// list instead of rescanning every pair, so long texts encode in
// O(n log n); the result is the same token sequence.
func (t *Tokenizer) Encode(text string, bos, eos bool) []int32 {
	var toks []int32
	if bos {
		toks = append(toks, BOS)
	}
	if text != "" {
		if id := t.Lookup(" "); id >= 0 {
			toks = append(toks, id)
		}
	}
	for i := 0; i < len(text); {
		// A codepoint is a lead byte plus continuation bytes, at most 4.
		j := i + 1
		for j < len(text) && text[j]&0xC0 == 0x80 && j-i < 4 {
			j++
		}
		if id := t.Lookup(text[i:j]); id >= 0 {
			toks = append(toks, id)
		} else {
			for k := i; k < j; k++ {
				toks = append(toks, int32(text[k])+byteOffset)
			}
		}
		i = j
	}
	toks = t.merge(toks)
	if eos {
		toks = append(toks, EOS)
	}
	return toks
}

// mergeFloor is run.c's initial best score: a pair scoring at or below it
// is never merged.
const mergeFloor = float32(-1e10)

// candidate is a possible merge of node left with its right neighbour.
type candidate struct {
	score float32
	left  int   // node index; node indices increase left to right
	id    int32 // merged piece
	verL  int   // versions of the two nodes at creation, to discard
	verR  int   // entries made stale by a later merge
}

type candHeap []candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].score != h[j].score {
		return h[i].score > h[j].score
	}
	return h[i].left < h[j].left
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// merge applies run.c's greedy pair merging. Tokens live in a doubly linked
// list whose node indices keep their original order, so "leftmost pair"
// is "smallest node index".
func (t *Tokenizer) merge(toks []int32) []int32 {
	n := len(toks)
	if n < 2 {
		return toks
	}
	next := make([]int, n)
	prev := make([]int, n)
	ver := make([]int, n) // bumped whenever a node's token changes or it dies
	alive := make([]bool, n)
	for i := range n {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	next[n-1] = -1
	h := &candHeap{}
	push := func(a int) {
		if a < 0 || next[a] < 0 {
			return
		}
		b := next[a]
		id := t.Lookup(t.Pieces[toks[a]] + t.Pieces[toks[b]])
		if id < 0 || !(t.Scores[id] > mergeFloor) {
			return
		}
		heap.Push(h, candidate{score: t.Scores[id], left: a, id: id, verL: ver[a], verR: ver[b]})
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(h).(candidate)
		a := c.left
		if !alive[a] || next[a] < 0 || ver[a] != c.verL || ver[next[a]] != c.verR {
			continue
		}
		b := next[a]
		toks[a] = c.id
		ver[a]++
		alive[b] = false
		ver[b]++
		next[a] = next[b]
		if next[b] >= 0 {
			prev[next[b]] = a
		}
		if prev[a] >= 0 {
			push(prev[a])
		}
		push(a)
	}
	out := toks[:0:0]
	for i := 0; i >= 0; i = next[i] {
		out = append(out, toks[i])
	}
	return out
}
