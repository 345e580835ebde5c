package models

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
)

func TestParseWeightQuant(t *testing.T) {
	for _, q := range []WeightQuant{Float, Int4, Int2, Ternary} {
		got, err := ParseWeightQuant(q.String())
		if err != nil || got != q {
			t.Errorf("ParseWeightQuant(%q) = %v, %v", q.String(), got, err)
		}
	}
	if _, err := ParseWeightQuant("int3"); err == nil {
		t.Error("ParseWeightQuant(int3) accepted")
	}
}

func TestWeightStatistics(t *testing.T) {
	cases := []struct {
		name         string
		w            []float32
		mean, median float32
	}{
		{"even", []float32{1, -2, 3, -4}, 2.5, 2},             // lower median of 1,2,3,4
		{"odd", []float32{-5, 1, 3}, 3, 3},                    // median of 1,3,5
		{"six", []float32{0.5, -0.25, 4, -8, 1, 2}, 2.625, 1}, // sorted .25 .5 1 2 4 8
		{"zeros", []float32{0, 0, 0}, 1e-5, 1e-5},             // clamped
		{"one", []float32{-0.75}, 0.75, 0.75},
	}
	for _, c := range cases {
		if got := AbsMean(c.w); got != c.mean {
			t.Errorf("%s: AbsMean = %v, want %v", c.name, got, c.mean)
		}
		if got := AbsMedian(c.w); got != c.median {
			t.Errorf("%s: AbsMedian = %v, want %v", c.name, got, c.median)
		}
	}
	// selection agrees with sorting on a larger tensor with ties
	w := randVec(3, "test/median", 1001, 1)
	for i := 0; i < 100; i++ {
		w[i*10] = w[0]
	}
	got := AbsMedian(w)
	var below, atOrBelow int
	for _, v := range w {
		a := float32(math.Abs(float64(v)))
		if a < got {
			below++
		}
		if a <= got {
			atOrBelow++
		}
	}
	if !(below <= 500 && atOrBelow >= 501) {
		t.Errorf("AbsMedian %v is not the 501st smallest (%d below, %d at or below)", got, below, atOrBelow)
	}
}

func levels(v []float32) map[float32]bool {
	s := map[float32]bool{}
	for _, x := range v {
		s[x] = true
	}
	return s
}

func TestWeightQuantizers(t *testing.T) {
	qc := quantConfig(false, 0)
	w := randVec(4, "test/w", 4096, 0.05)
	m := AbsMean(w)
	dst := make([]float32, len(w))
	// Ternary takes exactly {−m, 0, m}.
	if err := QuantizeWeights(dst, w, Ternary, qc); err != nil {
		t.Fatal(err)
	}
	lv := levels(dst)
	if len(lv) != 3 || !lv[m] || !lv[-m] || !lv[0] {
		t.Errorf("ternary levels %v, want {−%v, 0, %v}", lv, m, m)
	}
	for i, v := range w { // RoundClip(W/m)·m by hand, half away from zero
		want := float32(math.Max(-1, math.Min(1, math.Round(float64(v/m))))) * m
		if dst[i] != want {
			t.Fatalf("ternary[%d] = %v, want %v", i, dst[i], want)
		}
	}
	cases := []struct {
		kind     WeightQuant
		nLevels  int
		qlo, qhi float64
		alpha    float64
	}{{Int4, 15, -7, 7, qc.Alpha4}, {Int2, 4, -2, 1, qc.Alpha2}}
	for _, c := range cases {
		if err := QuantizeWeights(dst, w, c.kind, qc); err != nil {
			t.Fatal(err)
		}
		if n := len(levels(dst)); n != c.nLevels {
			t.Errorf("%v: %d levels, want %d", c.kind, n, c.nLevels)
		}
		s := -c.qlo / (c.alpha * float64(m))
		if c.kind == Int4 {
			s = 7 / (c.alpha * float64(m))
		}
		for i, v := range dst {
			k := float64(v) * s
			if math.Abs(k-math.Round(k)) > 1e-4 || math.Round(k) < c.qlo || math.Round(k) > c.qhi {
				t.Fatalf("%v: value %v (w=%v) is level %v, not an integer in [%v, %v]", c.kind, v, w[i], k, c.qlo, c.qhi)
			}
		}
	}
	// Half away from zero: 0.5·m rounds to m, −0.5·m to −m.
	half := []float32{0.5, -0.5, 1.5, -1.5}
	if err := QuantizeWeights(dst, half, Ternary, qc); err != nil {
		t.Fatal(err)
	}
	if m := AbsMean(half); dst[0] != m || dst[1] != -m {
		t.Errorf("ternary of ±0.5m = %v, want ±%v", dst[:2], m)
	}
	if err := QuantizeWeights(dst, w, Ternary, configs.QuantConfig{Scale: "max", Alpha4: 1, Alpha2: 1}); err == nil {
		t.Error("scale \"max\" accepted")
	}
}

