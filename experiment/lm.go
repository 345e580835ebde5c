package experiment

import (
	"fmt"
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
}

// NewModelLM returns an adapter with n replicas of m (n ≥ 1).
func NewModelLM(m *models.Model, qc configs.QuantConfig, tok tasks.Tokenizer, n int) (*ModelLM, error) {
	if n < 1 {
		n = 1
	}
	lm := &ModelLM{tok: tok, maxLen: m.Config().Context, replicas: make(chan *models.Model, n)}
	m.SetThreads(1)
	lm.replicas <- m
	for i := 1; i < n; i++ {
		r, err := Replica(m, qc)
		if err != nil {
			return nil, err
		}
		lm.replicas <- r
	}
	return lm, nil
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

// Score implements tasks.LM. Requests of equal input length run as one
// batched forward pass (up to scoreBatch at a time); the values do not
// depend on the batching because every sequence's computation is
// independent and fixed in order.
func (l *ModelLM) Score(reqs []tasks.ScoreRequest) ([]tasks.ScoreResult, error) {
	m := <-l.replicas
	defer func() { l.replicas <- m }()
	out := make([]tasks.ScoreResult, len(reqs))
	vocab := m.Config().Vocab
	byLen := map[int][]int{}
	var lens []int
	for i, r := range reqs {
		if len(r.Input) == 0 {
			return nil, fmt.Errorf("score request %d: empty input", i)
		}
		if len(r.Input) > l.maxLen {
			return nil, fmt.Errorf("score request %d: %d tokens exceed the model context %d", i, len(r.Input), l.maxLen)
		}
		if byLen[len(r.Input)] == nil {
			lens = append(lens, len(r.Input))
		}
		byLen[len(r.Input)] = append(byLen[len(r.Input)], i)
	}
	const scoreBatch = 16
	for _, n := range lens {
		idx := byLen[n]
		for lo := 0; lo < len(idx); lo += scoreBatch {
			group := idx[lo:min(lo+scoreBatch, len(idx))]
			toks := make([]int32, 0, len(group)*n)
			for _, i := range group {
				toks = append(toks, reqs[i].Input...)
			}
			logits, err := m.Logits(toks, len(group), n)
			if err != nil {
				return nil, err
			}
			for b, i := range group {
				r := reqs[i]
				res := tasks.ScoreResult{Greedy: true}
				for j, t := range r.Targets {
					pos := r.Start + j
					if pos < 0 || pos >= n {
						return nil, fmt.Errorf("score request %d: target %d at position %d outside input of %d tokens", i, j, pos, n)
					}
					row := logits[(b*n+pos)*vocab : (b*n+pos+1)*vocab]
					ll, greedy := logSoftmaxAt(row, int(t))
					res.LogLik += ll
					res.Greedy = res.Greedy && greedy
				}
				out[i] = res
			}
		}
	}
	return out, nil
}

// logSoftmaxAt returns log softmax(row)[t] (float64 accumulation in index
// order, shifted by the row's maximum row[vec.Argmax(row)]) and whether t is
// the row's argmax (vec.Argmax: the first maximum on ties).
func logSoftmaxAt(row []float32, t int) (float64, bool) {
	arg := vec.Argmax(row)
	mx := row[arg]
	var s float64
	for _, v := range row {
		s += kernels.Exp(float64(v - mx))
	}
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
