package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestTranscendentals(t *testing.T) {
	cases := []struct {
		name   string
		f, ref func(float64) float64
		lo, hi float64
		tol    float64
	}{
		{"Exp", Exp, math.Exp, -700, 700, 1e-15},
		{"Log", Log, math.Log, 1e-300, 1e300, 1e-15},
		{"LogNear1", Log, math.Log, 0.5, 2, 1e-15},
		{"Log1p", Log1p, math.Log1p, -0.5, 1, 1e-15},
		{"Sin", Sin, math.Sin, -3000, 3000, 2e-14},
		{"Cos", Cos, math.Cos, -3000, 3000, 2e-14},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const n = 20001
			for i := 0; i < n; i++ {
				x := c.lo + (c.hi-c.lo)*float64(i)/float64(n-1)
				if c.name == "Log" {
					x = math.Exp(math.Log(c.lo) + (math.Log(c.hi)-math.Log(c.lo))*float64(i)/float64(n-1))
				}
				got, want := c.f(x), c.ref(x)
				tol := c.tol
				if c.name == "Sin" || c.name == "Cos" {
					// absolute error near the zeros
					if d := math.Abs(got - want); d > tol {
						t.Fatalf("%s(%v) = %v, want %v (|diff| %g)", c.name, x, got, want, d)
					}
					continue
				}
				if e := relErr(got, want); e > tol {
					t.Fatalf("%s(%v) = %v, want %v (rel err %g)", c.name, x, got, want, e)
				}
			}
		})
	}
}

func TestSpecialValues(t *testing.T) {
	if !math.IsInf(Exp(1000), 1) || Exp(-1000) != 0 || !math.IsNaN(Exp(math.NaN())) {
		t.Fatal("Exp special values wrong")
	}
	if !math.IsInf(Log(0), -1) || !math.IsNaN(Log(-1)) || Log(1) != 0 {
		t.Fatal("Log special values wrong")
	}
	if Softplus32(100) != 100 || Softplus32(-100) <= 0 {
		t.Fatal("Softplus32 tails wrong")
	}
	if d := math.Abs(float64(Softplus32(0)) - math.Ln2); d > 1e-7 {
		t.Fatalf("Softplus32(0) = %v", Softplus32(0))
	}
}

func TestFMA32SingleRounding(t *testing.T) {
	// Halfway cases where a double rounding (through float64) differs from
	// one rounding: a*b+c lies just above a float32 halfway point, but
	// rounding to float64 first lands exactly on it.
	a := float32(1 + 1.0/(1<<12))  // 1 + 2^-12
	b := float32(1 + 1.0/(1<<12))  // product = 1 + 2^-11 + 2^-24
	c := float32(-1.0 / (1 << 11)) // leaves 1 + 2^-24 exactly
	got := FMA32(a, b, c)
	// exact value 1 + 2^-24 is a tie between 1 and 1+2^-23: ties to even -> 1
	if got != 1 {
		t.Fatalf("FMA32 tie case = %v, want 1", got)
	}
	// add a tiny term below float64 resolution: must round up
	c2 := float32(-1.0/(1<<11)) + 0 // same as c
	_ = c2
	x := FMA32(float32(1+1.0/(1<<23)), float32(1+1.0/(1<<23)), -float32(1.0/(1<<22)))
	// exact: 1 + 2^-46 -> rounds to 1
	if x != 1 {
		t.Fatalf("FMA32 = %v, want 1", x)
	}
	// random agreement with float64-exact reference where no double rounding occurs
	for i := 0; i < 1000; i++ {
		a := float32(i)*0.37 - 100
		b := float32(i%17) * 1.13
		c := float32(i%5) * -3.7
		want := float32(float64(a)*float64(b) + float64(c))
		if got := FMA32(a, b, c); got != want && math.Abs(float64(got-want)) > math.Abs(float64(want))*1.2e-7 {
			t.Fatalf("FMA32(%v,%v,%v)=%v want≈%v", a, b, c, got, want)
		}
	}
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = float64(i)*0.01 - 5
	}
	b.ResetTimer()
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += Exp(xs[i&1023])
	}
	_ = s
}

func BenchmarkStdExp(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = float64(i)*0.01 - 5
	}
	b.ResetTimer()
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += math.Exp(xs[i&1023])
	}
	_ = s
}

