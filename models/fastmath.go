package models

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// The hot elementwise transcendentals of the model (SiLU, sigmoid, softmax
// and cross-entropy exponentials). They use only IEEE basic float64
// operations, with an explicit conversion around every product so that no
// compiler fuses a multiply-add, and exact bit manipulation: the same bits on
// every machine and for any thread count. They trade the special-case
// handling of kernels.Exp (subnormal results) for speed; the accuracy is
// about 1 ulp of float64, far below the float32 results they feed.

const (
	fastLn2By32Hi = 6.93147180369123816490e-01 / 32
	fastLn2By32Lo = 1.90821492927058770002e-10 / 32
	fastInv32Ln2  = 32 * 1.44269504088896338700e+00
	fastRound     = 0x1.8p52
	// fastExpMin is the smallest argument with a normal result; below it
	// fastExp returns 0 (the true value is under 2.3e-308).
	fastExpMin = -708.0
	fastExpMax = 709.0
)

// fastExpTable[j] = 2**(j/32).
var fastExpTable = func() (t [32]float64) {
	for j := range t {
		t[j] = kernels.Exp(float64(j) * 0.6931471805599453 / 32)
	}
	return
}()

// fastExp returns e**x for x in [−708, 709]: 0 below, +Inf above, NaN for
// NaN. x = (32m + j)·ln2/32 + r with |r| ≤ ln2/64; e**r comes from its
// Taylor polynomial of degree 6.
func fastExp(x float64) float64 {
	if !(x >= fastExpMin && x <= fastExpMax) {
		switch {
		case x != x:
			return x
		case x < 0:
			return 0
		default:
			return math.Inf(1)
		}
	}
	k := (float64(x*fastInv32Ln2) + fastRound) - fastRound
	r := (x - float64(k*fastLn2By32Hi)) - float64(k*fastLn2By32Lo)
	// Estrin's scheme for 1 + r + r²/2 + … + r⁶/720: short dependency chains.
	r2 := float64(r * r)
	lo := 1 + r
	mid := 0.5 + float64(r*(1.0/6))
	hi := (1.0 / 24) + float64(r*(1.0/120))
	hi = hi + float64(r2*(1.0/720))
	p := lo + float64(r2*(mid+float64(r2*hi)))
	ki := int64(k)
	scale := math.Float64frombits(uint64((ki>>5)+1023) << 52)
	return float64(float64(fastExpTable[ki&31]*p) * scale)
}

// sigmoid64 returns 1/(1+e**−x) in float64. It has no data-dependent
// branch: for x < −709, e**−x is +Inf and the result 0 (the true value is
// below 1.3e−308).
func sigmoid64(x float64) float64 { return 1 / (1 + fastExp(-x)) }

// sigmoid32 returns 1/(1+e**−x) rounded to float32.
func sigmoid32(x float32) float32 { return float32(sigmoid64(float64(x))) }

// siluSig returns SiLU(x) = x·σ(x) and σ(x), each rounded once to float32.
func siluSig(x float32) (silu, sig float32) {
	s := sigmoid64(float64(x))
	return float32(float64(float64(x) * s)), float32(s)
}

// siluGradSig returns d SiLU/dx = σ·(1 + x·(1−σ)) from x and its stored σ.
func siluGradSig(x, s float32) float32 {
	return s * (1 + float32(x*(1-s)))
}

// siluRow writes silu[i], sig[i] = siluSig(x[i]) for every i, with the same
// bits for every input but −Inf (where SiLU gives −Inf here, NaN there):
// vec.SiLU clamps the argument of the exponential to [−708, 709], which
// changes no float32 result (σ is then below 1.3e−308 or equal to 1 after
// rounding, as with the 0 or +Inf of fastExp), and NaN stays NaN.
func siluRow(silu, sig, x []float32) { vec.SiLU(silu, sig, x) }

// expShiftRow writes d[j] = float32(e**(x[j] − mx)) (when d is not nil) and
// returns Σ_j e**(x[j] − mx) in float64, summed in ascending j. Each
// exponential equals fastExp(float64(x[j] − mx)) for mx ≥ max x (so the
// argument is ≤ 0): below −708 the clamp of vec.ExpShift gives e**−708
// instead of 0, which rounds to the same float32 and leaves a sum that is
// ≥ 1 unchanged.
func expShiftRow(d, x []float32, mx float32) float64 { return vec.ExpShift(d, x, mx) }
