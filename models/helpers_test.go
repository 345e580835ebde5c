package models

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/rng"
)

// hybridConfig is a small 2-Mamba + 1-attention model with an FFN.
func hybridConfig() configs.ModelConfig {
	return configs.ModelConfig{
		DModel: 16, NLayers: 3, AttnLayers: []int{1}, NHeads: 4, NKVHeads: 2, RopeTheta: 10000,
		DState: 8, Expand: 2, HeadDim: 8, NGroups: 2, DConv: 4, Chunk: 3,
		FFN: true, DFF: 24, Vocab: 32, Context: 16, NormEps: 1e-5, InitStd: 0.5,
	}
}

func quantConfig(subln bool, actBits int) configs.QuantConfig {
	return configs.QuantConfig{SubLN: subln, Scale: "absmean", ActBits: actBits, Alpha4: 3, Alpha2: 1.5}
}

func randTokens(seed int64, n, vocab int) []int32 {
	r := rng.New(seed, "test/tokens")
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(r.Intn(vocab))
	}
	return t
}

func randVec(seed int64, purpose string, n int, scale float64) []float32 {
	r := rng.New(seed, purpose)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.Norm() * scale)
	}
	return v
}

// fdEps is the relative step of directional finite differences.
var fdEps = 3e-4

// fdTensor is one tensor a gradient check perturbs.
type fdTensor struct {
	name       string
	data, grad []float32
}

// checkGrads compares analytic gradients with central differences of loss.
// For every tensor it checks dirs random ±1 directions (relative tolerance
// rel, plus an absolute floor abs on the directional derivative) and, when
// the tensor has at most perElem elements, every element alone.
func checkGrads(t *testing.T, loss func() float64, tensors []fdTensor, dirs, perElem int, rel, abs float64) {
	t.Helper()
	r := rng.New(7, "test/fd")
	for _, ts := range tensors {
		var rms float64
		for _, v := range ts.data {
			rms += float64(v) * float64(v)
		}
		rms = math.Sqrt(rms / float64(len(ts.data)))
		check := func(what string, v []float64) {
			// A direction moves every element, so it takes a smaller step
			// than a single element does; both stay above the float32
			// rounding noise of the loss.
			eps := math.Max(fdEps*rms, fdEps)
			if what == "element" {
				eps = math.Max(1e-2*rms, 1e-2)
			}
			orig := append([]float32(nil), ts.data...)
			var an float64
			for i, d := range v {
				if d == 0 {
					continue
				}
				ts.data[i] = float32(float64(orig[i]) + eps*d)
			}
			lp := loss()
			for i, d := range v {
				if d == 0 {
					continue
				}
				hi := float64(ts.data[i])
				ts.data[i] = float32(float64(orig[i]) - eps*d)
				an += float64(ts.grad[i]) * (hi - float64(ts.data[i]))
			}
			lm := loss()
			copy(ts.data, orig)
			fd := lp - lm
			if diff := math.Abs(fd - an); diff > rel*math.Max(math.Abs(fd), math.Abs(an))+abs*2*eps {
				t.Errorf("%s %s: finite difference %.6g, analytic %.6g (rel err %.3g)", ts.name, what, fd/(2*eps), an/(2*eps), diff/math.Max(math.Abs(fd), 1e-30))
			}
		}
		for k := 0; k < dirs; k++ {
			v := make([]float64, len(ts.data))
			for i := range v {
				v[i] = float64(2*r.Intn(2) - 1)
			}
			check("direction", v)
		}
		if len(ts.data) <= perElem {
			for i := range ts.data {
				v := make([]float64, len(ts.data))
				v[i] = 1
				check("element", v)
			}
		}
	}
}

func paramTensors(ps []*Param) []fdTensor {
	var out []fdTensor
	for _, p := range ps {
		out = append(out, fdTensor{p.Name, p.Data, p.Grad})
	}
	return out
}

func bitsEqual(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
