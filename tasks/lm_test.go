package tasks

import (
	"strings"
	"sync"

	"github.com/nanomamba-edge/harness/kernels"
)

// byteTok encodes text as UTF-8 bytes; BOS = 256, EOS = 257.
type byteTok struct{}

func (byteTok) Encode(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

func (byteTok) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}
func (byteTok) EOS() int32 { return 257 }
func (byteTok) BOS() int32 { return 256 }

const byteVocab = 258

// wordTok splits into GPT-2-like pieces: a word with its leading space,
// or a run of whitespace not followed by a word. Ids are assigned on first use.
type wordTok struct {
	mu  sync.Mutex
	ids map[string]int32
	rev []string
}

func newWordTok() *wordTok { return &wordTok{ids: map[string]int32{}} }

func (t *wordTok) id(p string) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[p]; ok {
		return id
	}
	t.ids[p] = int32(len(t.rev) + 2)
	t.rev = append(t.rev, p)
	return t.ids[p]
}

func (t *wordTok) Encode(s string) []int32 {
	var out []int32
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j > i && (j == len(s) || j-i > 1) {
			// whitespace run at the end, or all but the last space of a run
			k := j
			if j < len(s) {
				k = j - 1
			}
			out = append(out, t.id(s[i:k]))
			i = k
			continue
		}
		k := j
		for k < len(s) && s[k] != ' ' {
			k++
		}
		out = append(out, t.id(s[i:k]))
		i = k
	}
	return out
}

func (t *wordTok) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		if id >= 2 {
			sb.WriteString(t.rev[id-2])
		}
	}
	return sb.String()
}
func (t *wordTok) EOS() int32 { return 0 }
func (t *wordTok) BOS() int32 { return 1 }

// closedLM scores with a closed-form log-probability of a target token given
// the input it follows; greedy is whether the target is argmax.
type closedLM struct {
	tok    Tokenizer
	maxLen int
	logp   func(input []int32, pos int, target int32) (float64, bool)
	gen    string

	mu    sync.Mutex
	calls [][]ScoreRequest
}

func (m *closedLM) Tokenizer() Tokenizer { return m.tok }
func (m *closedLM) MaxLength() int       { return m.maxLen }
func (m *closedLM) Score(reqs []ScoreRequest) ([]ScoreResult, error) {
	m.mu.Lock()
	m.calls = append(m.calls, reqs)
	m.mu.Unlock()
	out := make([]ScoreResult, len(reqs))
	for i, r := range reqs {
		out[i].Greedy = true
		for j, t := range r.Targets {
			lp, g := m.logp(r.Input, r.Start+j, t)
			out[i].LogLik += lp
			out[i].Greedy = out[i].Greedy && g
		}
	}
	return out, nil
}
func (m *closedLM) Generate(ctx []int32, maxTokens int, until []string) (string, error) {
	return m.gen, nil
}

// uniformLM gives every token log(1/V); token 0 is the (tied) argmax.
func uniformLM(maxLen int) *closedLM {
	lv := kernels.Log(byteVocab)
	return &closedLM{tok: byteTok{}, maxLen: maxLen, logp: func(_ []int32, _ int, t int32) (float64, bool) {
		return -lv, t == 0
	}}
}

// unigramLM gives byte b the probability p[b] (the rest share what is left
// evenly over the other byte values); the argmax is the most probable byte.
func unigramLM(maxLen int, p map[byte]float64) *closedLM {
	rest := 1.0
	best, bestP := byte(0), -1.0
	for b, q := range p {
		rest -= q
		if q > bestP || (q == bestP && b < best) {
			best, bestP = b, q
		}
	}
	other := rest / float64(byteVocab-len(p))
	return &closedLM{tok: byteTok{}, maxLen: maxLen, logp: func(_ []int32, _ int, t int32) (float64, bool) {
		if q, ok := p[byte(t)]; ok {
			return kernels.Log(q), byte(t) == best && t < 256
		}
		return kernels.Log(other), false
	}}
}
