package models

import (
	"fmt"
	"slices"

	"github.com/nanomamba-edge/harness/configs"
)

// Component names of Info.Components, in report order.
const (
	CompEmbedding = "embedding"
	CompAttention = "attention"
	CompMamba     = "mamba"
	CompFFN       = "ffn"
	CompNorms     = "norms"
	CompOther     = "other"
)

var componentOrder = []string{CompEmbedding, CompAttention, CompMamba, CompFFN, CompNorms, CompOther}

type initKind int

const (
	initZero initKind = iota
	initOne
	initNormal  // N(0, std²)
	initUniform // U(±bound)·scale
	initDtBias
	initALog
)

// tensorSpec describes one parameter before allocation.
type tensorSpec struct {
	name      string
	shape     []int
	noDecay   bool
	component string
	bitLinear bool
	init      initKind
	std       float64 // initNormal
	bound     float64 // initUniform
	scale     float64 // initUniform multiplier (1 unless re-scaled)
}

// size is the element count, saturating at the largest int64 instead of
// wrapping (configs bound every dimension, so it saturates only for
// shapes no validated config has).
func (t tensorSpec) size() int64 {
	n := int64(1)
	for _, s := range t.shape {
		n = satMul(n, int64(s))
	}
	return n
}

// arch is a validated ModelConfig with its derived sizes.
type arch struct {
	mc                          configs.ModelConfig
	attn                        []bool // per layer
	hd                          int    // attention head dim
	dIn, heads, cConv, dProj    int    // Mamba sizes
	nRes                        int
	hasAttention, hasMambaLayer bool
}

func validate(mc configs.ModelConfig) (arch, error) {
	a := arch{mc: mc}
	pos := func(key string, v int) error {
		if v <= 0 {
			return fmt.Errorf("model.%s: %d must be positive", key, v)
		}
		return nil
	}
	for _, kv := range []struct {
		k string
		v int
	}{{"d_model", mc.DModel}, {"n_layers", mc.NLayers}, {"vocab", mc.Vocab}, {"context", mc.Context}} {
		if err := pos(kv.k, kv.v); err != nil {
			return a, err
		}
	}
	if !(mc.NormEps > 0) {
		return a, fmt.Errorf("model.norm_eps: %v must be positive", mc.NormEps)
	}
	if !(mc.InitStd > 0) {
		return a, fmt.Errorf("model.init_std: %v must be positive", mc.InitStd)
	}
	a.attn = make([]bool, mc.NLayers)
	for _, i := range mc.AttnLayers {
		if i < 0 || i >= mc.NLayers {
			return a, fmt.Errorf("model.attn_layers: index %d is outside [0, %d) (n_layers %d)", i, mc.NLayers, mc.NLayers)
		}
		a.attn[i] = true
	}
	for _, f := range mc.AttnFractions {
		if !(f >= 0 && f < 1) {
			return a, fmt.Errorf("model.attn_fractions: %v is outside [0, 1)", f)
		}
		a.attn[int(f*float64(mc.NLayers))] = true
	}
	a.hasAttention = slices.Contains(a.attn, true)
	a.hasMambaLayer = slices.Contains(a.attn, false)
	if a.hasAttention {
		if err := pos("n_heads", mc.NHeads); err != nil {
			return a, err
		}
		if mc.DModel%mc.NHeads != 0 {
			return a, fmt.Errorf("model.n_heads: %d does not divide d_model %d", mc.NHeads, mc.DModel)
		}
		if err := pos("n_kv_heads", mc.NKVHeads); err != nil {
			return a, err
		}
		if mc.NHeads%mc.NKVHeads != 0 {
			return a, fmt.Errorf("model.n_kv_heads: %d does not divide n_heads %d", mc.NKVHeads, mc.NHeads)
		}
		a.hd = mc.DModel / mc.NHeads
		if a.hd%2 != 0 {
			return a, fmt.Errorf("model.n_heads: head size d_model/n_heads = %d must be even for RoPE", a.hd)
		}
		if !(mc.RopeTheta > 0) {
			return a, fmt.Errorf("model.rope_theta: %v must be positive", mc.RopeTheta)
		}
	}
	if a.hasMambaLayer {
		for _, kv := range []struct {
			k string
			v int
		}{{"expand", mc.Expand}, {"head_dim", mc.HeadDim}, {"n_groups", mc.NGroups}, {"d_state", mc.DState}, {"d_conv", mc.DConv}, {"chunk", mc.Chunk}} {
			if err := pos(kv.k, kv.v); err != nil {
				return a, err
			}
		}
		a.dIn = mc.Expand * mc.DModel
		if a.dIn%mc.HeadDim != 0 {
			return a, fmt.Errorf("model.head_dim: %d does not divide d_inner = expand·d_model = %d", mc.HeadDim, a.dIn)
		}
		a.heads = a.dIn / mc.HeadDim
		if a.heads%mc.NGroups != 0 {
			return a, fmt.Errorf("model.n_groups: %d does not divide the SSM head count %d", mc.NGroups, a.heads)
		}
		gn := mc.NGroups * mc.DState
		a.cConv = a.dIn + 2*gn
		a.dProj = 2*a.dIn + 2*gn + a.heads
	}
	if mc.FFN {
		if err := pos("d_ff", mc.DFF); err != nil {
			return a, err
		}
	}
	a.nRes = 1
	if mc.FFN {
		a.nRes = 2
	}
	return a, nil
}

