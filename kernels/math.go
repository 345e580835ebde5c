package kernels

import "math"

// The project's own transcendental functions. The standard library switches
// to FMA instructions on some CPUs (math.Exp on amd64) and the compiler fuses
// x*y+z on other architectures, so last bits could differ between machines.
// These are written with explicit float64 conversions around every product,
// which the Go specification forbids from being fused, and use only IEEE
// basic operations plus exact bit manipulation (Frexp, Ldexp): the same bits
// on every machine.

const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
	log2e = 1.44269504088896338700e+00
)

// expTable[j] = 2**(j/32), computed once by the slow exact-series path.
var expTable = func() (t [32]float64) {
	for j := range t {
		t[j] = expSlow(float64(j) * (ln2Hi + ln2Lo) / 32)
	}
	return
}()

const (
	ln2By32Hi  = ln2Hi / 32
	ln2By32Lo  = ln2Lo / 32
	inv32Ln2   = 32 * log2e
	roundMagic = 0x1.8p52
)

// Exp returns e**x (within about 2 ulp).
//
// x = (32m + j)·ln2/32 + r with |r| <= ln2/64; e**x = 2**m · 2**(j/32) · e**r,
// with e**r from its Taylor series to degree 6 (error < 4e-18).
func Exp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 709.782712893384:
		return math.Inf(1)
	case x < -745.1332191019412:
		return 0
	}
	// Round to nearest by the 1.5·2**52 trick (exact IEEE arithmetic, no
	// dependence on the CPU's rounding instructions).
	k := (float64(x*inv32Ln2) + roundMagic) - roundMagic
	r := (x - float64(k*ln2By32Hi)) - float64(k*ln2By32Lo)
	p := 1.0 / 720
	p = float64(p*r) + 1.0/120
	p = float64(p*r) + 1.0/24
	p = float64(p*r) + 1.0/6
	p = float64(p*r) + 0.5
	p = float64(p*r) + 1
	p = float64(p*r) + 1
	ki := int64(k)
	j := ki & 31
	m := (ki - j) / 32
	v := float64(expTable[j] * p)
	if m > -1022 && m < 1023 {
		return float64(v * math.Float64frombits(uint64(m+1023)<<52))
	}
	return math.Ldexp(v, int(m))
}

// ExpNonPos is Exp for the arguments of a softmax or log-sum-exp after the
// maximum is subtracted (x ≤ 0): the same operations in the same order, so
// the same bits (TestExpNonPosMatchesExp), without Exp's overflow and
// subnormal branches for x in [−708, 0]; other arguments go to Exp.
func ExpNonPos(x float64) float64 {
	if !(x >= -708 && x <= 0) {
		return Exp(x)
	}
	k := (float64(x*inv32Ln2) + roundMagic) - roundMagic
	r := (x - float64(k*ln2By32Hi)) - float64(k*ln2By32Lo)
	p := 1.0 / 720
	p = float64(p*r) + 1.0/120
	p = float64(p*r) + 1.0/24
	p = float64(p*r) + 1.0/6
	p = float64(p*r) + 0.5
	p = float64(p*r) + 1
	p = float64(p*r) + 1
	ki := int64(k)
	j := ki & 31
	m := (ki - j) / 32 // in (−1022, 1] for x in [−708, 0]
	v := float64(expTable[j] * p)
	return float64(v * math.Float64frombits(uint64(m+1023)<<52))
}

