package configs

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// ValidationError lists every problem found in a config.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid config:\n  " + strings.Join(e.Problems, "\n  ")
}

// WeightKinds are the valid qat.phases[].weights values.
var WeightKinds = []string{"float", "int4", "int2", "ternary"}

// Normalize resolves equivalent spellings into one: attention depth
// fractions become layer indices and indices are sorted, so both spellings
// give the same hash.
func (c *Config) Normalize() error {
	m := &c.Model
	set := map[int]bool{}
	for _, l := range m.AttnLayers {
		set[l] = true
	}
	for i, f := range m.AttnFractions {
		if f < 0 || f >= 1 || math.IsNaN(f) {
			return &ValidationError{[]string{fmt.Sprintf("model.attn_fractions[%d] = %v: must be in [0, 1)", i, f)}}
		}
		set[int(math.Floor(f*float64(m.NLayers)))] = true
	}
	m.AttnLayers = m.AttnLayers[:0]
	for l := range set {
		m.AttnLayers = append(m.AttnLayers, l)
	}
	sort.Ints(m.AttnLayers)
	if m.AttnLayers == nil {
		m.AttnLayers = []int{}
	}
	m.AttnFractions = []float64{}
	if c.Eval.Tasks == nil {
		c.Eval.Tasks = []string{}
	}
	c.normalizeExtensions()
	return nil
}

// Upper bounds of the sizes in a config. They keep every derived size and
// parameter count far from integer overflow and every allocation sane; the
// presets are well inside them.
const (
	MaxDModel    = 16384   // model.d_model
	MaxLayers    = 1024    // model.n_layers
	MaxVocab     = 1 << 20 // model.vocab
	MaxContext   = 1 << 17 // model.context, data.seq_len, train.sample_tokens
	MaxHeads     = 1024    // model.n_heads, model.n_kv_heads
	MaxDState    = 1024    // model.d_state
	MaxExpand    = 16      // model.expand
	MaxHeadDim   = 4096    // model.head_dim
	MaxGroups    = 1024    // model.n_groups
	MaxChunk     = 1024    // model.chunk
	MaxDFF       = 65536   // model.d_ff
	MaxDConv     = 8       // model.d_conv
	MaxBatch     = 1 << 16 // train.batch_size
	MaxThreads   = 4096    // train.threads
	MaxShots     = 100     // eval.shots
	MaxTokens    = 1 << 40 // train.tokens, and every step or token count in train
	MaxDocuments = 1 << 30 // eval.limit, data.min_chars
)

// interval is a range of valid floats; hiName, when set, names the upper
// bound in messages (e.g. "train.lr = 0.003").
type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
	hiName         string
}

func (r interval) contains(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if v < r.lo || (r.loOpen && v == r.lo) || v > r.hi || (r.hiOpen && v == r.hi) {
		return false
	}
	return true
}

func (r interval) String() string {
	l, h := "[", "]"
	if r.loOpen {
		l = "("
	}
	if r.hiOpen {
		h = ")"
	}
	hi := fmt.Sprint(r.hi)
	if r.hiName != "" {
		hi = r.hiName
	}
	return fmt.Sprintf("%s%v, %s%s", l, r.lo, hi, h)
}

