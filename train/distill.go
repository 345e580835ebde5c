package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
)

// Distillation losses over logits (METHODS §4). Every function works on
// rows×vocab row-major float32 logits, computes in float64 with the
// project's own exp/log (kernels.Exp, kernels.Log), writes one value per
// row and sums the rows in index order, so the result does not depend on
// the thread count. Gradients are added (scaled) into ds, the gradient with
// respect to the student logits; ds may be nil for the value alone. Every
// product that feeds a sum is rounded explicitly (float64(a*b)) so no
// compiler fuses it into an FMA on any architecture.

// logSoftmax writes lp[v] = x[v]/tau − logΣ exp(x/tau) and p[v] = exp(lp[v]).
func logSoftmax(lp, p []float64, x []float32, tau float64) {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for i, v := range x {
		e := kernels.Exp((float64(v) - mx) / tau)
		p[i] = e
		sum += e
	}
	lse := kernels.Log(sum)
	for i, v := range x {
		lp[i] = (float64(v)-mx)/tau - lse
		p[i] = p[i] / sum
	}
}

// rowBuf is the float64 scratch of one row.
type rowBuf struct{ lq, q, lp, p []float64 }

func newRowBuf(V int) *rowBuf {
	return &rowBuf{lq: make([]float64, V), q: make([]float64, V), lp: make([]float64, V), p: make([]float64, V)}
}

// checkRows validates the shapes of a row loss.
func checkRows(ds, s, t []float32, V int, mask []bool) (int, error) {
	if V < 1 || len(s)%V != 0 || len(s) == 0 {
		return 0, fmt.Errorf("distill: %d student logits are not rows of vocab %d", len(s), V)
	}
	rows := len(s) / V
	if len(t) != len(s) {
		return 0, fmt.Errorf("distill: %d teacher logits, want %d (same rows and vocabulary as the student)", len(t), len(s))
	}
	if ds != nil && len(ds) != len(s) {
		return 0, fmt.Errorf("distill: gradient has %d values, want %d", len(ds), len(s))
	}
	if mask != nil && len(mask) != rows {
		return 0, fmt.Errorf("distill: mask has %d rows, want %d", len(mask), rows)
	}
	return rows, nil
}

// rowLoss runs f on every row where mask is true (all rows when mask is
// nil), threads splitting the rows, and sums the row values in order.
func rowLoss(threads, rows, V int, mask []bool, f func(r int, b *rowBuf) float64) float64 {
	vals := make([]float64, rows)
	kernels.Parallel(max(threads, 1), rows, func(lo, hi int) {
		b := newRowBuf(V)
		for r := lo; r < hi; r++ {
			if mask == nil || mask[r] {
				vals[r] = f(r, b)
			}
		}
	})
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return sum
}

// ForwardKL returns Σ_rows τ²·KL(p_τ‖q_τ), p_τ = softmax(t/τ) the teacher,
// q_τ = softmax(s/τ) the student (Hinton et al. 2015; the τ² keeps the
// gradient scale), and adds scale·d/ds = scale·τ·(q_τ − p_τ) into ds.
func ForwardKL(threads int, ds, s, t []float32, V int, mask []bool, tau, scale float64) (float64, error) {
	rows, err := checkRows(ds, s, t, V, mask)
	if err != nil {
		return 0, err
	}
	if !(tau > 0) || math.IsInf(tau, 0) {
		return 0, fmt.Errorf("distill: temperature %v must be a positive number", tau)
	}
	return rowLoss(threads, rows, V, mask, func(r int, b *rowBuf) float64 {
		sr, tr := s[r*V:r*V+V], t[r*V:r*V+V]
		logSoftmax(b.lq, b.q, sr, tau)
		logSoftmax(b.lp, b.p, tr, tau)
		var kl float64
		for v := range sr {
			kl += float64(b.p[v] * (b.lp[v] - b.lq[v]))
		}
		if ds != nil {
			g := ds[r*V : r*V+V]
			for v := range g {
				g[v] += float32(float64(scale*tau) * (b.q[v] - b.p[v]))
			}
		}
		return float64(tau*tau) * kl
	}), nil
}

