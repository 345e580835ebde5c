package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specials are injected into the random inputs of every kernel.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32,
	1e4, -1e4, 700, -700, 88.7, -88.7, 0.5, -0.5, 1.5, -2.5, 7.5, -7.5, 1, -1,
}

// lengths covers the empty input, every tail length and a few long rows.
var lengths = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 255, 1000}

// inputs returns a length-n vector: values of the given scale, with every
// fifth element (when withSpecials) taken from specials.
func inputs(r *rand.Rand, n int, scale float64, withSpecials bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
		if withSpecials && r.IntN(5) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		}
	}
	return x
}

// input is one random configuration of a kernel test.
type input struct {
	name     string
	scale    float64
	specials bool
}

var inputKinds = []input{
	{"unit", 1, false},
	{"wide", 30, false},
	{"huge", 1e30, false},
	{"tiny", 1e-39, false},
	{"specials", 3, true},
}

// same32 fails unless got and want have the same bits, or are both NaN.
func same32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != got[i] && want[i] != want[i] {
			continue // both NaN: payloads are not specified
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d]: %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// same64 is same32 for one float64.
func same64(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got != got && want != want {
		return // both NaN: payloads are not specified
	}
	if math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("%s: %v (%#016x), want %v (%#016x)", what, got, math.Float64bits(got), want, math.Float64bits(want))
	}
}

// forAll runs fn for every input kind and length with a fixed seed.
func forAll(t *testing.T, fn func(t *testing.T, r *rand.Rand, n int, in input)) {
	for _, in := range inputKinds {
		t.Run(in.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(in.name))))
			for _, n := range lengths {
				for rep := 0; rep < 3; rep++ {
					fn(t, r, n, in)
				}
			}
		})
	}
}

func TestSiLU(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		x := inputs(r, n, in.scale, in.specials)
		silu, sig := make([]float32, n), make([]float32, n)
		wsilu, wsig := make([]float32, n), make([]float32, n)
		SiLU(silu, sig, x)
		siluGo(wsilu, wsig, x)
		same32(t, "silu", silu, wsilu)
		same32(t, "sig", sig, wsig)
		checkSiLU(t, x, silu, sig)
	})
}

func TestExpShift(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		x := inputs(r, n, in.scale, in.specials)
		for _, mx := range []float32{refMax(x), 0, 3, float32(math.Inf(1))} {
			d, wd := make([]float32, n), make([]float32, n)
			sum := ExpShift(d, x, mx)
			same64(t, "sum", sum, expShiftGo(0, wd, x, mx))
			same32(t, "d", d, wd)
			same64(t, "sum without d", ExpShift(nil, x, mx), expShiftGo(0, nil, x, mx))
			checkExpShift(t, x, d, mx, sum)
		}
	})
}

func TestAbsMaxMax(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		x := inputs(r, n, in.scale, in.specials)
		same32(t, "absmax", []float32{AbsMax(x)}, []float32{absMaxGo(x)})
		same32(t, "max", []float32{Max(x)}, []float32{maxGo(x)})
		same32(t, "absmax oracle", []float32{AbsMax(x)}, []float32{refAbsMax(x)})
		same32(t, "max oracle", []float32{Max(x)}, []float32{refMax(x)})
		neg := make([]float32, n)
		for i, v := range x {
			neg[i] = -float32(math.Abs(float64(v)))
		}
		same32(t, "max of negatives", []float32{Max(neg)}, []float32{maxGo(neg)})
		same32(t, "max of negatives oracle", []float32{Max(neg)}, []float32{refMax(neg)})
	})
	// Signed zeros: the max built-in takes +0 over −0 in either order.
	z := make([]float32, 40)
	for i := range z {
		z[i] = float32(math.Copysign(0, -1))
	}
	for _, i := range []int{0, 17, 39} {
		zz := append([]float32(nil), z...)
		zz[i] = 0
		same32(t, "max of zeros", []float32{Max(zz)}, []float32{maxGo(zz)})
		same32(t, "max of zeros oracle", []float32{Max(zz)}, []float32{0})
	}
	same32(t, "max of −0", []float32{Max(z)}, []float32{maxGo(z)})
	same32(t, "max of −0 oracle", []float32{Max(z)}, []float32{z[0]})
	// Known answers.
	k := []float32{3, -7, 5, 2, -1, 0, 4, 6.5, -6.75, 1, 2, 3, 4, 5, 6, 6.25, 0.5}
	same32(t, "known absmax", []float32{AbsMax(k), AbsMax(k[:3]), AbsMax(nil)}, []float32{7, 7, 0})
	same32(t, "known max", []float32{Max(k), Max(k[:2]), Max(nil)}, []float32{6.5, 3, float32(math.Inf(-1))})
}

