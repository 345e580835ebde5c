package vec

import (
	"math"
	"math/big"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
)

// The oracles below are written from the documented results of the kernels,
// independently of generic.go: every float32 operation is carried out in
// float64 and rounded once to float32 (for +, −, × and ÷ of float32 values
// that is the correctly rounded float32 result, as float64 has more than
// 2·24+2 significand bits), exponentials come from math.Exp, and float64
// products that must not be fused are converted explicitly. The tests check
// the public kernels against these oracles, so they also hold under the
// purego tag, where the kernels run the Go forms that the assembly is
// compared with.

func add32(a, b float32) float32 { return float32(float64(a) + float64(b)) }
func sub32(a, b float32) float32 { return float32(float64(a) - float64(b)) }
func mul32(a, b float32) float32 { return float32(float64(a) * float64(b)) }
func div32(a, b float32) float32 { return float32(float64(a) / float64(b)) }

// within32 fails unless got is float32(w) for some w within relative
// distance tol of want (float32 rounding is monotonic, so that is the range
// between the roundings of the two ends), with NaN only for a NaN want.
func within32(t *testing.T, what string, i int, got float32, want, tol float64) {
	t.Helper()
	if want != want || got != got {
		if !(want != want && got != got) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got, want)
		}
		return
	}
	if math.IsInf(want, 0) && float64(got) != want {
		t.Fatalf("%s[%d] = %v, want %v", what, i, got, want)
	}
	d := math.Abs(want) * tol
	if lo, hi := float32(want-d), float32(want+d); got < lo || got > hi {
		t.Fatalf("%s[%d] = %v (%#08x), want %v (float32 in [%v, %v])", what, i, got, math.Float32bits(got), want, lo, hi)
	}
}

// refSiLU is x·σ(x) and σ(x) = 1/(1+e**−x) in float64 from math.Exp. At −∞
// the kernel's documented result is −∞ (x times a clamped, tiny σ), not
// the NaN of −∞·0.
func refSiLU(x float32) (silu, sig float64) {
	v := float64(x)
	sig = 1 / (1 + math.Exp(-v))
	if math.IsInf(v, -1) {
		return v, sig
	}
	return v * sig, sig
}

// refSiLUBits is the documented result bit for bit: σ = 1/(1+e**−x) with
// the project's scalar exponential kernels.ExpFast (whose accuracy and bits
// the kernels package's tests pin) and x·σ in float64, each rounded once to
// float32. The kernel clamps the exponent to [−708, 709], which changes no
// float32 result but silu(−∞) = −∞.
func refSiLUBits(x float32) (silu, sig float32) {
	v := float64(x)
	s := 1 / (1 + kernels.ExpFast(-v))
	if math.IsInf(v, -1) {
		return x, float32(s)
	}
	return float32(float64(v * s)), float32(s)
}

// checkSiLU checks SiLU's outputs for x against refSiLUBits, bit for bit,
// and against refSiLU: within 2e-15 before the rounding to float32, which
// leaves the rounded value undecided only next to a float32 halfway point.
func checkSiLU(t *testing.T, x, silu, sig []float32) {
	t.Helper()
	for i, v := range x {
		ws, wg := refSiLU(v)
		within32(t, "silu", i, silu[i], ws, 2e-15)
		within32(t, "sig", i, sig[i], wg, 2e-15)
	}
	ws, wg := make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		ws[i], wg[i] = refSiLUBits(v)
	}
	same32(t, "silu bits", silu, ws)
	same32(t, "sig bits", sig, wg)
}

// checkExpShift checks ExpShift(d, x, mx) = sum against e**(x[j] − mx) with
// the difference rounded to float32 and clamped to [−708, 709]: from
// math.Exp within rounding errors, and bit for bit from kernels.ExpFast
// summed in ascending j.
func checkExpShift(t *testing.T, x, d []float32, mx float32, sum float64) {
	t.Helper()
	var want, abs, bits float64
	for j, v := range x {
		a := float64(sub32(v, mx))
		if a == a {
			a = min(max(a, -708), 709)
		}
		e, eb := math.Exp(a), kernels.ExpFast(a)
		if d != nil {
			within32(t, "exp", j, d[j], e, 1e-15)
			same32(t, "exp bits", d[j:j+1], []float32{float32(eb)})
		}
		want += e
		abs += math.Abs(e)
		bits += eb
	}
	same64(t, "sum bits", sum, bits)
	if want != want || math.IsInf(want, 0) {
		same64(t, "sum", sum, want)
		return
	}
	if tol := float64(len(x)+2) * 0x1p-52 * abs; math.Abs(sum-want) > tol {
		t.Fatalf("sum = %v, want %v ± %v", sum, want, tol)
	}
}

