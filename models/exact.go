package models

import (
	"fmt"
	"strings"

	"github.com/nanomamba-edge/harness/kernels"
)

// Arithmetic selects how Step computes a ternary model's products.
type Arithmetic int

const (
	// ArithTraining is the arithmetic of training and of every recorded
	// evaluation: a BitLinear multiplies the de-quantized activations q/s
	// by γ·t in a float32 GEMM, and the head is a float32 GEMM.
	ArithTraining Arithmetic = iota
	// ArithExact is BitNet's inference arithmetic, that of the packed
	// engine (edge/engine): a BitLinear sums Σ t·q exactly (integers) and
	// scales once, y = float32(Σ t·q · γ / s) evaluated in float64 (without
	// activation quantization, y = float32(γ · Σ t·x) with the sum in
	// float64 of exact terms); the head sums each logit in float64 over
	// the exact products in ascending order and rounds once. The rest of
	// a step is unchanged.
	ArithExact
)

var arithNames = [...]string{"training", "exact"}

// String returns the flag spelling ("training", "exact").
func (a Arithmetic) String() string {
	if a < 0 || int(a) >= len(arithNames) {
		return fmt.Sprintf("Arithmetic(%d)", int(a))
	}
	return arithNames[a]
}

// ParseArithmetic parses "training" or "exact".
func ParseArithmetic(s string) (Arithmetic, error) {
	for i, n := range arithNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Arithmetic(i), nil
		}
	}
	return ArithTraining, fmt.Errorf("unknown arithmetic %q (valid: training, exact)", s)
}

// SetArithmetic selects Step's arithmetic. ArithExact needs every
// BitLinear at ternary weights (the quant state resolves to ternary at
// λ = 1) with activation quantization either off or complete; otherwise it
// returns an error and leaves the setting as it was. Only Step (and Greedy
// and Continue, which call it) read the setting: ForwardBackward, Loss,
// Logits and the batch decoder keep the training arithmetic, so nothing
// computed for training or evaluation changes.
func (m *Model) SetArithmetic(a Arithmetic) error {
	switch a {
	case ArithTraining:
	case ArithExact:
		if err := m.exactSupported(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("models: unknown arithmetic %v (valid: training, exact)", a)
	}
	m.arith = a
	return nil
}

// Arithmetic returns Step's arithmetic.
func (m *Model) Arithmetic() Arithmetic { return m.arith }

// ExactSupported reports why the exact arithmetic does not apply to the
// current quant state (nil: it does).
func (m *Model) ExactSupported() error { return m.exactSupported() }

func (m *Model) exactSupported() error {
	s := m.q.state
	if from, to, _, _ := m.q.spec.effectivePlan(s); from != Ternary || to != Ternary {
		return fmt.Errorf("models: the exact arithmetic needs ternary weights, and the quant state is %v→%v at λ %g", s.From, s.To, s.Lambda)
	}
	if lam := s.actLambda(); m.q.spec.actBits > 0 && lam != 1 {
		return fmt.Errorf("models: the exact arithmetic needs complete activation quantization, and its λ is %g", lam)
	}
	return nil
}

// ternaryCodes returns the codes t ∈ {−1, 0, 1} (as float32, out×in) and γ
// of the effective weight W_eff = γ·t, built on first use after the weight
// last changed (dropPacked forgets them). The ternary quantizer writes
// RoundClip(W/m, −1, 1)·m, so every element is exactly 0 or ±m and
// γ = max|W_eff| = m (0 for an all-zero weight).
func (l *bitLinear) ternaryCodes() ([]float32, float32) {
	if l.tern == nil {
		g := absMax(l.eff)
		l.tern = make([]float32, len(l.eff))
		for i, v := range l.eff {
			switch {
			case v == g:
				l.tern[i] = 1
			case v == -g:
				l.tern[i] = -1
			}
		}
		l.gamma = g
	}
	return l.tern, l.gamma
}

// exactProduct writes y (rows×out) = BitLinear of src (the SubLN output,
// or x without SubLN) in the exact arithmetic (ArithExact). The GEMM's
// operands are integers and each of its partial sums an integer of
// magnitude at most 2^(b−1)·in < 2^24, so it is exact in float32 whatever
// its order.
func (l *bitLinear) exactProduct(threads int, a *linearActs, y, src []float32, rows int) {
	t, g := l.ternaryCodes()
	in, out := l.in, l.out
	bits := l.q.spec.actBits
	if bits == 0 {
		kernels.Parallel(threads, rows*out, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r, o := i/out, i%out
				x, w := src[r*in:r*in+in], t[o*in:o*in+in]
				var s float64
				for k, v := range w {
					s += float64(float64(v) * float64(x[k])) // exact: v is −1, 0 or 1
				}
				y[i] = float32(s * float64(g))
			}
		})
		return
	}
	if len(a.codes) < rows*in {
		a.codes = make([]float32, rows*in)
		a.scales = make([]float32, rows)
	}
	qmax := float32(int(1)<<(bits-1) - 1)
	qmin := -float32(int(1) << (bits - 1))
	for r := 0; r < rows; r++ {
		x, c := src[r*in:r*in+in], a.codes[r*in:r*in+in]
		s := qmax / max(absMax(x), minScale)
		for k, v := range x {
			c[k] = roundClip(v*s, qmin, qmax)
		}
		a.scales[r] = s
	}
	kernels.MatMulNT(threads, y, a.codes[:rows*in], t, rows, in, out, false)
	for r := 0; r < rows; r++ {
		fs := float64(a.scales[r])
		for o := r * out; o < r*out+out; o++ {
			y[o] = float32(float64(y[o]) * float64(g) / fs)
		}
	}
}

// exactHead writes logits[v] = float32(Σ_k x[k]·e_v[k]), the products of
// two float32 exact in float64 and summed in ascending k, rounded once.
func exactHead(threads int, logits, x, embed []float32) {
	D := len(x)
	kernels.Parallel(threads, len(logits), func(lo, hi int) {
		for v := lo; v < hi; v++ {
			row := embed[v*D : v*D+D]
			var s float64
			for k, e := range row {
				s += float64(float64(x[k]) * float64(e))
			}
			logits[v] = float32(s)
		}
	})
}
