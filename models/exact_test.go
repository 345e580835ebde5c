package models

import (
	"math"
	"strings"
	"testing"
)

func TestParseArithmetic(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Arithmetic
		err  bool
	}{{"exact", ArithExact, false}, {" Training ", ArithTraining, false}, {"int8", 0, true}, {"", 0, true}} {
		got, err := ParseArithmetic(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseArithmetic(%q) = %v, %v", c.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "valid: training, exact") {
			t.Errorf("ParseArithmetic(%q): error %q does not list the valid values", c.in, err)
		}
		if !c.err && got.String() != strings.ToLower(strings.TrimSpace(c.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// SetArithmetic(ArithExact) is accepted exactly where every BitLinear is
// ternary and activation quantization is off or complete; a refused
// setting leaves the previous one.
func TestSetArithmeticStates(t *testing.T) {
	for _, c := range []struct {
		name    string
		actBits int
		s       QuantState
		err     string // "" = accepted
	}{
		{"ternary", 8, QuantState{Ternary, Ternary, 1}, ""},
		{"ramp ended at ternary", 8, QuantState{Int2, Ternary, 1}, ""},
		{"from float, at λ 1", 8, QuantState{Float, Ternary, 1}, ""},
		{"ternary, no activation quantization", 0, QuantState{Ternary, Ternary, 1}, ""},
		{"float", 8, QuantState{Float, Float, 0}, "needs ternary weights"},
		{"int4", 8, QuantState{Int4, Int4, 1}, "needs ternary weights"},
		{"mid-ramp", 8, QuantState{Int2, Ternary, 0.5}, "needs ternary weights"},
		{"ramp not started", 8, QuantState{Int2, Ternary, 0}, "needs ternary weights"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(hybridConfig(), quantConfig(true, c.actBits), 1)
			if err != nil {
				t.Fatal(err)
			}
			m.SetQuant(c.s)
			err = m.SetArithmetic(ArithExact)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one saying %q", err, c.err)
			}
			want := ArithExact
			if c.err != "" {
				want = ArithTraining
			}
			if m.Arithmetic() != want {
				t.Errorf("Arithmetic() = %v, want %v", m.Arithmetic(), want)
			}
		})
	}
	m, _ := New(hybridConfig(), quantConfig(true, 8), 1)
	if err := m.SetArithmetic(Arithmetic(7)); err == nil {
		t.Error("an unknown arithmetic was accepted")
	}
}

// The exact arithmetic changes Step only: ForwardBackward and Logits give
// the same bits as a twin in the training arithmetic; Step's logits stay
// within the flip bound of the training arithmetic's and differ from
// them; and a quant state changed to one the exact arithmetic cannot run
// makes Step fail with the reason instead of computing something else.
func TestExactArithmeticScope(t *testing.T) {
	mk := func(a Arithmetic) *Model {
		m, err := New(hybridConfig(), quantConfig(true, 8), 5)
		if err != nil {
			t.Fatal(err)
		}
		m.SetQuant(QuantState{Ternary, Ternary, 1})
		if err := m.SetArithmetic(a); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ex, tr := mk(ArithExact), mk(ArithTraining)
	toks := randTokens(3, 2*8, 32)
	lossE, errE := ex.ForwardBackward(toks[:8], toks[8:], 1, 8, 1)
	lossT, errT := tr.ForwardBackward(toks[:8], toks[8:], 1, 8, 1)
	if errE != nil || errT != nil || math.Float64bits(lossE) != math.Float64bits(lossT) {
		t.Errorf("ForwardBackward: %v (%v) with exact set, %v (%v) without", lossE, errE, lossT, errT)
	}
	for _, p := range ex.Params() {
		for i, g := range p.Grad {
			if math.Float32bits(g) != math.Float32bits(tr.Param(p.Name).Grad[i]) {
				t.Fatalf("%s grad[%d]: %v with exact set, %v without", p.Name, i, g, tr.Param(p.Name).Grad[i])
			}
		}
	}
	le, _ := ex.Logits(toks[:8], 1, 8)
	lt, _ := tr.Logits(toks[:8], 1, 8)
	for i := range le {
		if math.Float32bits(le[i]) != math.Float32bits(lt[i]) {
			t.Fatalf("Logits[%d]: %v with exact set, %v without", i, le[i], lt[i])
		}
	}
	se, st := ex.NewState(), tr.NewState()
	differ := false
	for _, tok := range toks {
		a, err := ex.Step(se, tok)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.Step(st, tok)
		if err != nil {
			t.Fatal(err)
		}
		var scale, d float64
		for j := range a {
			scale = max(scale, math.Abs(float64(b[j])))
			d = max(d, math.Abs(float64(a[j])-float64(b[j])))
			differ = differ || math.Float32bits(a[j]) != math.Float32bits(b[j])
		}
		if d > 2.0/127*scale {
			t.Fatalf("token %d: exact and training logits differ by %.3g of %.3g", tok, d, scale)
		}
	}
	if !differ {
		t.Error("Step gave the training arithmetic's bits in the exact arithmetic")
	}
	ex.SetQuant(QuantState{Int4, Int4, 1})
	if _, err := ex.Step(ex.NewState(), 1); err == nil || !strings.Contains(err.Error(), "needs ternary weights") {
		t.Errorf("Step in the exact arithmetic at int4: %v", err)
	}
}