// specs lists every parameter in the model's stable order.
func (a arch) specs(q quantSpec) []tensorSpec {
	mc := a.mc
	D := mc.DModel
	var out []tensorSpec
	ones := func(name string, n int) tensorSpec {
		return tensorSpec{name: name, shape: []int{n}, noDecay: true, component: CompNorms, init: initOne}
	}
	resScale := 1 / sqrtf(float64(a.nRes*mc.NLayers))
	linear := func(name, comp string, outF, inF int, rescale bool) {
		s := 1.0
		if rescale {
			s = resScale
		}
		out = append(out, tensorSpec{name: name, shape: []int{outF, inF}, component: comp, bitLinear: true,
			init: initUniform, bound: 1 / sqrtf(float64(inF)), scale: s})
		if q.subln {
			out = append(out, ones(name+".subln", inF))
		}
	}
	out = append(out, tensorSpec{name: "tok_embed", shape: []int{mc.Vocab, D}, component: CompEmbedding, init: initNormal, std: mc.InitStd})
	for i := 0; i < mc.NLayers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		out = append(out, ones(p+"norm1", D))
		if a.attn[i] {
			qd, kd := mc.NHeads*a.hd, mc.NKVHeads*a.hd
			linear(p+"attn.wq", CompAttention, qd, D, false)
			linear(p+"attn.wk", CompAttention, kd, D, false)
			linear(p+"attn.wv", CompAttention, kd, D, false)
			linear(p+"attn.wo", CompAttention, D, qd, true)
		} else {
			m := p + "mamba."
			K := mc.DConv
			cb := 1 / sqrtf(float64(K))
			linear(m+"in_proj", CompMamba, a.dProj, D, false)
			out = append(out,
				tensorSpec{name: m + "conv_w", shape: []int{a.cConv, K}, component: CompMamba, init: initUniform, bound: cb, scale: 1},
				tensorSpec{name: m + "conv_b", shape: []int{a.cConv}, noDecay: true, component: CompMamba, init: initUniform, bound: cb, scale: 1},
				tensorSpec{name: m + "dt_bias", shape: []int{a.heads}, noDecay: true, component: CompMamba, init: initDtBias},
				tensorSpec{name: m + "A_log", shape: []int{a.heads}, noDecay: true, component: CompMamba, init: initALog},
				tensorSpec{name: m + "D", shape: []int{a.heads}, noDecay: true, component: CompMamba, init: initOne},
				ones(m+"norm", a.dIn))
			linear(m+"out_proj", CompMamba, D, a.dIn, true)
		}
		if mc.FFN {
			out = append(out, ones(p+"norm2", D))
			linear(p+"ffn.w1", CompFFN, mc.DFF, D, false)
			linear(p+"ffn.w3", CompFFN, mc.DFF, D, false)
			linear(p+"ffn.w2", CompFFN, D, mc.DFF, true)
		}
	}
	out = append(out, ones("norm_f", D))
	return out
}