// expSlow is the reference series used to build the table.
func expSlow(x float64) float64 {
	k := math.Floor(float64(x*log2e) + 0.5)
	r := (x - float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := 1.0 / 6227020800
	for _, c := range [...]float64{1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1} {
		p = float64(p*r) + c
	}
	return math.Ldexp(p, int(k))
}

// Log returns the natural logarithm of x.
func Log(x float64) float64 {
	switch {
	case x != x || math.IsInf(x, 1):
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	f, e := math.Frexp(x)
	if f < math.Sqrt2/2 {
		f *= 2
		e--
	}
	s := (f - 1) / (f + 1)
	z := float64(s * s)
	// log f = 2 atanh(s) = 2 sum s**(2j+1)/(2j+1), |s| <= 0.1716.
	p := 1.0 / 25
	for j := 11; j >= 0; j-- {
		p = float64(p*z) + 1/float64(2*j+1)
	}
	ef := float64(e)
	return float64(ef*ln2Hi) + (float64(ef*ln2Lo) + float64(2*float64(s*p)))
}

// Log1p returns log(1+x), accurate for small x.
func Log1p(x float64) float64 {
	w := 1 + x
	if w == 1 {
		return x
	}
	return float64(Log(w)*x) / (w - 1)
}

// Pow returns x**y for x > 0.
func Pow(x, y float64) float64 { return Exp(float64(y * Log(x))) }

const (
	pio2A = 1.57079632673412561417e+00
	pio2B = 6.07710050630396597660e-11
	pio2C = 2.02226624871116645580e-21
)

// reduce returns r and the quadrant q with x = q*pi/2 + r, |r| <= pi/4,
// valid for |x| up to about 1e9.
func reduce(x float64) (float64, int) {
	k := math.Floor(float64(x*(2/math.Pi)) + 0.5)
	r := ((x - float64(k*pio2A)) - float64(k*pio2B)) - float64(k*pio2C)
	return r, int(int64(k) & 3)
}

func sinKernel(r float64) float64 {
	z := float64(r * r)
	p := 1.0 / 355687428096000
	for _, c := range [...]float64{-1.0 / 1307674368000, 1.0 / 6227020800, -1.0 / 39916800, 1.0 / 362880, -1.0 / 5040, 1.0 / 120, -1.0 / 6, 1} {
		p = float64(p*z) + c
	}
	return float64(r * p)
}

func cosKernel(r float64) float64 {
	z := float64(r * r)
	p := 1.0 / 20922789888000
	for _, c := range [...]float64{-1.0 / 87178291200, 1.0 / 479001600, -1.0 / 3628800, 1.0 / 40320, -1.0 / 720, 1.0 / 24, -0.5, 1} {
		p = float64(p*z) + c
	}
	return p
}

// Sin returns the sine of x (radians).
func Sin(x float64) float64 {
	r, q := reduce(x)
	switch q {
	case 0:
		return sinKernel(r)
	case 1:
		return cosKernel(r)
	case 2:
		return -sinKernel(r)
	default:
		return -cosKernel(r)
	}
}

// Cos returns the cosine of x (radians).
func Cos(x float64) float64 {
	r, q := reduce(x)
	switch q {
	case 0:
		return cosKernel(r)
	case 1:
		return -sinKernel(r)
	case 2:
		return -cosKernel(r)
	default:
		return sinKernel(r)
	}
}

// Exp32 returns e**x in float32.
func Exp32(x float32) float32 { return float32(Exp(float64(x))) }

// Log32 returns log(x) in float32.
func Log32(x float32) float32 { return float32(Log(float64(x))) }

// Sigmoid returns σ(x) = 1/(1+e**−x) in float64, with ExpFast. It has no
// data-dependent branch: for x < −709, e**−x is +Inf and the result 0 (the
// true value is below 1.3e−308).
func Sigmoid(x float64) float64 { return 1 / (1 + ExpFast(-x)) }

// Sigmoid32 returns σ(x) rounded once to float32. For every float32 x it
// equals the σ that kernels/vec.SiLU writes (that kernel clamps the argument
// of the exponential, which changes no float32 σ).
func Sigmoid32(x float32) float32 { return float32(Sigmoid(float64(x))) }

// Softplus32 returns log(1+e**x), computed stably.
func Softplus32(x float32) float32 {
	v := float64(x)
	if v > 30 {
		return x
	}
	if v > 0 {
		return float32(v + Log1p(Exp(-v)))
	}
	return float32(Log1p(Exp(v)))
}

// ExpFast and ExpFastInRange are the exponential of the model's hot
// element-wise functions (SiLU, sigmoid, the softmax and cross-entropy
// exponentials; the row forms are in kernels/vec). Like Exp they use only
// IEEE basic float64 operations, with an explicit conversion around every
// product, and exact bit manipulation; they trade Exp's subnormal results
// and the last ulp of accuracy for speed (Estrin's scheme instead of
// Horner's). The two exponentials differ in bits and both feed recorded
// results, so neither may replace the other.

// ExpFastMin and ExpFastMax bound the arguments of ExpFastInRange. e**−708
// is the smallest result that is normal.
const (
	ExpFastMin = -708.0
	ExpFastMax = 709.0
)

// ExpFast returns e**x for x in [ExpFastMin, ExpFastMax] (as
// ExpFastInRange), 0 below, +Inf above and NaN for NaN.
func ExpFast(x float64) float64 {
	if !(x >= ExpFastMin && x <= ExpFastMax) {
		switch {
		case x != x:
			return x
		case x < 0:
			return 0
		default:
			return math.Inf(1)
		}
	}
	return ExpFastInRange(x)
}

// ExpFastInRange returns e**x (within about 1 ulp) for x in [ExpFastMin,
// ExpFastMax], and NaN for NaN; other arguments give meaningless results.
// x = (32m + j)·ln2/32 + r with |r| ≤ ln2/64; e**x = 2**m · 2**(j/32) ·
// e**r, with 2**(j/32) from Exp's table and e**r from its Taylor polynomial
// of degree 6 in Estrin's scheme.
// The vector form in kernels/vec (which clamps its arguments to the range)
// performs exactly these operations with ExpFastConstants.
func ExpFastInRange(x float64) float64 {
	// Round to nearest by the 1.5·2**52 trick: the low bits of kd hold
	// k + 2**51.
	kd := float64(x*inv32Ln2) + roundMagic
	k := kd - roundMagic
	r := (x - float64(k*ln2By32Hi)) - float64(k*ln2By32Lo)
	r2 := float64(r * r)
	lo := 1 + r
	mid := 0.5 + float64(r*(1.0/6))
	hi := (1.0 / 24) + float64(r*(1.0/120))
	hi = hi + float64(r2*(1.0/720))
	p := lo + float64(r2*(mid+float64(r2*hi)))
	// Shifting out the exponent and the 2**51 bit of kd leaves k as a
	// signed integer.
	ki := int64(math.Float64bits(kd)<<13) >> 13
	scale := math.Float64frombits(uint64((ki>>5)+1023) << 52)
	return float64(float64(expTable[ki&31]*p) * scale)
}

// ExpFastConstants returns the constants of ExpFastInRange in the layout
// kernels/vec's assembly reads: ExpFastMin, ExpFastMax, 32/ln2, 1.5·2**52,
// the high and low parts of ln2/32, the Taylor coefficients 1, 1/2, 1/6,
// 1/24, 1/120 and 1/720, then the 32 table entries 2**(j/32).
func ExpFastConstants() (c [44]float64) {
	copy(c[:], []float64{ExpFastMin, ExpFastMax, inv32Ln2, roundMagic, ln2By32Hi, ln2By32Lo,
		1, 0.5, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720})
	copy(c[12:], expTable[:])
	return
}
