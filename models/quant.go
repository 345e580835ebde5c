package models

import (
	"fmt"
	"math"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// WeightQuant selects a per-tensor weight quantizer.
type WeightQuant int

// The weight quantizers of the continual QAT schedule.
const (
	Float   WeightQuant = iota // identity
	Int4                       // RoundClip(W·s, −7, 7)/s, s = 7/(alpha4·m)
	Int2                       // RoundClip(W·s, −2, 1)/s, s = 2/(alpha2·m)
	Ternary                    // RoundClip(W/m, −1, 1)·m
)

var weightQuantNames = [...]string{"float", "int4", "int2", "ternary"}

// String returns the config spelling ("float", "int4", "int2", "ternary").
func (q WeightQuant) String() string {
	if q < 0 || int(q) >= len(weightQuantNames) {
		return fmt.Sprintf("WeightQuant(%d)", int(q))
	}
	return weightQuantNames[q]
}

// ParseWeightQuant parses "float", "int4", "int2" or "ternary".
func ParseWeightQuant(s string) (WeightQuant, error) {
	for i, n := range weightQuantNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return WeightQuant(i), nil
		}
	}
	return Float, fmt.Errorf("unknown weight quantizer %q (valid: float, int4, int2, ternary)", s)
}

// QuantState is the current point of the continual QAT schedule: the
// effective weight is Q_From(W) + Lambda·(Q_To(W) − Q_From(W)).
type QuantState struct {
	From, To WeightQuant
	Lambda   float32
}

// actLambda returns the blend weight of activation quantization.
func (s QuantState) actLambda() float32 {
	switch {
	case s.From == Float && s.To == Float:
		return 0
	case s.From == Float:
		return s.Lambda
	default:
		return 1
	}
}

// minScale is the lower clamp of the weight statistic and of max|x|.
const minScale = 1e-5

// scaleKind is the parsed quant.scale.
type scaleKind int

const (
	absMean scaleKind = iota
	absMedian
)

func parseScale(s string) (scaleKind, error) {
	switch s {
	case "absmean":
		return absMean, nil
	case "absmedian":
		return absMedian, nil
	}
	return absMean, fmt.Errorf("quant.scale: %q is not a weight statistic (valid: absmean, absmedian)", s)
}

// quantSpec is a validated QuantConfig.
type quantSpec struct {
	subln          bool
	scale          scaleKind
	actBits        int
	alpha4, alpha2 float64
}

func newQuantSpec(qc configs.QuantConfig) (quantSpec, error) {
	sc, err := parseScale(qc.Scale)
	if err != nil {
		return quantSpec{}, err
	}
	if qc.ActBits != 0 && (qc.ActBits < 2 || qc.ActBits > 16) {
		return quantSpec{}, fmt.Errorf("quant.act_bits: %d is not a valid width (valid: 0 for none, or 2..16)", qc.ActBits)
	}
	if !(qc.Alpha4 > 0) || math.IsInf(qc.Alpha4, 0) {
		return quantSpec{}, fmt.Errorf("quant.alpha4: %v must be a positive number", qc.Alpha4)
	}
	if !(qc.Alpha2 > 0) || math.IsInf(qc.Alpha2, 0) {
		return quantSpec{}, fmt.Errorf("quant.alpha2: %v must be a positive number", qc.Alpha2)
	}
	return quantSpec{subln: qc.SubLN, scale: sc, actBits: qc.ActBits, alpha4: qc.Alpha4, alpha2: qc.Alpha2}, nil
}

// AbsMean returns mean|w| (summed in float64 in index order), clamped to ≥ 1e-5.
func AbsMean(w []float32) float32 {
	var s float64
	for _, v := range w {
		s += math.Abs(float64(v))
	}
	return absMeanOf(s, len(w))
}

// absMeanOf returns the AbsMean of n weights from their float64 sum of |w|.
func absMeanOf(sum float64, n int) float32 {
	m := float32(sum / float64(max(n, 1)))
	return max(m, minScale)
}

// AbsMedian returns the lower median of |w| (for an even count the smaller
// of the two middle values, as torch.median does), clamped to ≥ 1e-5.
func AbsMedian(w []float32) float32 {
	if len(w) == 0 {
		return minScale
	}
	a := make([]float32, len(w))
	for i, v := range w {
		a[i] = float32(math.Abs(float64(v)))
	}
	return max(selectKth(a, (len(a)-1)/2), minScale)
}

// selectKth returns the k-th smallest element of a (0-based), reordering a.
// The value is unique, so the result does not depend on the pivot choice.
func selectKth(a []float32, k int) float32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three as pivot
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		p := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

func (q quantSpec) statistic(w []float32) float32 {
	if q.scale == absMedian {
		return AbsMedian(w)
	}
	return AbsMean(w)
}