// ReverseKL returns the token-level reverse KL Σ_rows KL(q‖p) =
// Σ_v q·(log q − log p), q = softmax(s) the student, p = softmax(t) the
// teacher (DistiLLM's reverse_kl), and adds scale·d/ds =
// scale·q_v·(log q_v − log p_v − KL) into ds: the gradient goes through q
// in both factors.
func ReverseKL(threads int, ds, s, t []float32, V int, mask []bool, scale float64) (float64, error) {
	rows, err := checkRows(ds, s, t, V, mask)
	if err != nil {
		return 0, err
	}
	return rowLoss(threads, rows, V, mask, func(r int, b *rowBuf) float64 {
		kl := reverseKLRow(b, s[r*V:r*V+V], t[r*V:r*V+V])
		if ds != nil {
			addReverseKLGrad(ds[r*V:r*V+V], b, kl, scale)
		}
		return kl
	}), nil
}

// reverseKLRow fills b for one row and returns KL(q‖p).
func reverseKLRow(b *rowBuf, sr, tr []float32) float64 {
	logSoftmax(b.lq, b.q, sr, 1)
	logSoftmax(b.lp, b.p, tr, 1)
	var kl float64
	for v := range sr {
		kl += float64(b.q[v] * (b.lq[v] - b.lp[v]))
	}
	return kl
}

// addReverseKLGrad adds scale·q_v·(log q_v − log p_v − kl) to g.
func addReverseKLGrad(g []float32, b *rowBuf, kl, scale float64) {
	for v := range g {
		g[v] += float32(float64(scale*b.q[v]) * (b.lq[v] - b.lp[v] - kl))
	}
}

// MiniLLM constants from the LMOps code (minillm/arguments.py and the
// training scripts).
const (
	MiniLLMTeacherMix = 0.2   // --teacher-mixed-alpha
	MiniLLMClipRange  = 0.2   // --cliprange (PPO ratio clip)
	MiniLLMRewardClip = 100.0 // rewards are clipped to ±100
)

// MiniLLMOptions are the estimator's settings.
type MiniLLMOptions struct {
	// Mix is α of the sampling distribution p̃ = α·p + (1−α)·q; the
	// per-token importance weight is w_t = q(y_t)/p̃(y_t). 0 samples from
	// the student alone (w = 1).
	Mix float64
	// LengthNorm divides the future reward sum by the number of future
	// tokens (the paper's R^Norm).
	LengthNorm bool
	// ClipRange is the PPO clip of the weighted ratio (0 = none).
	ClipRange float64
	// RewardClip bounds each reward r_t = log p(y_t) − log q(y_t) (0 = none).
	RewardClip float64
}

// DefaultMiniLLM is the LMOps setting: α = 0.2, length-normalised
// long-term reward, ratio clip 0.2, reward clip 100.
func DefaultMiniLLM(mix float64) MiniLLMOptions {
	return MiniLLMOptions{Mix: mix, LengthNorm: true, ClipRange: MiniLLMClipRange, RewardClip: MiniLLMRewardClip}
}

// MiniLLMStats are the summed values of one call.
type MiniLLMStats struct {
	// Single is Σ_t w_t·KL(q_t‖p_t): the single-step term, exact over the
	// vocabulary.
	Single float64
	// Long is Σ_t max(−A_t·w_t, −A_t·clip(w_t)): the value of the clipped
	// policy-gradient surrogate of the long-term term (its gradient is
	// −A_t·w_t·∇log q(y_t) where the clip is not active).
	Long float64
	// RevKL is Σ_t w_t·(log q(y_t) − log p(y_t)), the importance-weighted
	// Monte-Carlo estimate of the reverse KL along the samples.
	RevKL float64
	// Tokens is the number of scored tokens.
	Tokens int
}