// refAbsMax is max |x_i|: 0 for an empty x, NaN when some x_i is NaN.
func refAbsMax(x []float32) float32 {
	var m float32
	for _, v := range x {
		if v != v {
			return v
		}
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	return m + 0 // |−0| is +0
}

// refMax is the largest x_i: −∞ for an empty x, NaN when some x_i is NaN,
// and +0 when the largest values are zeros of both signs.
func refMax(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v != v {
			return v
		}
		if v > m || (v == 0 && m == 0 && !math.Signbit(float64(v))) {
			m = v
		}
	}
	return m
}

// refRoundClip clamps p to [lo, hi] and rounds half away from zero.
func refRoundClip(p, lo, hi float32) float32 {
	if p != p {
		return p
	}
	return float32(math.Round(float64(min(max(p, lo), hi))))
}

func refQuantMulDiv(x []float32, s, lo, hi float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = div32(refRoundClip(mul32(v, s), lo, hi), s)
	}
	return out
}

func refQuantDivMul(x []float32, m, lo, hi float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = mul32(refRoundClip(div32(v, m), lo, hi), m)
	}
	return out
}

// refMap applies f element-wise.
func refMap(n int, f func(i int) float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// refSiLUFactor is s·(1 + float32(x·(1−s))), the SiLU derivative from x and
// its stored σ.
func refSiLUFactor(x, s float32) float32 { return mul32(s, add32(1, mul32(x, sub32(1, s)))) }

// refF32 rounds v to the nearest float32 (ties to even) with math/big.
func refF32(v float64) float32 {
	if v != v {
		return float32(v)
	}
	f, _ := new(big.Float).SetFloat64(v).Float32()
	return f
}

// refSumSquares and refDotGain follow the documented order: four partial
// sums over i ≡ k (mod 4), the tail added to the first, combined as
// (s0+s1)+(s2+s3).
func refSumSquares(x []float32) float64 {
	return refOrdered(len(x), func(i int) float64 { v := float64(x[i]); return float64(v * v) })
}

func refDotGain(do, g, x []float32) float64 {
	return refOrdered(len(do), func(i int) float64 { return float64(float64(mul32(do[i], g[i])) * float64(x[i])) })
}

func refOrdered(n int, term func(i int) float64) float64 {
	var s [4]float64
	body := n - n%4
	for k := range s {
		for i := k; i < body; i += 4 {
			s[k] += term(i)
		}
	}
	for i := body; i < n; i++ {
		s[0] += term(i)
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// refAbsSum is Σ|x_i| as a running float64 sum in ascending i from +0.
func refAbsSum(x []float32) float64 {
	var s float64
	for _, v := range x {
		a := float64(v)
		if a < 0 {
			a = -a
		}
		s += a
	}
	return s
}

// refHeadDot is Σ_r Σ_i a[o+i]·b[o+i] for head h with o = r·width + h·p, one
// float64 running sum in ascending (r, i) of exact products.
func refHeadDot(a, b []float32, rows, width, p, h int) float64 {
	var s float64
	for r := 0; r < rows; r++ {
		for i := 0; i < p; i++ {
			o := r*width + h*p + i
			s += float64(float64(a[o]) * float64(b[o]))
		}
	}
	return s
}

// refDotTap is float32(init[c] + Σ_j ws[j][c]·xs[j][c]), a float64 running
// sum over the taps in ascending order (from +0 without init).
func refDotTap(init []float32, ws, xs [][]float32, c int) float32 {
	var s float64
	if init != nil {
		s = float64(init[c])
	}
	for j := range ws {
		s += float64(float64(ws[j][c]) * float64(xs[j][c]))
	}
	return float32(s)
}