func TestQuant(t *testing.T) {
	grids := []struct{ lo, hi float32 }{{-1, 1}, {-2, 1}, {-7, 7}, {-128, 127}, {-32768, 32767}}
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		x := inputs(r, n, in.scale, in.specials)
		for _, g := range grids {
			for _, s := range []float32{1, 0.37, 3.5, 127 / 2.75, 1e5} {
				got, want := make([]float32, n), make([]float32, n)
				QuantMulDiv(got, x, s, g.lo, g.hi)
				quantMulDivGo(want, x, s, g.lo, g.hi)
				same32(t, "muldiv", got, want)
				same32(t, "muldiv oracle", got, refQuantMulDiv(x, s, g.lo, g.hi))
				QuantDivMul(got, x, s, g.lo, g.hi)
				quantDivMulGo(want, x, s, g.lo, g.hi)
				same32(t, "divmul", got, want)
				same32(t, "divmul oracle", got, refQuantDivMul(x, s, g.lo, g.hi))
			}
		}
	})
}

func TestHalfwayRounding(t *testing.T) {
	// x·s lands exactly on ±(k + ½): rounding is half away from zero.
	var x []float32
	for k := -8; k <= 8; k++ {
		x = append(x, float32(k)+0.5, float32(k)-0.5, float32(k))
	}
	got, want := make([]float32, len(x)), make([]float32, len(x))
	QuantMulDiv(got, x, 1, -7, 7)
	quantMulDivGo(want, x, 1, -7, 7)
	same32(t, "halfway", got, want)
	for i, v := range x {
		if w := float32(math.Round(float64(min(max(v, -7), 7)))); got[i] != w {
			t.Fatalf("RoundClip(%v) = %v, want %v", v, got[i], w)
		}
	}
}

func TestElementwise(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		a := inputs(r, n, in.scale, in.specials)
		b := inputs(r, n, in.scale, in.specials)
		c := inputs(r, n, 1, in.specials)
		u := inputs(r, n, in.scale, in.specials)
		got, want := make([]float32, n), make([]float32, n)
		for _, lam := range []float32{0, 0.25, 0.5, 1} {
			Blend(got, a, b, lam)
			blendGo(want, a, b, lam)
			same32(t, "blend", got, want)
			same32(t, "blend oracle", got, refMap(n, func(i int) float32 { return add32(a[i], mul32(lam, sub32(b[i], a[i]))) }))
		}
		Mul(got, a, b)
		mulGo(want, a, b)
		same32(t, "mul", got, want)
		same32(t, "mul oracle", got, refMap(n, func(i int) float32 { return mul32(a[i], b[i]) }))
		for _, rs := range []float32{0.3, 1e20, 1e-20} {
			ScaleMul(got, a, b, rs)
			scaleMulGo(want, a, b, rs)
			same32(t, "scalemul", got, want)
			same32(t, "scalemul oracle", got, refMap(n, func(i int) float32 { return mul32(mul32(a[i], rs), b[i]) }))
		}
		got2, want2 := make([]float32, n), make([]float32, n)
		SiLUGrad(got, got2, a, b, c, u)
		siluGradGo(want, want2, a, b, c, u)
		same32(t, "silugrad dg", got, want)
		same32(t, "silugrad du", got2, want2)
		same32(t, "silugrad dg oracle", got, refMap(n, func(i int) float32 { return mul32(mul32(a[i], u[i]), refSiLUFactor(b[i], c[i])) }))
		same32(t, "silugrad du oracle", got2, refMap(n, func(i int) float32 { return mul32(a[i], mul32(b[i], c[i])) }))
		for _, k := range [][2]float64{{0.7, 0.01}, {3e10, -2e-5}} {
			copy(got, u)
			copy(want, u)
			RMSBack(got, a, b, c, k[0], k[1])
			rmsBackGo(want, a, b, c, k[0], k[1])
			same32(t, "rmsback", got, want)
			same32(t, "rmsback oracle", got, refMap(n, func(i int) float32 {
				d := float64(k[0]*float64(mul32(a[i], b[i]))) - float64(float64(c[i])*k[1])
				return add32(u[i], float32(d))
			}))
		}
		acc, wacc := make([]float64, n), make([]float64, n)
		for i := range acc {
			acc[i] = r.NormFloat64()
			wacc[i] = acc[i]
		}
		for _, rs := range []float32{0.3, 7e10} {
			prev := append([]float64(nil), acc...)
			GainGrad(acc, a, c, rs)
			gainGradGo(wacc, a, c, rs)
			for i := range acc {
				same64(t, "gaingrad", acc[i], wacc[i])
				same64(t, "gaingrad oracle", acc[i], prev[i]+float64(float64(a[i])*float64(mul32(c[i], rs))))
			}
		}
	})
}

func TestBlendInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := inputs(r, 77, 1, false), inputs(r, 77, 1, false)
	want := make([]float32, 77)
	blendGo(want, a, b, 0.3)
	ref := refMap(77, func(i int) float32 { return add32(a[i], mul32(0.3, sub32(b[i], a[i]))) })
	Blend(a, a, b, 0.3)
	same32(t, "blend into a", a, want)
	same32(t, "blend into a oracle", a, ref)
}

func TestConvKernels(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		a := inputs(r, n, in.scale, in.specials)
		b := inputs(r, n, in.scale, in.specials)
		acc, wacc := make([]float64, n), make([]float64, n)
		for i := range acc {
			acc[i] = r.NormFloat64() * in.scale
			wacc[i] = acc[i]
		}
		prev := append([]float64(nil), acc...)
		MulAddF64(acc, a, b)
		mulAddF64Go(wacc, a, b)
		for i := range acc {
			same64(t, "muladd", acc[i], wacc[i])
			same64(t, "muladd oracle", acc[i], prev[i]+float64(float64(a[i])*float64(b[i])))
		}
		got, want := make([]float32, n), make([]float32, n)
		ToF32(got, acc)
		toF32Go(want, acc)
		same32(t, "tof32", got, want)
		same32(t, "tof32 oracle", got, refMap(n, func(i int) float32 { return refF32(acc[i]) }))
		for _, d := range []float64{0.25, -3, float64(float32(1e-30)), 1e30} {
			copy(got, a)
			copy(want, a)
			AxpyExact(got, b, d)
			axpyExactGo(want, b, d)
			same32(t, "axpy", got, want)
			same32(t, "axpy oracle", got, refMap(n, func(i int) float32 { return refF32(float64(a[i]) + float64(d*float64(b[i]))) }))
		}
	})
}

func TestRowReductions(t *testing.T) {
	for _, in := range inputKinds {
		r := rand.New(rand.NewPCG(5, uint64(len(in.name))))
		for _, dim := range []int{1, 3, 4, 5, 8, 13, 16, 40, 128, 131} {
			for _, rows := range []int{0, 1, 3, 4, 5, 9} {
				x := inputs(r, rows*dim, in.scale, in.specials)
				do := inputs(r, rows*dim, in.scale, in.specials)
				g := inputs(r, dim, 1, in.specials)
				got := make([]float64, rows)
				SumSquaresRows(got, x, dim)
				for k := range got {
					same64(t, "sumsquares", got[k], sumSquaresGo(x[k*dim:k*dim+dim]))
					same64(t, "sumsquares oracle", got[k], refSumSquares(x[k*dim:k*dim+dim]))
				}
				DotGainRows(got, do, g, x, dim)
				for k := range got {
					same64(t, "dotgain", got[k], dotGainGo(do[k*dim:k*dim+dim], g, x[k*dim:k*dim+dim]))
					same64(t, "dotgain oracle", got[k], refDotGain(do[k*dim:k*dim+dim], g, x[k*dim:k*dim+dim]))
				}
			}
		}
	}
}