// TestFMA32FastPathMatchesExact compares FMA32 (with its fast path) against
// the exact round-to-odd path on random operands of every magnitude, on
// sums placed on and next to float32 halfway points, and on subnormal,
// overflowing and special values.
func TestFMA32FastPathMatchesExact(t *testing.T) {
	check := func(a, b, c float32) {
		got, want := FMA32(a, b, c), fma32Exact(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g (%#x), exact path %g (%#x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	h := uint64(88172645463325252)
	next := func() uint32 {
		h ^= h << 13
		h ^= h >> 7
		h ^= h << 17
		return uint32(h)
	}
	for i := 0; i < 2_000_000; i++ {
		a, b, c := math.Float32frombits(next()), math.Float32frombits(next()), math.Float32frombits(next())
		check(a, b, c)
		// Operands of similar magnitude, where cancellation and ties are common.
		a = float32(1 + float64(next()>>9)/(1<<23))
		b = float32(1 + float64(next()>>9)/(1<<23))
		c = -float32(1 + float64(next()>>9)/(1<<23))
		check(a, b, c)
		// c chosen so a*b+c lands on or next to a halfway point of float32.
		p := float64(a) * float64(b)
		r := float64(float32(p))
		ulp := float64(math.Nextafter32(float32(r), float32(math.Inf(1)))) - r
		for _, off := range []float64{ulp / 2, -ulp / 2, ulp/2 + ulp/(1<<30), ulp / (1 << 25)} {
			check(a, b, float32(r+off-p))
		}
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38, -3.4028235e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1, -1, 0.5, 3e-39}
	for _, a := range special {
		for _, b := range special {
			for _, c := range special {
				check(a, b, c)
			}
		}
	}
}

// TestExpFast checks ExpFast against the standard library's exponential
// (within 1e-15 relative: about 4 ulp) over its range, its special values,
// and that ExpFastInRange is the same function inside the range.
func TestExpFast(t *testing.T) {
	s := &testStream{state: 7}
	check := func(x float64) {
		t.Helper()
		got, want := ExpFast(x), math.Exp(x)
		if e := relErr(got, want); e > 1e-15 {
			t.Fatalf("ExpFast(%v) = %v, want %v (rel err %g)", x, got, want, e)
		}
		if in := ExpFastInRange(x); math.Float64bits(in) != math.Float64bits(got) {
			t.Fatalf("ExpFastInRange(%v) = %v, ExpFast = %v", x, in, got)
		}
	}
	for i := 0; i < 200000; i++ {
		check(s.float()*(ExpFastMax-ExpFastMin) + ExpFastMin)
		check(s.float()*40 - 20)
		check(float64(float32(s.float()*2 - 1)))
	}
	for _, x := range []float64{0, math.Copysign(0, -1), 1, -1, 0.5, ExpFastMin, ExpFastMax, -707.9, 708.9, 1e-300, -1e-20, math.Ln2, 32 * math.Ln2} {
		check(x)
	}
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {math.Inf(-1), 0}, {-1000, 0}, {-709, 0}, {math.Nextafter(ExpFastMin, math.Inf(-1)), 0},
		{math.Inf(1), math.Inf(1)}, {710, math.Inf(1)}, {math.Nextafter(ExpFastMax, 1000), math.Inf(1)},
	} {
		if got := ExpFast(c.x); got != c.want {
			t.Errorf("ExpFast(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got, in := ExpFast(math.NaN()), ExpFastInRange(math.NaN()); got == got || in == in {
		t.Errorf("ExpFast(NaN) = %v, ExpFastInRange(NaN) = %v, want NaN", got, in)
	}
}

// TestExpFastConstants checks the constant block of the vector forms
// against its documented layout.
func TestExpFastConstants(t *testing.T) {
	c := ExpFastConstants()
	head := []float64{-708, 709, 32 / math.Ln2, 0x1.8p52, math.Ln2 / 32, 0, 1, 0.5, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720}
	for i, w := range head {
		switch i {
		case 2:
			if relErr(c[i], w) > 1e-15 {
				t.Errorf("constant %d = %v, want ≈ %v", i, c[i], w)
			}
		case 4: // the high part of ln2/32, with trailing zero bits
			if relErr(c[i], w) > 1e-9 || math.Float64bits(c[i])&0xffff != 0 {
				t.Errorf("constant %d = %v, want the high part of %v", i, c[i], w)
			}
		case 5: // the low part: the two parts sum to ln2/32
			if d := c[4] + c[5] - math.Ln2/32; math.Abs(c[5]) > 1e-11 || math.Abs(d) > 1e-18 {
				t.Errorf("ln2/32 split %v + %v is off by %g", c[4], c[5], d)
			}
		default:
			if c[i] != w {
				t.Errorf("constant %d = %v, want %v", i, c[i], w)
			}
		}
	}
	for j := 0; j < 32; j++ {
		if w := math.Exp2(float64(j) / 32); relErr(c[12+j], w) > 2.3e-16 {
			t.Errorf("table[%d] = %v, want 2**(%d/32) = %v", j, c[12+j], j, w)
		}
	}
}

// TestSigmoid checks Sigmoid and Sigmoid32 against 1/(1+e**−x) from the
// standard library's exponential, and their limits.
func TestSigmoid(t *testing.T) {
	s := &testStream{state: 11}
	for i := 0; i < 200000; i++ {
		x := float32((s.float()*2 - 1) * 120)
		want := 1 / (1 + math.Exp(-float64(x)))
		if got := Sigmoid(float64(x)); relErr(got, want) > 1e-15 {
			t.Fatalf("Sigmoid(%v) = %v, want %v", x, got, want)
		}
		// Within 1e-15 before rounding: the float32 result is one of the
		// roundings of that interval.
		d := want * 1e-15
		if got := Sigmoid32(x); got < float32(want-d) || got > float32(want+d) {
			t.Fatalf("Sigmoid32(%v) = %v, want %v", x, got, float32(want))
		}
	}
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{{0, 0.5}, {100, 1}, {-200, 0}, {-1e30, 0}, {inf, 1}, {-inf, 0}} {
		if got := Sigmoid32(c.x); got != c.want {
			t.Errorf("Sigmoid32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := Sigmoid32(float32(math.NaN())); got == got {
		t.Errorf("Sigmoid32(NaN) = %v, want NaN", got)
	}
}

// goldenHash is an FNV-1a hash of f's bits over a million float32
// arguments spread over all bit patterns (NaN results count as one value).
func goldenHash(f func(float32) uint64) uint64 {
	h := uint64(14695981039346656037)
	for u := uint64(0); u < 1<<32; u += 4099 {
		v := f(math.Float32frombits(uint32(u)))
		for i := 0; i < 8; i++ {
			h = (h ^ (v >> (8 * i) & 0xff)) * 1099511628211
		}
	}
	return h
}

// TestExpGoldenBits pins the bits of the exponentials, the sigmoid, Log and
// Softplus32: recorded runs depend on them, so a change of any result bit
// (which the accuracy tests above could miss) must show here. The hashes
// are those of the implementations the recorded runs used (ExpFast and
// Sigmoid32 as they were in package models).
func TestExpGoldenBits(t *testing.T) {
	bits := func(v float64) uint64 {
		if v != v {
			return 0x7ff8000000000000
		}
		return math.Float64bits(v)
	}
	for _, c := range []struct {
		name string
		f    func(float32) uint64
		want uint64
	}{
		{"Exp", func(x float32) uint64 { return bits(Exp(float64(x))) }, 0xf6ba56b56a91bddb},
		{"ExpFast", func(x float32) uint64 { return bits(ExpFast(float64(x))) }, 0x7e4d4b4379927506},
		{"Sigmoid32", func(x float32) uint64 { return bits(float64(Sigmoid32(x))) }, 0x32ab37cf29892fd7},
		{"Log", func(x float32) uint64 { return bits(Log(float64(x))) }, 0x4f5c19fa6297f5a6},
		{"Softplus32", func(x float32) uint64 { return bits(float64(Softplus32(x))) }, 0x7ab4142e01d0aeec},
	} {
		if got := goldenHash(c.f); got != c.want {
			t.Errorf("%s: bits hash %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestExpNonPosMatchesExp: the inlined exponential of logSoftmaxAt gives
// kernels.Exp's bits on non-positive arguments (a dense sweep, random
// values, the range ends, and the arguments it hands to kernels.Exp).
func TestExpNonPosMatchesExp(t *testing.T) {
	check := func(x float64) {
		if a, b := ExpNonPos(x), Exp(x); math.Float64bits(a) != math.Float64bits(b) {
			t.Fatalf("ExpNonPos(%v) = %v, kernels.Exp = %v", x, a, b)
		}
	}
	for _, x := range []float64{0, math.Copysign(0, -1), -708, -708.0000001, -745, -746, -1e300, math.Inf(-1), 1, 709, math.NaN(), -1e-300, -math.SmallestNonzeroFloat64} {
		if math.IsNaN(x) {
			if !math.IsNaN(ExpNonPos(x)) {
				t.Fatal("ExpNonPos(NaN) is not NaN")
			}
			continue
		}
		check(x)
	}
	for i := 0; i <= 2_000_000; i++ {
		check(-float64(i) * (710.0 / 2_000_000))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		check(-float64(float32(r.Float64() * 40))) // logit gaps: float32 differences
		check(-r.Float64() * 750)
	}
}
