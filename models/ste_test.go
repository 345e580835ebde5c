package models

import (
	"fmt"
	"math"
	"testing"
)

// TestSTEGradients checks the straight-through estimator: the gradients of
// a quantized model equal, bit for bit, those of a float model whose
// BitLinear weights are frozen at W_eff. The float model's gradients are
// checked against finite differences by TestModelGradients.
func TestSTEGradients(t *testing.T) {
	const B, T = 2, 6
	tokens := randTokens(8, B*T, 32)
	targets := randTokens(9, B*T, 32)
	states := []QuantState{}
	for _, p := range [][2]WeightQuant{{Float, Ternary}, {Float, Int4}, {Int4, Int2}, {Int2, Ternary}, {Ternary, Ternary}} {
		for _, lam := range []float32{0, 0.5, 1} {
			states = append(states, QuantState{p[0], p[1], lam})
		}
	}
	for _, subln := range []bool{false, true} {
		for _, s := range states {
			t.Run(fmt.Sprintf("subln=%v/%v→%v/λ=%v", subln, s.From, s.To, s.Lambda), func(t *testing.T) {
				qc := quantConfig(subln, 0)
				qm, err := New(hybridConfig(), qc, 11)
				if err != nil {
					t.Fatal(err)
				}
				fm, _ := New(hybridConfig(), qc, 11)
				qm.SetQuant(s)
				for _, l := range qm.lins {
					copy(fm.Param(l.w.Name).Data, qm.EffectiveWeight(l.w.Name))
				}
				qm.ZeroGrad()
				fm.ZeroGrad()
				lq, err := qm.ForwardBackward(tokens, targets, B, T, 0.75)
				if err != nil {
					t.Fatal(err)
				}
				lf, _ := fm.ForwardBackward(tokens, targets, B, T, 0.75)
				if lq != lf {
					t.Fatalf("loss %v with quantization, %v with frozen W_eff", lq, lf)
				}
				for i, p := range qm.Params() {
					if j := bitsEqual(p.Grad, fm.Params()[i].Grad); j >= 0 {
						t.Fatalf("%s grad[%d] = %v, frozen-float model %v", p.Name, j, p.Grad[j], fm.Params()[i].Grad[j])
					}
				}
			})
		}
	}
}

// TestActivationSTE checks a BitLinear with 8-bit activations: y = Q(x)·W_effᵀ,
// dx = dy·W_eff and dW = dyᵀ·Q(x), computed here in float64 from scratch.
func TestActivationSTE(t *testing.T) {
	m, err := New(hybridConfig(), quantConfig(false, 8), 12)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(QuantState{Float, Ternary, 1})
	l := m.layers[1].attn.wq
	l.refresh()
	const rows = 5
	x := randVec(1, "test/x", rows*l.in, 1)
	dy := randVec(2, "test/dy", rows*l.out, 1)
	y := make([]float32, rows*l.out)
	dx := make([]float32, rows*l.in)
	clear(l.w.Grad)
	a := l.newActs(rows)
	l.forward(2, &a, y, x, rows)
	l.backward(2, &a, dy, dx, rows, false)
	weff := m.EffectiveWeight(l.w.Name)
	xq := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		var amax float64
		for _, v := range x[r*l.in : (r+1)*l.in] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		s := float32(127 / amax)
		for i := r * l.in; i < (r+1)*l.in; i++ {
			xq[i] = float64(float32(math.Max(-128, math.Min(127, math.Round(float64(x[i]*s))))) / s)
		}
	}
	near := func(what string, got float32, want float64) {
		if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
	for r := 0; r < rows; r++ {
		for o := 0; o < l.out; o++ {
			var s float64
			for i := 0; i < l.in; i++ {
				s += xq[r*l.in+i] * float64(weff[o*l.in+i])
			}
			near(fmt.Sprintf("y[%d,%d]", r, o), y[r*l.out+o], s)
		}
		for i := 0; i < l.in; i++ {
			var s float64
			for o := 0; o < l.out; o++ {
				s += float64(dy[r*l.out+o]) * float64(weff[o*l.in+i])
			}
			near(fmt.Sprintf("dx[%d,%d]", r, i), dx[r*l.in+i], s)
		}
	}
	for o := 0; o < l.out; o++ {
		for i := 0; i < l.in; i++ {
			var s float64
			for r := 0; r < rows; r++ {
				s += float64(dy[r*l.out+o]) * xq[r*l.in+i]
			}
			near(fmt.Sprintf("dW[%d,%d]", o, i), l.w.Grad[o*l.in+i], s)
		}
	}
}