func TestMoreElementwise(t *testing.T) {
	forAll(t, func(t *testing.T, r *rand.Rand, n int, in input) {
		a := inputs(r, n, in.scale, in.specials)
		b := inputs(r, n, in.scale, in.specials)
		s := inputs(r, n, 1, in.specials)
		got, want := make([]float32, n), make([]float32, n)
		for _, f := range []float32{0.125, -3, 1e-30, 1e30} {
			Scale(got, a, f)
			scaleGo(want, a, f)
			same32(t, "scale", got, want)
			same32(t, "scale oracle", got, refMap(n, func(i int) float32 { return mul32(a[i], f) }))
			copy(got, a)
			copy(want, a)
			ScaleF64(got, float64(f)/3)
			scaleF64Go(want, float64(f)/3)
			same32(t, "scalef64", got, want)
			same32(t, "scalef64 oracle", got, refMap(n, func(i int) float32 { return refF32(float64(a[i]) * (float64(f) / 3)) }))
			copy(got, a)
			copy(want, a)
			SoftmaxBack(got, b, f, 0.17)
			softmaxBackGo(want, b, f, 0.17)
			same32(t, "softmaxback", got, want)
			same32(t, "softmaxback oracle", got, refMap(n, func(i int) float32 { return mul32(mul32(b[i], sub32(a[i], f)), 0.17) }))
		}
		Add(got, a, b)
		addGo(want, a, b)
		same32(t, "add", got, want)
		same32(t, "add oracle", got, refMap(n, func(i int) float32 { return add32(a[i], b[i]) }))
		SiLUBack(got, a, b, s)
		siluBackGo(want, a, b, s)
		same32(t, "siluback", got, want)
		same32(t, "siluback oracle", got, refMap(n, func(i int) float32 { return mul32(a[i], refSiLUFactor(b[i], s[i])) }))
	})
}

func TestAbsSums(t *testing.T) {
	for _, in := range inputKinds {
		r := rand.New(rand.NewPCG(9, uint64(len(in.name))))
		for _, n := range []int{0, 1, 5, 13, 64, 1003} {
			for _, k := range []int{0, 1, 3, 8, 9, 17} {
				xs := make([][]float32, k)
				for j := range xs {
					xs[j] = inputs(r, n, in.scale, in.specials)
				}
				got, want := make([]float64, k), make([]float64, k)
				AbsSums(got, xs)
				absSumsGo(want, xs)
				for j := range got {
					same64(t, "abssum", got[j], want[j])
					same64(t, "abssum oracle", got[j], refAbsSum(xs[j]))
				}
			}
		}
	}
}

func TestHeadDots(t *testing.T) {
	for _, in := range inputKinds {
		r := rand.New(rand.NewPCG(11, uint64(len(in.name))))
		for _, c := range []struct{ heads, p, rows, extra int }{
			{1, 8, 1, 0}, {3, 8, 5, 0}, {8, 16, 4, 3}, {9, 8, 7, 0}, {16, 32, 3, 24}, {5, 5, 4, 0}, {4, 64, 2, 1},
		} {
			width := c.heads*c.p + c.extra
			a := inputs(r, c.rows*width, in.scale, in.specials)
			b := inputs(r, c.rows*width, in.scale, in.specials)
			got, want := make([]float64, c.heads), make([]float64, c.heads)
			HeadDots(got, a, b, c.rows, width, c.p)
			headDotsGo(want, a, b, c.rows, width, c.p)
			for h := range got {
				same64(t, "headdots", got[h], want[h])
				same64(t, "headdots oracle", got[h], refHeadDot(a, b, c.rows, width, c.p, h))
			}
		}
	}
}

// TestHeadDotsAccChains checks that HeadDotsAcc over consecutive ranges of
// rows, each continuing the sums the previous one left, gives the bits of
// HeadDots over all the rows.
func TestHeadDotsAccChains(t *testing.T) {
	for _, in := range inputKinds {
		r := rand.New(rand.NewPCG(12, uint64(len(in.name))))
		for _, c := range []struct {
			heads, p, extra int
			split           []int // row counts of the ranges
		}{
			{1, 8, 0, []int{1, 1}}, {8, 32, 0, []int{3, 4, 1}}, {9, 8, 5, []int{2, 0, 7}}, {5, 5, 0, []int{4, 4}}, {4, 64, 3, []int{1, 6}},
		} {
			rows := 0
			for _, n := range c.split {
				rows += n
			}
			width := c.heads*c.p + c.extra
			a := inputs(r, rows*width, in.scale, in.specials)
			b := inputs(r, rows*width, in.scale, in.specials)
			want, got := make([]float64, c.heads), make([]float64, c.heads)
			HeadDots(want, a, b, rows, width, c.p)
			r0 := 0
			for _, n := range c.split {
				HeadDotsAcc(got, a[r0*width:], b[r0*width:], n, width, c.p)
				r0 += n
			}
			for h := range got {
				same64(t, "headdotsacc", got[h], want[h])
			}
		}
	}
}