func TestQuantBlendIdentities(t *testing.T) {
	pairs := [][2]WeightQuant{{Float, Int4}, {Float, Ternary}, {Int4, Int2}, {Int2, Ternary}, {Int4, Ternary}}
	for _, scale := range []string{"absmean", "absmedian"} {
		qc := quantConfig(true, 8)
		qc.Scale = scale
		m, err := New(hybridConfig(), qc, 5)
		if err != nil {
			t.Fatal(err)
		}
		tokens := randTokens(3, 12, 32)
		logits := func(s QuantState) []float32 {
			m.SetQuant(s)
			l, err := m.Logits(tokens, 2, 6)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		name := "layers.0.mamba.in_proj"
		w := m.Param(name).Data
		for _, p := range pairs {
			from, to := p[0], p[1]
			qf := make([]float32, len(w))
			qt := make([]float32, len(w))
			if err := QuantizeWeights(qf, w, from, qc); err != nil {
				t.Fatal(err)
			}
			if err := QuantizeWeights(qt, w, to, qc); err != nil {
				t.Fatal(err)
			}
			m.SetQuant(QuantState{from, to, 0})
			if i := bitsEqual(m.EffectiveWeight(name), qf); i >= 0 {
				t.Errorf("%s %v→%v λ=0: W_eff[%d] differs from Q_from", scale, from, to, i)
			}
			m.SetQuant(QuantState{from, to, 1})
			if i := bitsEqual(m.EffectiveWeight(name), qt); i >= 0 {
				t.Errorf("%s %v→%v λ=1: W_eff[%d] differs from Q_to", scale, from, to, i)
			}
			m.SetQuant(QuantState{from, to, 0.5})
			for i, v := range m.EffectiveWeight(name) {
				want := (float64(qf[i]) + float64(qt[i])) / 2
				if math.Abs(float64(v)-want) > 1e-6*math.Abs(want)+1e-9 {
					t.Fatalf("%s %v→%v λ=0.5: W_eff[%d] = %v, want %v", scale, from, to, i, v, want)
				}
			}
			if i := bitsEqual(logits(QuantState{from, to, 0}), logits(QuantState{from, from, 1})); i >= 0 {
				t.Errorf("%s %v→%v λ=0 logits differ from the From path at %d", scale, from, to, i)
			}
			if i := bitsEqual(logits(QuantState{from, to, 1}), logits(QuantState{to, to, 1})); i >= 0 {
				t.Errorf("%s %v→%v λ=1 logits differ from the To path at %d", scale, from, to, i)
			}
			if i := bitsEqual(logits(QuantState{from, to, 0.5}), logits(QuantState{from, to, 1})); i < 0 {
				t.Errorf("%s %v→%v λ=0.5 logits equal λ=1", scale, from, to)
			}
		}
	}
}

func TestActivationQuant(t *testing.T) {
	const rows, dim = 3, 40
	x := randVec(6, "test/act", rows*dim, 2)
	x[dim+5] = 0.5 * 1e-6 // row 1 gets a tiny value only in one slot below
	q := make([]float32, len(x))
	quantizeActs(2, q, x, rows, dim, 8, 1)
	for r := 0; r < rows; r++ {
		var amax float64
		for _, v := range x[r*dim : r*dim+dim] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		s := float32(127 / amax)
		for i := r * dim; i < r*dim+dim; i++ {
			k := math.Round(float64(x[i] * s))
			want := float32(k) / s
			if q[i] != want || k < -128 || k > 127 {
				t.Fatalf("row %d: Q(%v) = %v, want %v (level %v)", r, x[i], q[i], want, k)
			}
		}
		if len(levels(q[r*dim:r*dim+dim])) > 256 {
			t.Fatalf("row %d has more than 256 levels", r)
		}
	}
	half := make([]float32, len(x))
	quantizeActs(1, half, x, rows, dim, 8, 0.5)
	for i := range x {
		want := float64(x[i]) + 0.5*(float64(q[i])-float64(x[i]))
		if math.Abs(float64(half[i])-want) > 1e-6 {
			t.Fatalf("λ=0.5 act[%d] = %v, want %v", i, half[i], want)
		}
	}
	if (QuantState{Float, Float, 0.7}).actLambda() != 0 || (QuantState{Float, Int4, 0.7}).actLambda() != 0.7 || (QuantState{Int4, Ternary, 0.3}).actLambda() != 1 {
		t.Error("actLambda rule broken")
	}
}
