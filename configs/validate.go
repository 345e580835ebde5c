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
	return nil
}

// Validate checks every value against what is allowed and reports all
// problems at once, each naming the key, the value and the valid range.
func (c *Config) Validate() error {
	var p []string
	bad := func(key string, val any, why string) { p = append(p, fmt.Sprintf("%s = %v: %s", key, val, why)) }
	pos := func(key string, v int) {
		if v <= 0 {
			bad(key, v, "must be > 0")
		}
	}
	m := c.Model
	pos("model.d_model", m.DModel)
	pos("model.n_layers", m.NLayers)
	pos("model.vocab", m.Vocab)
	pos("model.context", m.Context)
	for i, l := range m.AttnLayers {
		if l < 0 || l >= m.NLayers {
			bad(fmt.Sprintf("model.attn_layers[%d]", i), l, fmt.Sprintf("layer index must be in [0, %d) (model.n_layers = %d)", m.NLayers, m.NLayers))
		}
	}
	if len(m.AttnLayers) > 0 {
		pos("model.n_heads", m.NHeads)
		pos("model.n_kv_heads", m.NKVHeads)
		if m.NHeads > 0 && m.DModel%m.NHeads != 0 {
			bad("model.n_heads", m.NHeads, fmt.Sprintf("must divide model.d_model (%d)", m.DModel))
		} else if m.NHeads > 0 && (m.DModel/m.NHeads)%2 != 0 {
			bad("model.n_heads", m.NHeads, fmt.Sprintf("head size d_model/n_heads = %d must be even for RoPE", m.DModel/m.NHeads))
		}
		if m.NKVHeads > 0 && m.NHeads%m.NKVHeads != 0 {
			bad("model.n_kv_heads", m.NKVHeads, fmt.Sprintf("must divide model.n_heads (%d)", m.NHeads))
		}
		if !(m.RopeTheta > 0) {
			bad("model.rope_theta", m.RopeTheta, "must be > 0")
		}
	}
	if len(m.AttnLayers) < m.NLayers { // some Mamba-2 layers
		pos("model.expand", m.Expand)
		pos("model.head_dim", m.HeadDim)
		pos("model.d_state", m.DState)
		pos("model.n_groups", m.NGroups)
		pos("model.chunk", m.Chunk)
		if m.DConv < 1 || m.DConv > 8 {
			bad("model.d_conv", m.DConv, "must be in [1, 8]")
		}
		din := m.Expand * m.DModel
		if m.HeadDim > 0 && din%m.HeadDim != 0 {
			bad("model.head_dim", m.HeadDim, fmt.Sprintf("must divide d_inner = expand*d_model = %d", din))
		} else if m.HeadDim > 0 && m.NGroups > 0 && (din/m.HeadDim)%m.NGroups != 0 {
			bad("model.n_groups", m.NGroups, fmt.Sprintf("must divide the number of SSM heads d_inner/head_dim = %d", din/m.HeadDim))
		}
	}
	if m.FFN {
		pos("model.d_ff", m.DFF)
	}
	if !(m.NormEps > 0) {
		bad("model.norm_eps", m.NormEps, "must be > 0")
	}
	if !(m.InitStd > 0) {
		bad("model.init_std", m.InitStd, "must be > 0")
	}

	q := c.Quant
	if q.Scale != "absmean" && q.Scale != "absmedian" {
		bad("quant.scale", q.Scale, "valid: absmean, absmedian")
	}
	if q.ActBits != 0 && (q.ActBits < 2 || q.ActBits > 16) {
		bad("quant.act_bits", q.ActBits, "valid: 0 (off) or 2..16")
	}
	if !(q.Alpha4 > 0) {
		bad("quant.alpha4", q.Alpha4, "must be > 0")
	}
	if !(q.Alpha2 > 0) {
		bad("quant.alpha2", q.Alpha2, "must be > 0")
	}

	if len(c.QAT.Phases) == 0 {
		bad("qat.phases", "[]", "need at least one phase, e.g. {weights: ternary, start: 0, ramp: 0}")
	}
	for i, ph := range c.QAT.Phases {
		k := fmt.Sprintf("qat.phases[%d]", i)
		if !contains(WeightKinds, ph.Weights) {
			bad(k+".weights", ph.Weights, "valid: "+strings.Join(WeightKinds, ", "))
		}
		if i == 0 && ph.Start != 0 {
			bad(k+".start", ph.Start, "the first phase must start at 0")
		}
		if ph.Start < 0 || ph.Start >= 1 || math.IsNaN(ph.Start) {
			bad(k+".start", ph.Start, "must be in [0, 1)")
		}
		if i > 0 && ph.Start <= c.QAT.Phases[i-1].Start {
			bad(k+".start", ph.Start, fmt.Sprintf("must be after the previous phase's start (%v)", c.QAT.Phases[i-1].Start))
		}
		if ph.Ramp < 0 || math.IsNaN(ph.Ramp) {
			bad(k+".ramp", ph.Ramp, "must be >= 0")
		}
		end := 1.0
		if i+1 < len(c.QAT.Phases) {
			end = c.QAT.Phases[i+1].Start
		}
		if ph.Start+ph.Ramp > end+1e-12 {
			bad(k+".ramp", ph.Ramp, fmt.Sprintf("start+ramp = %v runs past the next phase start / end of training (%v)", ph.Start+ph.Ramp, end))
		}
	}

	t := c.Train
	if t.Tokens <= 0 {
		bad("train.tokens", t.Tokens, "must be > 0")
	}
	pos("train.batch_size", t.BatchSize)
	pos("train.micro_batch", t.MicroBatch)
	if t.MicroBatch > 0 && t.BatchSize%t.MicroBatch != 0 {
		bad("train.micro_batch", t.MicroBatch, fmt.Sprintf("must divide train.batch_size (%d)", t.BatchSize))
	}
	if c.Data.SeqLen > 0 && t.BatchSize > 0 && t.Tokens > 0 && t.Tokens < int64(t.BatchSize*c.Data.SeqLen) {
		bad("train.tokens", t.Tokens, fmt.Sprintf("is less than one step (batch_size*seq_len = %d)", t.BatchSize*c.Data.SeqLen))
	}
	if !(t.LR > 0) {
		bad("train.lr", t.LR, "must be > 0")
	}
	if t.MinLR < 0 || t.MinLR > t.LR {
		bad("train.min_lr", t.MinLR, fmt.Sprintf("must be in [0, train.lr = %v]", t.LR))
	}
	if t.Warmup < 0 {
		bad("train.warmup", t.Warmup, "must be >= 0")
	}
	if t.WeightDecay < 0 {
		bad("train.weight_decay", t.WeightDecay, "must be >= 0")
	}
	if t.Beta1 < 0 || t.Beta1 >= 1 {
		bad("train.beta1", t.Beta1, "must be in [0, 1)")
	}
	if t.Beta2 < 0 || t.Beta2 >= 1 {
		bad("train.beta2", t.Beta2, "must be in [0, 1)")
	}
	if !(t.Eps > 0) {
		bad("train.eps", t.Eps, "must be > 0")
	}
	if t.Clip < 0 {
		bad("train.clip", t.Clip, "must be >= 0 (0 = no clipping)")
	}
	pos("train.eval_every", t.EvalEvery)
	pos("train.log_every", t.LogEvery)
	if t.EvalTokens < 0 {
		bad("train.eval_tokens", t.EvalTokens, "must be >= 0")
	}
	if t.SampleTokens < 0 {
		bad("train.sample_tokens", t.SampleTokens, "must be >= 0")
	}
	if t.Threads < 0 {
		bad("train.threads", t.Threads, "must be >= 0 (0 = all cores)")
	}
	if t.CheckpointEvery < 0 {
		bad("train.checkpoint_every", t.CheckpointEvery, "must be >= 0 (0 = only at the end)")
	}

	d := c.Data
	if len(d.Sources) == 0 {
		bad("data.sources", "[]", "need at least one source")
	}
	for i, s := range d.Sources {
		checkSource(fmt.Sprintf("data.sources[%d]", i), s, bad)
	}
	checkSource("data.validation", d.Validation, bad)
	if d.Tokenizer != "bpe" && d.Tokenizer != "byte" {
		bad("data.tokenizer", d.Tokenizer, "valid: bpe, byte")
	}
	if d.Tokenizer == "byte" && m.Vocab < 258 {
		bad("model.vocab", m.Vocab, "the byte tokenizer needs at least 258 (256 bytes + EOS + BOS)")
	}
	if d.Tokenizer == "bpe" && m.Vocab < 258 {
		bad("model.vocab", m.Vocab, "the BPE tokenizer needs at least 258 (256 bytes + 2 special tokens)")
	}
	pos("data.seq_len", d.SeqLen)
	if d.SeqLen > m.Context {
		bad("data.seq_len", d.SeqLen, fmt.Sprintf("must be <= model.context (%d)", m.Context))
	}
	if d.MinChars < 0 {
		bad("data.min_chars", d.MinChars, "must be >= 0")
	}
	if d.TokenizerChars < 0 {
		bad("data.tokenizer_chars", d.TokenizerChars, "must be >= 0 (0 = all)")
	}

	if c.Eval.Shots < 0 {
		bad("eval.shots", c.Eval.Shots, "must be >= 0")
	}
	if c.Eval.Limit < 0 {
		bad("eval.limit", c.Eval.Limit, "must be >= 0 (0 = all documents)")
	}
	if len(p) > 0 {
		return &ValidationError{p}
	}
	return nil
}

func checkSource(key string, s DataSource, bad func(string, any, string)) {
	if s.Path == "" {
		bad(key+".path", `""`, "must name a file or glob relative to the project root")
	}
	if s.Name == "" {
		bad(key+".name", `""`, "must be non-empty")
	}
	if !(s.Weight > 0) {
		bad(key+".weight", s.Weight, "must be > 0")
	}
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