// Validate checks every value against what is allowed and reports all
// problems at once, each naming the key, the value and the valid range.
// Every float must be finite and every size within its Max* bound.
func (c *Config) Validate() error {
	var p []string
	bad := func(key string, val any, why string) { p = append(p, fmt.Sprintf("%s = %v: %s", key, val, why)) }
	// num reports a float outside r (NaN and ±Inf are always outside).
	num := func(key string, v float64, r interval) bool {
		if !r.contains(v) {
			bad(key, v, "must be a finite number in "+r.String())
			return false
		}
		return true
	}
	// size reports an integer outside [lo, hi]; hiName names hi when it is
	// another key's value.
	size := func(key string, v, lo, hi int64, hiName string) bool {
		if v < lo || v > hi {
			h := fmt.Sprint(hi)
			if hiName != "" {
				h = fmt.Sprintf("%s = %d", hiName, hi)
			}
			bad(key, v, fmt.Sprintf("must be in [%d, %s]", lo, h))
			return false
		}
		return true
	}
	// used is size for a key the architecture uses; unused keys are only
	// held to the upper bound (an unused zero is fine).
	used := func(use bool, key string, v int, hi int64) bool {
		if use || int64(v) > hi {
			return size(key, int64(v), 1, hi, "")
		}
		return true
	}
	m := c.Model
	okD := size("model.d_model", int64(m.DModel), 1, MaxDModel, "")
	size("model.n_layers", int64(m.NLayers), 1, MaxLayers, "")
	if m.Vocab < 258 || m.Vocab > MaxVocab {
		bad("model.vocab", m.Vocab, fmt.Sprintf("must be in [258, %d] (the tokenizers need 256 bytes + 2 special tokens)", MaxVocab))
	}
	okCtx := size("model.context", int64(m.Context), 1, MaxContext, "")
	for i, l := range m.AttnLayers {
		if l < 0 || l >= m.NLayers {
			bad(fmt.Sprintf("model.attn_layers[%d]", i), l, fmt.Sprintf("layer index must be in [0, %d) (model.n_layers = %d)", m.NLayers, m.NLayers))
		}
	}
	for i, f := range m.AttnFractions { // Normalize clears them; checked for configs that skip it
		num(fmt.Sprintf("model.attn_fractions[%d]", i), f, interval{lo: 0, hi: 1, hiOpen: true})
	}
	attn := len(m.AttnLayers) > 0
	okH := used(attn, "model.n_heads", m.NHeads, MaxHeads)
	okKV := used(attn, "model.n_kv_heads", m.NKVHeads, MaxHeads)
	if attn {
		if okD && okH && m.DModel%m.NHeads != 0 {
			bad("model.n_heads", m.NHeads, fmt.Sprintf("must divide model.d_model (%d)", m.DModel))
		} else if okD && okH && (m.DModel/m.NHeads)%2 != 0 {
			bad("model.n_heads", m.NHeads, fmt.Sprintf("head size d_model/n_heads = %d must be even for RoPE", m.DModel/m.NHeads))
		}
		if okH && okKV && m.NHeads%m.NKVHeads != 0 {
			bad("model.n_kv_heads", m.NKVHeads, fmt.Sprintf("must divide model.n_heads (%d)", m.NHeads))
		}
	}
	// Unused (no attention layers), rope_theta need only be finite and not
	// above the bound.
	if theta := (interval{lo: 0, loOpen: true, hi: 1e9}); attn || math.IsInf(m.RopeTheta, 0) || !(m.RopeTheta <= theta.hi) {
		num("model.rope_theta", m.RopeTheta, theta)
	}
	mamba := len(m.AttnLayers) < m.NLayers // some Mamba-2 layers
	okE := used(mamba, "model.expand", m.Expand, MaxExpand)
	okP := used(mamba, "model.head_dim", m.HeadDim, MaxHeadDim)
	used(mamba, "model.d_state", m.DState, MaxDState)
	okG := used(mamba, "model.n_groups", m.NGroups, MaxGroups)
	used(mamba, "model.chunk", m.Chunk, MaxChunk)
	used(mamba, "model.d_conv", m.DConv, MaxDConv)
	if mamba && okD && okE && okP && okG {
		din := m.Expand * m.DModel
		if din%m.HeadDim != 0 {
			bad("model.head_dim", m.HeadDim, fmt.Sprintf("must divide d_inner = expand*d_model = %d", din))
		} else if (din/m.HeadDim)%m.NGroups != 0 {
			bad("model.n_groups", m.NGroups, fmt.Sprintf("must divide the number of SSM heads d_inner/head_dim = %d", din/m.HeadDim))
		}
	}
	used(m.FFN, "model.d_ff", m.DFF, MaxDFF)
	num("model.norm_eps", m.NormEps, interval{lo: 0, loOpen: true, hi: 1})
	num("model.init_std", m.InitStd, interval{lo: 0, loOpen: true, hi: 10})

	q := c.Quant
	if q.Scale != "absmean" && q.Scale != "absmedian" {
		bad("quant.scale", q.Scale, "valid: absmean, absmedian")
	}
	if q.ActBits != 0 && (q.ActBits < 2 || q.ActBits > 16) {
		bad("quant.act_bits", q.ActBits, "valid: 0 (off) or 2..16")
	}
	num("quant.alpha4", q.Alpha4, interval{lo: 0, loOpen: true, hi: 100})
	num("quant.alpha2", q.Alpha2, interval{lo: 0, loOpen: true, hi: 100})

	if len(c.QAT.Phases) == 0 {
		bad("qat.phases", "[]", "need at least one phase, e.g. {weights: ternary, start: 0, ramp: 0}")
	}
	for i, ph := range c.QAT.Phases {
		k := fmt.Sprintf("qat.phases[%d]", i)
		if !contains(WeightKinds, ph.Weights) {
			bad(k+".weights", ph.Weights, "valid: "+strings.Join(WeightKinds, ", "))
		}
		okS := num(k+".start", ph.Start, interval{lo: 0, hi: 1, hiOpen: true})
		okR := num(k+".ramp", ph.Ramp, interval{lo: 0, hi: 1})
		if i == 0 && okS && ph.Start != 0 {
			bad(k+".start", ph.Start, "the first phase must start at 0")
		}
		prev := 0.0
		if i > 0 {
			prev = c.QAT.Phases[i-1].Start
		}
		if i > 0 && okS && ph.Start <= prev {
			bad(k+".start", ph.Start, fmt.Sprintf("must be after the previous phase's start (%v)", prev))
		}
		end := 1.0
		if i+1 < len(c.QAT.Phases) {
			end = c.QAT.Phases[i+1].Start
		}
		if okS && okR && ph.Start+ph.Ramp > end+1e-12 {
			bad(k+".ramp", ph.Ramp, fmt.Sprintf("start+ramp = %v runs past the next phase start / end of training (%v)", ph.Start+ph.Ramp, end))
		}
	}

	t := c.Train
	okT := size("train.tokens", t.Tokens, 1, MaxTokens, "")
	okB := size("train.batch_size", int64(t.BatchSize), 1, MaxBatch, "")
	if okB {
		if size("train.micro_batch", int64(t.MicroBatch), 1, int64(t.BatchSize), "train.batch_size") && t.BatchSize%t.MicroBatch != 0 {
			bad("train.micro_batch", t.MicroBatch, fmt.Sprintf("must divide train.batch_size (%d)", t.BatchSize))
		}
	} else {
		size("train.micro_batch", int64(t.MicroBatch), 1, MaxBatch, "")
	}
	d := c.Data
	okSeq := false
	if okCtx {
		okSeq = size("data.seq_len", int64(d.SeqLen), 1, int64(m.Context), "model.context")
	} else {
		okSeq = size("data.seq_len", int64(d.SeqLen), 1, MaxContext, "")
	}
	if okT && okB && okSeq {
		if step := int64(t.BatchSize) * int64(d.SeqLen); t.Tokens < step {
			bad("train.tokens", t.Tokens, fmt.Sprintf("is less than one step (batch_size*seq_len = %d)", step))
		}
	}
	if num("train.lr", t.LR, interval{lo: 0, loOpen: true, hi: 1}) {
		num("train.min_lr", t.MinLR, interval{lo: 0, hi: t.LR, hiName: fmt.Sprintf("train.lr = %v", t.LR)})
	} else {
		num("train.min_lr", t.MinLR, interval{lo: 0, hi: 1, hiName: "train.lr"})
	}
	size("train.warmup", int64(t.Warmup), 0, MaxTokens, "")
	num("train.weight_decay", t.WeightDecay, interval{lo: 0, hi: 10})
	num("train.beta1", t.Beta1, interval{lo: 0, hi: 1, hiOpen: true})
	num("train.beta2", t.Beta2, interval{lo: 0, hi: 1, hiOpen: true})
	num("train.eps", t.Eps, interval{lo: 0, loOpen: true, hi: 1})
	num("train.clip", t.Clip, interval{lo: 0, hi: 1e6}) // 0 = no clipping
	size("train.eval_every", int64(t.EvalEvery), 1, MaxTokens, "")
	size("train.log_every", int64(t.LogEvery), 1, MaxTokens, "")
	size("train.eval_tokens", int64(t.EvalTokens), 0, MaxTokens, "")
	size("train.sample_tokens", int64(t.SampleTokens), 0, MaxContext, "")
	size("train.threads", int64(t.Threads), 0, MaxThreads, "")                 // 0 = all cores
	size("train.checkpoint_every", int64(t.CheckpointEvery), 0, MaxTokens, "") // 0 = only at the end

	if len(d.Sources) == 0 {
		bad("data.sources", "[]", "need at least one source")
	}
	for i, s := range d.Sources {
		checkSource(fmt.Sprintf("data.sources[%d]", i), s, bad, num)
	}
	checkSource("data.validation", d.Validation, bad, num)
	if d.Tokenizer != "bpe" && d.Tokenizer != "byte" {
		bad("data.tokenizer", d.Tokenizer, "valid: bpe, byte")
	}
	size("data.min_chars", int64(d.MinChars), 0, MaxDocuments, "")
	size("data.tokenizer_chars", int64(d.TokenizerChars), 0, MaxTokens, "") // 0 = all

	ext := c.validateExtensions(num) // num records into p itself
	p = append(p, ext...)

	size("eval.shots", int64(c.Eval.Shots), 0, MaxShots, "")
	size("eval.limit", int64(c.Eval.Limit), 0, MaxDocuments, "") // 0 = all documents
	if len(p) > 0 {
		return &ValidationError{p}
	}
	return nil
}

func checkSource(key string, s DataSource, bad func(string, any, string), num func(string, float64, interval) bool) {
	if s.Path == "" {
		bad(key+".path", `""`, "must name a file or glob relative to the project root")
	}
	if s.Name == "" {
		bad(key+".name", `""`, "must be non-empty")
	}
	num(key+".weight", s.Weight, interval{lo: 0, loOpen: true, hi: 1e6})
	if s.Format != "text" && s.Format != "lines" && s.Format != "jsonl" {
		bad(key+".format", s.Format, "valid: text, lines, jsonl")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
