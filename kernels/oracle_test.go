package kernels

import (
	"math"
	"math/big"
	"slices"
	"testing"
)

// The oracles below are written from the documented results, independently
// of the kernels' Go code (which is what every kernel set is compared with
// under the purego tag, where no other set exists).

// fmaExact returns a·b+c rounded once to float32 (ties to even): the exact
// sum in math/big, rounded by big.Float.Float32, which also handles
// subnormal and overflowing results. When an operand is not finite, or the
// product or c is zero, float64 arithmetic is exact (the product of two
// float32 values always is) and decides the IEEE special cases.
func fmaExact(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	if math.IsInf(p, 0) || p != p || math.IsInf(float64(c), 0) || c != c || p == 0 || c == 0 {
		return float32(p + float64(c))
	}
	const prec = 2048 // every float32 product and sum is exact
	x := new(big.Float).SetPrec(prec).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(prec).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(prec).SetFloat64(float64(c)))
	if x.Sign() == 0 {
		return 0 // an exact zero sum of nonzero terms is +0
	}
	f, _ := x.Float32()
	return f
}

func same32bits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestFMA32MatchesExactRounding checks FMA32 against fmaExact on random
// operands of every magnitude, on sums at and next to float32 halfway
// points, and on special values.
func TestFMA32MatchesExactRounding(t *testing.T) {
	check := func(a, b, c float32) {
		t.Helper()
		if got, want := FMA32(a, b, c), fmaExact(a, b, c); !same32bits(got, want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g (%#x), exact rounding %g (%#x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	s := &testStream{state: 99}
	n := 100000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i < n; i++ {
		a, b, c := math.Float32frombits(uint32(s.next())), math.Float32frombits(uint32(s.next())), math.Float32frombits(uint32(s.next()))
		check(a, b, c)
		a = float32(1 + float64(s.next()>>41)/(1<<23))
		b = float32(1 + float64(s.next()>>41)/(1<<23))
		check(a, b, -float32(1+float64(s.next()>>41)/(1<<23)))
		// c chosen so a·b+c lands on or next to a float32 halfway point.
		p := float64(a) * float64(b)
		r := float64(float32(p))
		ulp := float64(math.Nextafter32(float32(r), float32(math.Inf(1)))) - r
		for _, off := range []float64{ulp / 2, -ulp / 2, ulp/2 + ulp/(1<<30), ulp / (1 << 25)} {
			check(a, b, float32(r+off-p))
		}
		// Results near and below the smallest normal float32.
		check(a*0x1p-70, b*0x1p-60, float32(s.float()-0.5)*0x1p-126)
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38, -3.4028235e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1, -1, 0.5, 3e-39, 1 + 0x1p-23, 0x1p-12}
	for _, a := range special {
		for _, b := range special {
			for _, c := range special {
				check(a, b, c)
			}
		}
	}
}

// refGemmExact is refGemm with every step rounded by fmaExact.
func refGemmExact(variant string, c, a, b []float32, m, k, n int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			if acc {
				s = c[i*n+j]
			}
			for p := 0; p < k; p++ {
				av, bv := a[i*k+p], b[p*n+j]
				switch variant {
				case "NT":
					bv = b[j*k+p]
				case "TN":
					av = a[p*m+i]
				}
				s = fmaExact(av, bv, s)
			}
			c[i*n+j] = s
		}
	}
}

// TestGemmMatchesExactChain compares every kernel set with chains of
// exactly rounded fused multiply-adds (math/big) on ragged shapes that
// cross the micro-tile edges of every set, and adversarial values.
func TestGemmMatchesExactChain(t *testing.T) {
	shapes := []gemmShape{{1, 1, 1}, {3, 7, 5}, {13, 17, 33}, {25, 9, 40}, {7, 70, 3}, {40, 33, 70}}
	for si, sh := range shapes {
		s := &testStream{state: uint64(si) + 1000}
		a := adversarialData(s, sh.m*sh.k)
		b := adversarialData(s, sh.k*sh.n)
		c0 := adversarialData(s, sh.m*sh.n)
		for _, variant := range variants {
			for _, acc := range []bool{false, true} {
				want := slices.Clone(c0)
				refGemmExact(variant, want, a, b, sh.m, sh.k, sh.n, acc)
				for _, ks := range availableKernels() {
					got := slices.Clone(c0)
					gemmWith(ks, variant, 2, got, a, b, sh.m, sh.k, sh.n, acc)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s %s %v acc=%v: C[%d] = %g (%#x), exact chain %g (%#x)",
							ks.name, variant, sh, acc, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// adamwRef is one AdamW step of one element as AdamWUpdate documents it,
// line by line in float64 with every product converted (never fused).
func adamwRef(w, g, m, v float32, k AdamWConsts) (nw, nm, nv float32) {
	gv := float64(g)
	nm = float32(float64(k.Beta1*float64(m)) + float64((1-k.Beta1)*gv))
	nv = float32(float64(k.Beta2*float64(v)) + float64(float64((1-k.Beta2)*gv)*gv))
	theta := float64(w)
	theta = theta - float64(k.Decay*theta)
	step := float64(k.LR * (float64(nm) / k.C1))
	return float32(theta - step/(math.Sqrt(float64(nv)/k.C2)+k.Eps)), nm, nv
}

// TestAdamWFirstStepClosedForm checks the closed form of the first step
// from zero moments with the exact bias corrections: m/C1 = g and
// sqrt(v/C2) = |g|, so w moves by −LR·g/(|g|+ε), about −LR·sign(g).
func TestAdamWFirstStepClosedForm(t *testing.T) {
	const lr = 0.01
	k := AdamWConsts{Beta1: 0.9, Beta2: 0.999, C1: 1 - 0.9, C2: 1 - 0.999, Eps: 1e-8, LR: lr}
	g := []float32{1, -2, 0.5, -0.25, 3, 1e-3, -1e-3, 0, 4, -4, 2, 8, -8, 16, 0.125, 7, -7}
	w := make([]float32, len(g))
	for i := range w {
		w[i] = float32(i) - 3
	}
	m, v := make([]float32, len(g)), make([]float32, len(g))
	w0 := slices.Clone(w)
	AdamWUpdate(w, slices.Clone(g), m, v, k)
	for i, gv := range g {
		x := float64(gv)
		want := float64(w0[i]) - lr*x/(math.Abs(x)+1e-8)
		if math.Abs(float64(w[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("g=%v: w = %v, want %v", gv, w[i], want)
		}
		if d := float64(m[i]) - 0.1*x; math.Abs(d) > 1e-7*math.Abs(x) {
			t.Errorf("g=%v: m = %v, want %v", gv, m[i], 0.1*x)
		}
		if d := float64(v[i]) - 0.001*x*x; math.Abs(d) > 1e-7*x*x {
			t.Errorf("g=%v: v = %v, want %v", gv, v[i], 0.001*x*x)
		}
	}
	// Decoupled weight decay alone: w·(1 − Decay) when g = 0.
	k.Decay = 0.25
	w, g0 := []float32{4, -8, 1}, make([]float32, 3)
	AdamWUpdate(w, g0, make([]float32, 3), make([]float32, 3), k)
	if !slices.Equal(w, []float32{3, -6, 0.75}) {
		t.Errorf("decay step: w = %v, want [3 -6 0.75]", w)
	}
}

// TestAdamWZeroWeights compares AdamWUpdate with adamwRef where the new
// weight is the update term alone (w = 0), so that a change in any of its
// operations shows in the rounded result.
func TestAdamWZeroWeights(t *testing.T) {
	k := AdamWConsts{Beta1: 0.9, Beta2: 0.95, Decay: 1e-4, C1: 0.19, C2: 0.0975, Eps: 1e-8, LR: 1e-3}
	s := &testStream{state: 5}
	const n = 4099
	w, g, m, v := make([]float32, n), normalData(s, n), normalData(s, n), normalData(s, n)
	for i := range v {
		v[i] = v[i] * v[i]
	}
	g0, m0, v0 := slices.Clone(g), slices.Clone(m), slices.Clone(v)
	AdamWUpdate(w, g, m, v, k)
	for i := range w {
		rw, rm, rv := adamwRef(0, g0[i], m0[i], v0[i], k)
		if !same32bits(w[i], rw) || !same32bits(m[i], rm) || !same32bits(v[i], rv) {
			t.Fatalf("element %d: (w, m, v) = (%v, %v, %v), documented operations give (%v, %v, %v)", i, w[i], m[i], v[i], rw, rm, rv)
		}
	}
}

// refPanel is one packed micro-panel as packFunc documents it.
func refPanel(src []float32, base, ld int, contiguous bool, lanes, width, kc int) []float32 {
	dst := make([]float32, kc*width)
	for p := 0; p < kc; p++ {
		for j := 0; j < lanes; j++ {
			if contiguous {
				dst[p*width+j] = src[base+p*ld+j]
			} else {
				dst[p*width+j] = src[base+j*ld+p]
			}
		}
	}
	return dst
}

// refBlock is a packed block as packBlockFunc documents it: panel q holds
// lanes [q·width, q·width+width), lanes past n are +0.
func refBlock(src []float32, base, ld int, contiguous bool, n, width, kc int) []float32 {
	panels := (n + width - 1) / width
	dst := make([]float32, panels*width*kc)
	for q := 0; q < panels; q++ {
		for p := 0; p < kc; p++ {
			for j := 0; j < width; j++ {
				l := q*width + j
				if l >= n {
					continue
				}
				if contiguous {
					dst[q*width*kc+p*width+j] = src[base+p*ld+l]
				} else {
					dst[q*width*kc+p*width+j] = src[base+l*ld+p]
				}
			}
		}
	}
	return dst
}

// TestGemmInfinities compares every kernel set with the exact chains when
// A and C hold infinities: an infinite operand gives the IEEE result (±Inf,
// or NaN for Inf − Inf and Inf·0), as the hardware fused multiply-add does.
func TestGemmInfinities(t *testing.T) {
	const m, k, n = 13, 9, 35
	inf := float32(math.Inf(1))
	s := &testStream{state: 2024}
	a := normalData(s, m*k)
	b := normalData(s, k*n)
	c0 := normalData(s, m*n)
	a[3], a[k+5], c0[7], c0[n+1], c0[2*n+3] = -inf, inf, -inf, inf, -inf
	for _, variant := range variants {
		want := slices.Clone(c0)
		refGemmExact(variant, want, a, b, m, k, n, true)
		for _, ks := range availableKernels() {
			got := slices.Clone(c0)
			gemmWith(ks, variant, 1, got, a, b, m, k, n, true)
			for i := range want {
				if !same32bits(got[i], want[i]) {
					t.Fatalf("%s %s: C[%d] = %v, exact chain %v", ks.name, variant, i, got[i], want[i])
				}
			}
		}
	}
}
