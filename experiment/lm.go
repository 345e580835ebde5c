package experiment

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/tasks"
)

// ModelLM adapts a model and tokenizer to the task runner. Each concurrent
// caller gets its own replica of the model (the model reuses activation
// buffers), so results do not depend on the number of eval threads.
type ModelLM struct {
	tok      tasks.Tokenizer
	maxLen   int
	replicas chan *models.Model
	// scorers holds each replica's prefix scorer (read-only once built;
	// a replica and its scorer are used by one caller at a time).
	scorers map[*models.Model]*models.PrefixScorer
}

// NewModelLM returns an adapter with n replicas of m (n ≥ 1). m becomes
// the first replica: its weights must not change while the adapter is in
// use (its scorer packs them once; models.PrefixScorer.SetStatic).
func NewModelLM(m *models.Model, qc configs.QuantConfig, tok tasks.Tokenizer, n int) (*ModelLM, error) {
	if n < 1 {
		n = 1
	}
	lm := &ModelLM{tok: tok, maxLen: m.Config().Context, replicas: make(chan *models.Model, n), scorers: map[*models.Model]*models.PrefixScorer{}}
	m.SetThreads(1)
	lm.replicas <- m
	lm.scorers[m] = staticScorer(m)
	for i := 1; i < n; i++ {
		r, err := Replica(m, qc)
		if err != nil {
			return nil, err
		}
		lm.replicas <- r
		lm.scorers[r] = staticScorer(r)
	}
	return lm, nil
}

// staticScorer is a prefix scorer that packs m's weights once: the
// adapter's models are evaluated, never trained, while it is in use.
func staticScorer(m *models.Model) *models.PrefixScorer {
	ps := models.NewPrefixScorer(m)
	ps.SetStatic(true)
	return ps
}

// Replica copies a model's weights and quantization state into a new model.
func Replica(m *models.Model, qc configs.QuantConfig) (*models.Model, error) {
	r, err := models.New(m.Config(), qc, 0)
	if err != nil {
		return nil, err
	}
	for i, p := range r.Params() {
		copy(p.Data, m.Params()[i].Data)
	}
	r.SetQuant(m.Quant())
	r.SetThreads(1)
	return r, nil
}

// Tokenizer implements tasks.LM.
func (l *ModelLM) Tokenizer() tasks.Tokenizer { return l.tok }

// MaxLength implements tasks.LM.
func (l *ModelLM) MaxLength() int { return l.maxLen }

// scoreRows is the number of token rows (sequences × padded length) one
// batched forward pass of Score holds at most: 2**21 logits (8 MiB; the
// distinct prefixes of a pass, whose logits it keeps, are at most as many
// as its rows), between 16 and 1024 rows; 1024 for tiny's vocabulary of
// 2048.
func scoreRows(vocab int) int { return max(16, min(1024, (1<<21)/max(1, vocab))) }

// scoreBucket is the padded length a request of n input tokens runs at:
// n rounded up to a multiple of 4 up to 16, then to a quarter of the next
// power of two at or above it (20, 24, 28, 32, 40, …), at most maxLen.
// Few distinct shapes keep the model's activation buffers in use from one
// pass to the next; the padding wastes at most a quarter of a pass.
func scoreBucket(n, maxLen int) int {
	step := 4
	for p := 16; p < n; p *= 2 {
		step = p / 4
	}
	return min(maxLen, (n+step-1)/step*step)
}

