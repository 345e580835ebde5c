package train

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter). For each
// element, with g the gradient and t the 1-based step count:
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + (1−β2)·g²
//	θ = θ − lr·wd·θ               (skipped for NoDecay parameters)
//	θ = θ − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
//
// The arithmetic runs in float64 per element; the moments are stored in
// float32. Every element is independent, so the update is the same for any
// thread count.
type AdamW struct {
	Params      []*models.Param
	M, V        [][]float32 // first and second moments, one slice per parameter
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64
	// Steps counts the updates applied since the last Reset; it drives the
	// bias correction.
	Steps   int64
	Threads int
}

// NewAdamW returns an optimizer over params with the hyper-parameters of tc.
func NewAdamW(params []*models.Param, tc configs.TrainConfig) (*AdamW, error) {
	switch {
	case !(tc.Beta1 >= 0 && tc.Beta1 < 1):
		return nil, fmt.Errorf("train.beta1 = %v: must be in [0,1)", tc.Beta1)
	case !(tc.Beta2 >= 0 && tc.Beta2 < 1):
		return nil, fmt.Errorf("train.beta2 = %v: must be in [0,1)", tc.Beta2)
	case !(tc.Eps > 0) || math.IsInf(tc.Eps, 0):
		return nil, fmt.Errorf("train.eps = %v: must be a positive finite number", tc.Eps)
	case !(tc.WeightDecay >= 0) || math.IsInf(tc.WeightDecay, 0):
		return nil, fmt.Errorf("train.weight_decay = %v: must be a finite number >= 0", tc.WeightDecay)
	}
	o := &AdamW{
		Params: params, Beta1: tc.Beta1, Beta2: tc.Beta2, Eps: tc.Eps,
		WeightDecay: tc.WeightDecay, Threads: 1,
		M: make([][]float32, len(params)), V: make([][]float32, len(params)),
	}
	for i, p := range params {
		o.M[i] = make([]float32, len(p.Data))
		o.V[i] = make([]float32, len(p.Data))
	}
	return o, nil
}

// Reset zeroes the moments and the step count, as at the start of training.
func (o *AdamW) Reset() {
	for i := range o.M {
		clear(o.M[i])
		clear(o.V[i])
	}
	o.Steps = 0
}

// Step applies one update with learning rate lr to every parameter, using
// the gradients currently stored in the parameters.
func (o *AdamW) Step(lr float64) {
	o.Steps++
	b1, b2 := o.Beta1, o.Beta2
	c1 := 1 - kernels.Pow(b1, float64(o.Steps))
	c2 := 1 - kernels.Pow(b2, float64(o.Steps))
	if b1 == 0 {
		c1 = 1
	}
	if b2 == 0 {
		c2 = 1
	}
	// One parallel pass over all parameters, in blocks of 256 values (each
	// value's update depends on its own state only).
	ks := make([]kernels.AdamWConsts, len(o.Params))
	starts := make([]int, len(o.Params)+1) // the first block of each parameter, then the total
	for i, p := range o.Params {
		decay := 0.0
		if !p.NoDecay {
			decay = float64(lr * o.WeightDecay)
		}
		ks[i] = kernels.AdamWConsts{Beta1: b1, Beta2: b2, Decay: decay, C1: c1, C2: c2, Eps: o.Eps, LR: lr}
		starts[i+1] = starts[i] + (len(p.Data)+255)/256
	}
	kernels.Parallel(o.Threads, starts[len(o.Params)], func(lo, hi int) {
		for i, p := range o.Params {
			b0, b1 := max(lo, starts[i]), min(hi, starts[i+1])
			if b0 >= b1 {
				continue
			}
			w := p.Data
			e0, e1 := (b0-starts[i])*256, min((b1-starts[i])*256, len(w))
			kernels.AdamWUpdate(w[e0:e1], p.Grad[e0:e1], o.M[i][e0:e1], o.V[i][e0:e1], ks[i])
		}
	})
}

// GradNorm returns the global L2 norm of the gradients, accumulated in
// float64 over the parameters in order and over each one's elements in
// order.
func GradNorm(params []*models.Param) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad {
			s += float64(float64(g) * float64(g))
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales every gradient by maxNorm/norm when the global norm
// exceeds maxNorm (maxNorm <= 0 disables clipping). It returns the norm
// before clipping.
func ClipGradNorm(params []*models.Param, maxNorm float64) float64 {
	norm := GradNorm(params)
	if maxNorm > 0 && norm > maxNorm && !math.IsInf(norm, 0) {
		scale := float32(maxNorm / norm)
		for _, p := range params {
			for j := range p.Grad {
				p.Grad[j] *= scale
			}
		}
	}
	return norm
}

// NonFiniteGrad returns the name of the first parameter whose gradient holds
// a NaN or an infinity, or "" when every gradient is finite.
func NonFiniteGrad(params []*models.Param) string {
	for _, p := range params {
		for _, g := range p.Grad {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				return p.Name
			}
		}
	}
	return ""
}