// roundClip rounds half away from zero and clamps to [lo, hi] (lo and hi
// integers of magnitude below 2**24). Clamping first gives the same value,
// and then x ± ½ is exact in float64, so truncating it rounds exactly as
// math.Round does (including the sign of zero).
func roundClip(x float32, lo, hi float32) float32 {
	v := float64(min(max(x, lo), hi))
	return float32(math.Trunc(v + math.Copysign(0.5, v)))
}

// quantizeWeights writes Q(w) into dst with the statistic m.
func (q quantSpec) quantizeWeights(dst, w []float32, kind WeightQuant, m float32) {
	switch kind {
	case Ternary:
		vec.QuantDivMul(dst, w, m, -1, 1)
	case Int4:
		vec.QuantMulDiv(dst, w, q.gridScale(Int4, m), -7, 7)
	case Int2:
		vec.QuantMulDiv(dst, w, q.gridScale(Int2, m), -2, 1)
	default:
		copy(dst, w)
	}
}

// gridScale returns the multiplier s of the Int4 and Int2 grids.
func (q quantSpec) gridScale(kind WeightQuant, m float32) float32 {
	if kind == Int4 {
		return float32(7 / (q.alpha4 * float64(m)))
	}
	return float32(2 / (q.alpha2 * float64(m)))
}

// QuantizeWeights writes the per-tensor quantization Q(w) of the given kind
// into dst (len(dst) ≥ len(w)), using the statistic and grid widths of qc.
func QuantizeWeights(dst, w []float32, kind WeightQuant, qc configs.QuantConfig) error {
	q, err := newQuantSpec(qc)
	if err != nil {
		return err
	}
	if len(dst) < len(w) {
		return fmt.Errorf("QuantizeWeights: dst has %d elements, need %d", len(dst), len(w))
	}
	if kind < Float || kind > Ternary {
		return fmt.Errorf("QuantizeWeights: unknown quantizer %v", kind)
	}
	q.quantizeWeights(dst, w, kind, q.statistic(w))
	return nil
}

// effectiveWeights writes W_eff = Q_from(W) + λ(Q_to(W) − Q_from(W)) into
// dst; scratch must hold len(w) values. It returns false (and leaves dst
// untouched) when W_eff = W, so the caller can use W itself.
func (q quantSpec) effectiveWeights(dst, scratch, w []float32, s QuantState) bool {
	from, to, lam, ok := q.effectivePlan(s)
	if !ok {
		return false
	}
	q.effectiveRange(dst, scratch, w, from, to, lam, q.statistic(w))
	return true
}

// effectivePlan resolves the quant state: the quantizers actually blended,
// λ, and false when W_eff = W.
func (q quantSpec) effectivePlan(s QuantState) (from, to WeightQuant, lam float32, ok bool) {
	from, to, lam = s.From, s.To, s.Lambda
	switch {
	case lam == 0 || from == to:
		to = from
	case lam == 1:
		from = to
	}
	return from, to, lam, from != Float || to != Float
}

// effectiveRange writes W_eff for a range of w (dst and scratch the same
// range) with the statistic m of the whole tensor. Every element depends
// only on its own weight, so ranges can be done in any order.
func (q quantSpec) effectiveRange(dst, scratch, w []float32, from, to WeightQuant, lam, m float32) {
	q.quantizeWeights(dst, w, from, m)
	if from == to {
		return
	}
	q.quantizeWeights(scratch, w, to, m)
	vec.Blend(dst[:len(w)], dst, scratch, lam)
}

// quantizeActs applies the blended per-row absmax activation quantization
// act = x + λ(Q(x) − x) to rows×dim values of x, writing dst. λ = 1 writes
// Q(x) exactly.
func quantizeActs(threads int, dst, x []float32, rows, dim, bits int, lam float32) {
	kernels.Parallel(threads, rows, func(lo, hi int) { quantizeActRows(dst, x, lo, hi, dim, bits, lam) })
}

// quantizeActRows is quantizeActs for rows [lo, hi).
func quantizeActRows(dst, x []float32, lo, hi, dim, bits int, lam float32) {
	qmax := float32(int(1)<<(bits-1) - 1)
	qmin := -float32(int(1) << (bits - 1))
	for r := lo; r < hi; r++ {
		xr := x[r*dim : r*dim+dim]
		dr := dst[r*dim : r*dim+dim]
		s := qmax / max(absMax(xr), minScale)
		vec.QuantMulDiv(dr, xr, s, qmin, qmax)
		if lam != 1 {
			vec.Blend(dr, xr, dr, lam)
		}
	}
}

// absMax returns max|x_i| (0 for an empty x). The maximum is exact and does
// not depend on the order.
func absMax(x []float32) float32 { return vec.AbsMax(x) }
