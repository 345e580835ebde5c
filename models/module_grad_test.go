package models

import (
	"fmt"
	"testing"
)

// moduleCase wraps one module as y = f(x) for a gradient check with the
// loss Σ R⊙y for a fixed random R.
type moduleCase struct {
	name    string
	in, out int // features per row
	params  []*Param
	forward func(y, x []float32)
	back    func(dy, dx []float32) // accumulates dx and param grads
	// backZero is back that writes dx instead of adding to it.
	backZero func(dy, dx []float32)
}

func moduleCases(t *testing.T, m *Model, batch, seqLen int) []moduleCase {
	rows := batch * seqLen
	th := 1
	D := m.arch.mc.DModel
	var cs []moduleCase
	for l, b := range m.layers {
		l := l
		n1 := b.norm1
		na := newNormActs(rows, D)
		cs = append(cs, moduleCase{fmt.Sprintf("rmsnorm%d", l), D, D, []*Param{n1.gain},
			func(y, x []float32) { n1.forward(th, &na, x, rows); copy(y, na.out) },
			func(dy, dx []float32) { n1.backward(th, &na, dy, dx, rows, false) },
			func(dy, dx []float32) { n1.backward(th, &na, dy, dx, rows, true) }})
		if at := b.attn; at != nil {
			aa := at.newActs(batch, seqLen)
			cs = append(cs, moduleCase{"attention", D, D, lineParams(at.linears()),
				func(y, x []float32) { at.forward(th, &aa, y, x, batch, seqLen, nil) },
				func(dy, dx []float32) { at.backward(th, &aa, dy, dx, batch, seqLen, false) },
				func(dy, dx []float32) { at.backward(th, &aa, dy, dx, batch, seqLen, true) }})
			lin := at.wq
			la := lin.newActs(rows)
			cs = append(cs, moduleCase{"bitlinear", lin.in, lin.out, lineParams([]*bitLinear{lin}),
				func(y, x []float32) { lin.forward(th, &la, y, x, rows) },
				func(dy, dx []float32) { lin.backward(th, &la, dy, dx, rows, false) },
				func(dy, dx []float32) { lin.backward(th, &la, dy, dx, rows, true) }})
		} else {
			mb := b.mamba
			ma := mb.newActs(rows)
			ps := append(lineParams(mb.linears()), mb.convW, mb.convB, mb.dtBias, mb.aLog, mb.d, mb.norm.gain)
			cs = append(cs, moduleCase{fmt.Sprintf("mamba%d", l), D, D, ps,
				func(y, x []float32) { mb.forward(th, &ma, y, x, batch, seqLen, nil) },
				func(dy, dx []float32) { mb.backward(th, &ma, dy, dx, batch, seqLen, false) },
				func(dy, dx []float32) { mb.backward(th, &ma, dy, dx, batch, seqLen, true) }})
		}
		if f := b.ffn; f != nil && l == 0 {
			fa := f.newActs(rows)
			cs = append(cs, moduleCase{"swiglu", D, D, lineParams(f.linears()),
				func(y, x []float32) { f.forward(th, &fa, y, x, rows, nil) },
				func(dy, dx []float32) { f.backward(th, &fa, dy, dx, rows, false) },
				func(dy, dx []float32) { f.backward(th, &fa, dy, dx, rows, true) }})
		}
	}
	return cs
}

func lineParams(ls []*bitLinear) []*Param {
	var ps []*Param
	for _, l := range ls {
		ps = append(ps, l.w)
		if l.subln != nil {
			ps = append(ps, l.subln.gain)
		}
	}
	return ps
}

// eachModuleCase runs fn as a subtest for every module of a small hybrid
// model, with and without SubLN, on rows = 2×7 rows of input x, a random
// output weighting R and an output buffer y.
func eachModuleCase(t *testing.T, fn func(t *testing.T, c moduleCase, x, R, y []float32)) {
	const batch, seqLen = 2, 7
	rows := batch * seqLen
	for _, subln := range []bool{false, true} {
		m, err := New(hybridConfig(), quantConfig(subln, 8), 3)
		if err != nil {
			t.Fatal(err)
		}
		m.refresh()
		for _, c := range moduleCases(t, m, batch, seqLen) {
			t.Run(fmt.Sprintf("%s/subln=%v", c.name, subln), func(t *testing.T) {
				x := randVec(1, "test/x/"+c.name, rows*c.in, 1)
				R := randVec(2, "test/R/"+c.name, rows*c.out, 1)
				fn(t, c, x, R, make([]float32, rows*c.out))
			})
		}
	}
}

func TestModuleGradients(t *testing.T) {
	eachModuleCase(t, func(t *testing.T, c moduleCase, x, R, y []float32) {
		loss := func() float64 {
			c.forward(y, x)
			var s float64
			for i, v := range y {
				s += float64(v) * float64(R[i])
			}
			return s
		}
		for _, p := range c.params {
			clear(p.Grad)
		}
		dx := make([]float32, len(x))
		loss()
		c.back(R, dx)
		ts := append([]fdTensor{{"input", x, dx}}, paramTensors(c.params)...)
		checkGrads(t, loss, ts, 3, 64, 1e-2, 1e-3)
	})
}

// TestModuleBackwardZero checks that every module's backward with zero
// set, into an input gradient holding garbage, gives the bits of adding to
// a cleared one, parameter gradients included, with and without SubLN.
func TestModuleBackwardZero(t *testing.T) {
	eachModuleCase(t, func(t *testing.T, c moduleCase, x, R, y []float32) {
		run := func(back func(dy, dx []float32), dx []float32) [][]float32 {
			for _, p := range c.params {
				clear(p.Grad)
			}
			c.forward(y, x)
			back(R, dx)
			var gs [][]float32
			for _, p := range c.params {
				gs = append(gs, append([]float32(nil), p.Grad...))
			}
			return gs
		}
		want := make([]float32, len(x))
		wantG := run(c.back, want)
		got := randVec(3, "test/garbage/"+c.name, len(x), 1e3)
		gotG := run(c.backZero, got)
		if i := bitsEqual(got, want); i >= 0 {
			t.Fatalf("dx[%d] = %g, want %g", i, got[i], want[i])
		}
		for j := range wantG {
			if i := bitsEqual(gotG[j], wantG[j]); i >= 0 {
				t.Fatalf("%s grad[%d] = %g, want %g", c.params[j].Name, i, gotG[j][i], wantG[j][i])
			}
		}
	})
}