func TestDotTaps(t *testing.T) {
	for _, in := range inputKinds {
		r := rand.New(rand.NewPCG(13, uint64(len(in.name))))
		for _, n := range lengths {
			for _, taps := range []int{0, 1, 3, 4, 8, 9} {
				for _, withInit := range []bool{false, true} {
					ws, xs := make([][]float32, taps), make([][]float32, taps)
					for j := range ws {
						ws[j] = inputs(r, n, 1, in.specials)
						xs[j] = inputs(r, n, in.scale, in.specials)
					}
					var init []float32
					if withInit {
						init = inputs(r, n, in.scale, in.specials)
					}
					got, want := make([]float32, n), make([]float32, n)
					DotTaps(got, init, ws, xs)
					dotTapsGo(want, init, ws, xs)
					same32(t, "dottaps", got, want)
					same32(t, "dottaps oracle", got, refMap(n, func(c int) float32 { return refDotTap(init, ws, xs, c) }))
				}
			}
		}
	}
}

// TestSiLUDerivative checks the SiLU backward kernels against central
// differences of x·σ(x) in float64, with σ stored as SiLU writes it.
func TestSiLUDerivative(t *testing.T) {
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	var x []float32
	for v := -20.0; v <= 20; v += 0.37 {
		x = append(x, float32(v))
	}
	n := len(x)
	y, s := make([]float32, n), make([]float32, n)
	SiLU(y, s, x)
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	back, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
	SiLUBack(back, ones, x, s)
	SiLUGrad(dg, du, ones, x, s, ones)
	for i, v := range x {
		const h = 1e-4
		fd := (silu(float64(v)+h) - silu(float64(v)-h)) / (2 * h)
		if d := math.Abs(float64(back[i]) - fd); d > 1e-5 {
			t.Fatalf("SiLUBack at %v = %v, central difference %v", v, back[i], fd)
		}
		// du = x·σ rounded in float32 operations: within an ulp of SiLU.
		if dg[i] != back[i] || math.Abs(float64(du[i]-y[i])) > 1.2e-7*math.Abs(float64(y[i])) {
			t.Fatalf("SiLUGrad at %v: dg %v du %v, want %v and ≈ SiLU %v", v, dg[i], du[i], back[i], y[i])
		}
	}
}

// TestArgmax checks the tie and NaN rules on known answers for both
// element types.
func TestArgmax(t *testing.T) {
	nan := math.NaN()
	negZero := math.Copysign(0, -1)
	for _, c := range []struct {
		x    []float64
		want int
	}{
		{nil, 0},
		{[]float64{5}, 0},
		{[]float64{1, 3, 2}, 1},
		{[]float64{1, 3, 3, 2}, 1},                 // first maximum on ties
		{[]float64{-2, -1, -1, -3}, 1},             // negative values
		{[]float64{negZero, 0, -1}, 0},             // −0 and +0 tie: the first wins
		{[]float64{0, negZero}, 0},                 //
		{[]float64{1, nan, 2, nan}, 2},             // a NaN after index 0 is never chosen
		{[]float64{nan, 5, 7}, 0},                  // nothing beats a leading NaN
		{[]float64{math.Inf(-1), math.Inf(-1)}, 0}, //
		{[]float64{-1, math.Inf(1), math.MaxFloat64}, 1},
	} {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.x, got, c.want)
		}
		x32 := make([]float32, len(c.x))
		for i, v := range c.x {
			x32[i] = float32(v)
		}
		if c.x != nil && c.x[len(c.x)-1] == math.MaxFloat64 {
			continue // not a float32 value
		}
		if got := Argmax(x32); got != c.want {
			t.Errorf("Argmax(float32 %v) = %d, want %d", x32, got, c.want)
		}
	}
}
