package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

var (
	nan32  = float32(math.NaN())
	inf32  = float32(math.Inf(1))
	negZ32 = float32(math.Copysign(0, -1))
)

// argmaxOracle is Argmax's rule stated without the scan: 0 when x is
// empty or x[0] is NaN, else the first index of the largest non-NaN value,
// with −0 and +0 equal.
func argmaxOracle(x []float32) int {
	if len(x) == 0 || x[0] != x[0] {
		return 0
	}
	m := x[0]
	for _, v := range x {
		if v == v && v > m {
			m = v
		}
	}
	for i, v := range x {
		if v == m {
			return i
		}
	}
	panic("unreachable")
}

// checkArgmax compares Argmax, the scalar scan, the oracle and (where it
// runs) the assembly on every length ≥ 1 with want.
func checkArgmax(t *testing.T, name string, x []float32, want int) {
	t.Helper()
	if got := Argmax(x); got != want {
		t.Fatalf("%s (n=%d): Argmax = %d, want %d", name, len(x), got, want)
	}
	if got := argmaxGo(x); got != want {
		t.Fatalf("%s (n=%d): scalar scan = %d, want %d", name, len(x), got, want)
	}
	if got := argmaxOracle(x); got != want {
		t.Fatalf("%s (n=%d): oracle = %d, want %d", name, len(x), got, want)
	}
	if hasAsm && len(x) > 0 && x[0] == x[0] {
		if got := argmaxAsm(&x[0], len(x)); got != want {
			t.Fatalf("%s (n=%d): argmaxAsm = %d, want %d", name, len(x), got, want)
		}
	}
}

// pad returns a copy of x in a larger buffer whose elements past len(x)
// are +Inf, so that a kernel reading past the end would report them.
func pad(x []float32) []float32 {
	buf := make([]float32, len(x)+32)
	copy(buf, x)
	for i := len(x); i < len(buf); i++ {
		buf[i] = inf32
	}
	return buf[:len(x):len(x)]
}

func TestArgmaxKnown(t *testing.T) {
	cases := []struct {
		name string
		x    []float32
		want int
	}{
		{"empty", nil, 0},
		{"one", []float32{3}, 0},
		{"one NaN", []float32{nan32}, 0},
		{"ascending", []float32{1, 2, 3}, 2},
		{"descending", []float32{3, 2, 1}, 0},
		{"tie first wins", []float32{1, 5, 2, 5, 5}, 1},
		{"all equal", []float32{7, 7, 7, 7}, 0},
		{"NaN first", []float32{nan32, 1, 9, 2}, 0},
		{"NaN middle", []float32{1, nan32, 0.5, 2, nan32}, 3},
		{"NaN last", []float32{1, 4, 2, nan32}, 1},
		{"all NaN", []float32{nan32, nan32, nan32}, 0},
		{"-0 then +0", []float32{-1, negZ32, 0, -2}, 1},
		{"+0 then -0", []float32{-1, 0, negZ32, -2}, 1},
		{"-0 first", []float32{negZ32, 0}, 0},
		{"+Inf", []float32{1, inf32, 2, inf32}, 1},
		{"-Inf only", []float32{-inf32, -inf32}, 0},
		{"-Inf then finite", []float32{-inf32, -3e38}, 1},
		{"max float", []float32{math.MaxFloat32, inf32, -inf32}, 1},
		{"subnormals", []float32{1e-45, 3e-45, 1e-45, 3e-45}, 1},
		{"all negative", []float32{-5, -3, -4, -3}, 1},
	}
	for _, c := range cases {
		checkArgmax(t, c.name, pad(c.x), c.want)
	}
	// The same rule in float64 and for a named float32 type.
	if got := Argmax([]float64{1, math.NaN(), 3, 3, math.Copysign(0, -1)}); got != 2 {
		t.Errorf("float64: Argmax = %d, want 2", got)
	}
	if got := Argmax([]float64{math.NaN(), 1}); got != 0 {
		t.Errorf("float64 NaN first: Argmax = %d, want 0", got)
	}
	type logit float32
	x := make([]logit, 40)
	x[0], x[17], x[33] = logit(nan32), 2, 2
	if got := Argmax(x); got != 0 {
		t.Errorf("named float32, NaN first: Argmax = %d, want 0", got)
	}
	x[0] = 1
	if got := Argmax(x); got != 17 {
		t.Errorf("named float32: Argmax = %d, want 17", got)
	}
}

// argmaxLengths are every length up to 70 and the row lengths of the
// presets' vocabularies around 2048.
func argmaxLengths() []int {
	var ns []int
	for n := 1; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 129, 2047, 2048, 2049)
}

// TestArgmaxPositions puts the maximum, a tie, a −0/+0 maximum and NaNs at
// every position of every length.
func TestArgmaxPositions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range argmaxLengths() {
		base := make([]float32, n)
		for i := range base {
			base[i] = -1 - r.Float32() // in (−2, −1]
		}
		x := pad(base)
		for p := 0; p < n; p++ {
			copy(x, base)
			x[p] = 5
			checkArgmax(t, "single max", x, p)

			// NaNs everywhere after x[0] except p: ignored.
			for i := 1; i < n; i++ {
				if i != p {
					x[i] = nan32
				}
			}
			checkArgmax(t, "max among NaNs", x, p)
			x[0] = nan32
			checkArgmax(t, "NaN first", x, 0)

			// A tie at p and a later q: p wins; at an earlier q: q wins.
			copy(x, base)
			q := (p*7 + 3) % n
			x[p], x[q] = 5, 5
			checkArgmax(t, "tie", x, min(p, q))

			// −0 at p and +0 at q as the largest values: the first wins.
			x[p], x[q] = negZ32, 0
			checkArgmax(t, "-0/+0", x, min(p, q))
			x[p], x[q] = 0, negZ32
			checkArgmax(t, "+0/-0", x, min(p, q))

			// +Inf at p and a NaN right before it.
			copy(x, base)
			x[p] = inf32
			if p > 1 {
				x[p-1] = nan32
			}
			checkArgmax(t, "+Inf after NaN", x, p)
		}
		copy(x, base)
		for i := range x {
			x[i] = nan32
		}
		checkArgmax(t, "all NaN", x, 0)
	}
}

// TestArgmaxRandom compares Argmax with the scalar scan and the oracle on
// random rows with special values, many ties (a few distinct values) and
// NaNs at random positions, over many lengths and offsets into a buffer.
func TestArgmaxRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]float32, 4200)
	for trial := 0; trial < 3000; trial++ {
		n := r.IntN(300)
		if trial%10 == 0 {
			n = 2000 + r.IntN(200)
		}
		off := r.IntN(16)
		x := buf[off : off+n : off+n]
		levels := 1 + r.IntN(6)
		for i := range x {
			switch k := r.IntN(10); {
			case k == 0:
				x[i] = specials[r.IntN(len(specials))]
			case k == 1 && trial%3 == 0:
				x[i] = nan32
			default:
				x[i] = float32(r.IntN(levels)) - 3
			}
		}
		for i := off + n; i < len(buf); i++ {
			buf[i] = inf32
		}
		for i := 0; i < off; i++ {
			buf[i] = inf32
		}
		want := argmaxGo(x)
		if o := argmaxOracle(x); o != want {
			t.Fatalf("trial %d: oracle %d, scalar scan %d", trial, o, want)
		}
		checkArgmax(t, "random", x, want)
	}
}