// MiniLLMSequence is MiniLLM's loss on one sampled continuation (Gu et al.
// 2024, METHODS §4). s and t hold T rows of student and teacher logits, row
// i being the distribution y[i] was drawn from (teacher-forced on the
// sequence), so the continuation y has T tokens. It adds scale times the
// gradient of Single + Long with respect to s into ds:
//
//	single:  w_t·∇KL(q_t‖p_t), exact over the vocabulary;
//	long:    −A_t·w_t·∇log q_t(y_t), A_t = Σ_{t'>t} r_t' (divided by the
//	         number of future tokens with LengthNorm), r = log p − log q
//	         (clipped to ±RewardClip), and no gradient where the PPO clip of
//	         w_t to [1−ε, 1+ε] is the larger surrogate;
//
// the weights, rewards and advantages are constants (no gradient). With
// Mix = 0, no length normalisation and no clip the expected gradient is
// exactly that of the sequence-level reverse KL KL(q(y)‖p(y)).
func MiniLLMSequence(ds, s, t []float32, V int, y []int32, o MiniLLMOptions, scale float64) (MiniLLMStats, error) {
	T := len(y)
	if T == 0 {
		return MiniLLMStats{}, errors.New("distill: MiniLLM needs at least one sampled token")
	}
	if _, err := checkRows(ds, s, t, V, nil); err != nil {
		return MiniLLMStats{}, err
	}
	if len(s) != T*V {
		return MiniLLMStats{}, fmt.Errorf("distill: %d logit rows for %d sampled tokens", len(s)/V, T)
	}
	if !(o.Mix >= 0 && o.Mix <= 1) || !(o.ClipRange >= 0 && o.ClipRange < 1) || !(o.RewardClip >= 0) {
		return MiniLLMStats{}, fmt.Errorf("distill: MiniLLM options %+v out of range (mix in [0,1], clip in [0,1), reward clip ≥ 0)", o)
	}
	for i, v := range y {
		if v < 0 || int(v) >= V {
			return MiniLLMStats{}, fmt.Errorf("distill: sampled token %d at %d is outside the vocabulary [0, %d)", v, i, V)
		}
	}
	b := newRowBuf(V)
	kl := make([]float64, T)
	w := make([]float64, T)
	r := make([]float64, T)
	qy := make([]float64, T)
	var st MiniLLMStats
	for i := 0; i < T; i++ {
		sr, tr := s[i*V:i*V+V], t[i*V:i*V+V]
		kl[i] = reverseKLRow(b, sr, tr)
		yi := int(y[i])
		qy[i] = b.q[yi]
		mix := float64(o.Mix*b.p[yi]) + float64((1-o.Mix)*b.q[yi])
		w[i] = 1
		if o.Mix > 0 {
			w[i] = b.q[yi] / mix
		}
		r[i] = b.lp[yi] - b.lq[yi]
		st.RevKL -= float64(w[i] * r[i])
		if o.RewardClip > 0 {
			r[i] = math.Max(-o.RewardClip, math.Min(o.RewardClip, r[i]))
		}
		st.Single += float64(w[i] * kl[i])
		if ds != nil {
			addReverseKLGrad(ds[i*V:i*V+V], b, kl[i], float64(scale*w[i]))
		}
	}
	// Advantages: future rewards, summed backwards in a fixed order.
	var future float64
	for i := T - 1; i >= 0; i-- {
		a := future
		if o.LengthNorm && i < T-1 {
			a = future / float64(T-1-i)
		}
		future += r[i]
		ratio := w[i]
		clipped := ratio
		if o.ClipRange > 0 {
			clipped = math.Max(1-o.ClipRange, math.Min(1+o.ClipRange, ratio))
		}
		l1, l2 := -float64(a*ratio), -float64(a*clipped)
		st.Long += math.Max(l1, l2)
		if a == 0 || l2 > l1 || ds == nil {
			continue // no gradient: no future, or the clip is active
		}
		// d(−A·w·log q(y))/ds_v = −A·w·(1[v=y] − q_v)
		sr := s[i*V : i*V+V]
		logSoftmax(b.lq, b.q, sr, 1)
		g := ds[i*V : i*V+V]
		c := float64(scale * float64(a*ratio))
		for v := range g {
			ind := 0.0
			if v == int(y[i]) {
				ind = 1
			}
			g[v] -= float32(float64(c * (ind - b.q[v])))
		}
	}
	st.Tokens = T
	return st, nil
}

// SampleMixed draws a token from p̃ = α·softmax(t) + (1−α)·softmax(s) by
// inversion of the uniform u ∈ [0,1), summing in vocabulary order.
func SampleMixed(s, t []float32, alpha, u float64) int32 {
	return sampleMixed(newRowBuf(len(s)), s, t, alpha, u)
}

// sampleMixed is SampleMixed with the row scratch b (of len(s) values).
func sampleMixed(b *rowBuf, s, t []float32, alpha, u float64) int32 {
	V := len(s)
	logSoftmax(b.lq, b.q, s, 1)
	logSoftmax(b.lp, b.p, t, 1)
	var c float64
	for v := 0; v < V; v++ {
		c += float64(alpha*b.p[v]) + float64((1-alpha)*b.q[v])
		if u < c {
			return int32(v)
		}
	}
	return int32(V - 1) // u beyond the rounded total: the last token
}

// kdLoss validates a distill section's loss name for the trainer.
func kdLoss(d configs.DistillConfig) (string, error) {
	switch d.Loss {
	case configs.DistillFKL, configs.DistillRKL, configs.DistillMiniLLM:
		return d.Loss, nil
	}
	return "", fmt.Errorf("distill.loss = %q: valid: fkl, rkl, minillm (or none)", d.Loss)
}