// Score implements tasks.LM. The requests are sorted by padded input length
// (scoreBucket), then by their tokens, and run as batched forward passes of
// equal padded length, up to scoreRows rows at a time; each input is padded
// at its end. A pass
// computes each distinct prefix of its inputs once (models.PrefixScorer:
// BLiMP's minimal pairs and the choices of a multiple-choice question share
// their beginnings) and each distinct (prefix, target) log-softmax once.
// The scores do not depend on the batching, the padding or the sharing:
// every sequence's computation is independent of the others, the model is
// causal (a position never reads a later one), each position's values are
// computed by the same per-row operations whatever row holds them, and
// each value is a fixed-order chain in which the padding only appends
// exact zero terms (attention probabilities and SSD decays above the
// diagonal), which leave it unchanged. TestScoreMatchesUnbatched checks
// this bit for bit on the shipped tasks.
func (l *ModelLM) Score(reqs []tasks.ScoreRequest) ([]tasks.ScoreResult, error) {
	for i, r := range reqs {
		if len(r.Input) == 0 {
			return nil, fmt.Errorf("score request %d: empty input", i)
		}
		if len(r.Input) > l.maxLen {
			return nil, fmt.Errorf("score request %d: %d tokens exceed the model context %d", i, len(r.Input), l.maxLen)
		}
		if len(r.Targets) == 0 {
			continue
		}
		if r.Start < 0 || r.Start+len(r.Targets) > len(r.Input) {
			return nil, fmt.Errorf("score request %d: targets at positions [%d, %d) outside input of %d tokens", i, r.Start, r.Start+len(r.Targets), len(r.Input))
		}
	}
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	// By padded length, then by tokens, so that inputs sharing a beginning
	// run in one pass.
	bucket := func(i int) int { return scoreBucket(len(reqs[i].Input), l.maxLen) }
	sort.SliceStable(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if ta, tb := bucket(ia), bucket(ib); ta != tb {
			return ta < tb
		}
		return slices.Compare(reqs[ia].Input, reqs[ib].Input) < 0
	})
	m := <-l.replicas
	defer func() { l.replicas <- m }()
	ps := l.scorers[m]
	out := make([]tasks.ScoreResult, len(reqs))
	vocab := m.Config().Vocab
	var toks []int32
	var lens []int
	var stats []rowStats
	for lo := 0; lo < len(order); {
		T := bucket(order[lo])
		per := max(1, scoreRows(vocab)/T)
		hi := lo
		for hi < len(order) && hi-lo < per && bucket(order[hi]) == T {
			hi++
		}
		group := order[lo:hi]
		toks, lens = toks[:0], lens[:0]
		for _, i := range group {
			toks = append(toks, reqs[i].Input...)
			for k := len(reqs[i].Input); k < T; k++ {
				toks = append(toks, 0)
			}
			lens = append(lens, len(reqs[i].Input))
		}
		logits, node, err := ps.PrefixLogits(toks, lens, len(group), T)
		if err != nil {
			return nil, err
		}
		stats = slices.Grow(stats[:0], len(logits)/vocab)[:len(logits)/vocab]
		for u := range stats {
			stats[u].arg = -1
		}
		for b, i := range group {
			r := reqs[i]
			res := tasks.ScoreResult{Greedy: true}
			for j, t := range r.Targets {
				u := node[b*T+r.Start+j]
				ll, greedy := stats[u].logSoftmaxAt(logits[int(u)*vocab:(int(u)+1)*vocab], int(t))
				res.LogLik += ll
				res.Greedy = res.Greedy && greedy
			}
			out[i] = res
		}
		lo = hi
	}
	return out, nil
}

// rowStats caches what logSoftmaxAt computes of a logits row for any
// target: its argmax (−1: not yet computed), maximum and log-denominator.
type rowStats struct {
	arg  int
	mx   float32
	logS float64
}

// logSoftmaxAt is logSoftmaxAt(row, t), computing the row's statistics on
// first use: the same operations, so the same bits.
func (s *rowStats) logSoftmaxAt(row []float32, t int) (float64, bool) {
	if s.arg < 0 {
		s.arg = vec.Argmax(row)
		s.mx = row[s.arg]
		s.logS = kernels.Log(vec.SumExpNonPos(row, s.mx))
	}
	return float64(row[t]-s.mx) - s.logS, s.arg == t
}

// logSoftmaxAt returns log softmax(row)[t] (float64 accumulation in index
// order of kernels.ExpNonPos(float64(v − mx)), shifted by the row's maximum
// mx = row[vec.Argmax(row)]: vec.SumExpNonPos, bit for bit that loop) and
// whether t is the row's argmax (vec.Argmax: the first maximum on ties).
func logSoftmaxAt(row []float32, t int) (float64, bool) {
	arg := vec.Argmax(row)
	mx := row[arg]
	s := vec.SumExpNonPos(row, mx)
	return float64(row[t]-mx) - kernels.Log(s), arg == t
}

// Generate implements tasks.LM: greedy decoding (models.Model.Greedy)
// through the recurrent path. The context keeps its last model.context −
// maxTokens tokens; generation stops at EOS, after maxTokens tokens, when
// the sequence fills the context, or at the first stop string, where the
// text is cut.
func (l *ModelLM) Generate(ctx []int32, maxTokens int, until []string) (string, error) {
	m := <-l.replicas
	defer func() { l.replicas <- m }()
	if keep := l.maxLen - maxTokens; keep > 0 && len(ctx) > keep {
		ctx = ctx[len(ctx)-keep:]
	}
	st := m.NewState()
	var logits []float32
	var err error
	for _, t := range ctx {
		if logits, err = m.Step(st, t); err != nil {
			return "", err
		}
	}
	text, cut := "", -1
	_, err = m.Greedy(st, logits, maxTokens, l.tok.EOS(), func(gen []int32) bool {
		text = l.tok.Decode(gen)
		cut = firstStop(text, until)
		return cut >= 0
	})
	if err != nil {
		return "", err
	}
	if cut >= 0 {
		return text[:cut], nil
	}
	return text, nil
}

func firstStop(s string, until []string) int {
	cut := -1
	for _, u := range until {
		if u == "" {
			continue
		}
		if i := strings.Index(s, u); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	return cut
}
