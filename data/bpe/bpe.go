package bpe

import (
	"bytes"
	"container/heap"
	"fmt"
	"sort"
)

// TrainBPE learns byte-level BPE merges on texts until the vocabulary (256
// bytes, the two specials, and the merged tokens) holds vocab ids, or no
// pair is left.
//
// Texts are pre-tokenized (see Pretokenize) and the distinct chunks counted;
// each step merges the most frequent adjacent pair, counted over chunk
// frequencies. Ties go to the pair whose left token's bytes sort first, then
// the right token's, so the merges depend only on the text. Pair counts are
// updated incrementally for the chunks that contain the merged pair, so a
// step costs time in proportion to those chunks, not to the corpus.
func TrainBPE(texts []string, vocab int) (*Tokenizer, error) {
	t := NewByteTokenizer()
	if vocab < t.VocabSize() {
		return nil, fmt.Errorf("data: BPE vocab %d is below the %d byte and special tokens", vocab, t.VocabSize())
	}
	freq := map[string]int64{}
	for _, text := range texts {
		for s := text; len(s) > 0; {
			pos, sp := t.nextSpecial(s)
			for _, c := range Pretokenize(s[:pos]) {
				freq[c]++
			}
			if sp == nil {
				break
			}
			s = s[pos+len(sp.content):]
		}
	}
	uniq := make([]string, 0, len(freq))
	for w := range freq {
		uniq = append(uniq, w)
	}
	sort.Strings(uniq)

	b := &bpeTrainer{
		tok:    t,
		byStr:  map[string]int32{},
		counts: map[uint64]int64{},
		where:  map[uint64][]int32{},
		stamp:  make([]int32, len(uniq)),
	}
	for id := range int32(t.tokens.n()) {
		if tb := t.tokens.at(id); len(tb) > 0 {
			b.byStr[string(tb)] = id
		}
	}
	b.pq.tokens = &t.tokens
	for wi, w := range uniq {
		seq := make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			seq[i] = int32(w[i])
		}
		b.words = append(b.words, seq)
		b.freq = append(b.freq, freq[w])
		for i := 0; i+1 < len(seq); i++ {
			k := pairKey(seq[i], seq[i+1])
			b.counts[k] += freq[w]
			b.where[k] = append(b.where[k], int32(wi))
		}
	}
	for k, c := range b.counts {
		b.pq.items = append(b.pq.items, pairItem{c, int32(k >> 32), int32(uint32(k))})
	}
	heap.Init(&b.pq)
	for t.VocabSize() < vocab && b.step() {
	}
	return t, nil
}

type bpeTrainer struct {
	tok    *Tokenizer
	byStr  map[string]int32
	words  [][]int32
	freq   []int64
	counts map[uint64]int64
	where  map[uint64][]int32
	stamp  []int32
	pq     pairHeap
}

// step performs one merge; it reports false when no pair is left.
func (b *bpeTrainer) step() bool {
	var top pairItem
	for {
		if b.pq.Len() == 0 {
			return false
		}
		top = heap.Pop(&b.pq).(pairItem)
		if c := b.counts[pairKey(top.a, top.b)]; c == top.count && c > 0 {
			break
		}
	}
	t := b.tok
	x, y := top.a, top.b
	merged := string(t.tokens.at(x)) + string(t.tokens.at(y))
	id, ok := b.byStr[merged]
	if !ok {
		id = int32(t.tokens.n())
		t.tokens.add([]byte(merged))
		b.byStr[merged] = id
	}
	rank := int32(len(t.merges))
	t.merges = append(t.merges, [2]int32{x, y})
	t.rules[pairKey(x, y)] = mergeRule{rank: rank, id: id}

	key := pairKey(x, y)
	delta := map[uint64]int64{}
	for _, wi := range b.where[key] {
		if b.stamp[wi] == rank+1 {
			continue
		}
		b.stamp[wi] = rank + 1
		seq := b.words[wi]
		if !hasPair(seq, x, y) {
			continue
		}
		f := b.freq[wi]
		for i := 0; i+1 < len(seq); i++ {
			delta[pairKey(seq[i], seq[i+1])] -= f
		}
		out := make([]int32, 0, len(seq)-1)
		for i := 0; i < len(seq); i++ {
			if i+1 < len(seq) && seq[i] == x && seq[i+1] == y {
				out = append(out, id)
				i++
			} else {
				out = append(out, seq[i])
			}
		}
		for i := 0; i+1 < len(out); i++ {
			k := pairKey(out[i], out[i+1])
			delta[k] += f
			if out[i] == id || out[i+1] == id {
				b.where[k] = append(b.where[k], wi)
			}
		}
		b.words[wi] = out
	}
	delete(b.where, key)
	for k, d := range delta {
		if d == 0 {
			continue
		}
		c := b.counts[k] + d
		if c <= 0 {
			delete(b.counts, k)
			continue
		}
		b.counts[k] = c
		heap.Push(&b.pq, pairItem{c, int32(k >> 32), int32(uint32(k))})
	}
	return true
}

func hasPair(seq []int32, x, y int32) bool {
	for i := 0; i+1 < len(seq); i++ {
		if seq[i] == x && seq[i+1] == y {
			return true
		}
	}
	return false
}

type pairItem struct {
	count int64
	a, b  int32
}

// pairHeap pops the most frequent pair, ties broken by the bytes of the left
// then the right token. Distinct ids have distinct bytes, so the order is
// total and the pop sequence does not depend on push order.
type pairHeap struct {
	items  []pairItem
	tokens *vocab
}

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	p, q := h.items[i], h.items[j]
	if p.count != q.count {
		return p.count > q.count
	}
	tk := h.tokens
	if c := bytes.Compare(tk.at(p.a), tk.at(q.a)); c != 0 {
		return c < 0
	}
	return bytes.Compare(tk.at(p.b), tk.at(q.b)) < 0
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
}
