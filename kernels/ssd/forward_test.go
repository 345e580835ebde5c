package ssd

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Dims{Batch: 1, Len: 5, Heads: 4, HeadDim: 2, Groups: 2, State: 3, Chunk: 8}
	cases := []struct {
		name string
		mod  func(*Dims)
		want string // "" means valid
	}{
		{"valid", func(*Dims) {}, ""},
		{"batch", func(d *Dims) { d.Batch = 0 }, "Dims.Batch = 0"},
		{"len", func(d *Dims) { d.Len = -1 }, "Dims.Len = -1"},
		{"heads", func(d *Dims) { d.Heads = 0 }, "Dims.Heads = 0"},
		{"headdim", func(d *Dims) { d.HeadDim = 0 }, "Dims.HeadDim"},
		{"groups", func(d *Dims) { d.Groups = 0 }, "Dims.Groups"},
		{"state", func(d *Dims) { d.State = 0 }, "Dims.State"},
		{"chunk", func(d *Dims) { d.Chunk = 0 }, "Dims.Chunk"},
		{"groups divide heads", func(d *Dims) { d.Groups = 3 }, "not a multiple of Dims.Groups = 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := ok
			c.mod(&d)
			err := d.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestForwardPanicsOnShortBuffer(t *testing.T) {
	d := Dims{Batch: 1, Len: 3, Heads: 1, HeadDim: 2, Groups: 1, State: 2, Chunk: 2}
	in := randInputs(1, d, dtSmall, false)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "len(y)") {
			t.Fatalf("recover() = %v, want a panic naming len(y)", r)
		}
	}()
	Forward(1, d, make([]float32, 2), in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
}

// TestForwardKnownAnswer checks a hand-computed scalar case: decay 1/2 per
// step, x = (1, 2), B = (2, 1), C = (1, 3).
func TestForwardKnownAnswer(t *testing.T) {
	d := Dims{Batch: 1, Len: 2, Heads: 1, HeadDim: 1, Groups: 1, State: 1}
	x, dt, A := []float32{1, 2}, []float32{1, 1}, []float32{float32(-math.Ln2)}
	Bm, Cm := []float32{2, 1}, []float32{1, 3}
	cases := []struct {
		init      []float32
		wantY     []float64
		wantFinal float64
	}{
		{nil, []float64{2, 9}, 3},           // h1 = 2, h2 = ½·2 + 2
		{[]float32{4}, []float64{4, 12}, 4}, // h1 = ½·4 + 2, h2 = ½·4 + 2
		{[]float32{-4}, []float64{0, 6}, 2}, // h1 = ½·(−4) + 2, h2 = ½·0 + 2
	}
	for _, q := range []int{1, 2, 5} {
		for ci, c := range cases {
			d.Chunk = q
			y, fin := make([]float32, 2), make([]float32, 1)
			Forward(2, d, y, x, dt, A, Bm, Cm, c.init, fin)
			closeTo(t, fmt.Sprintf("Q=%d case %d y", q, ci), y, c.wantY, 1e-6)
			closeTo(t, fmt.Sprintf("Q=%d case %d final", q, ci), fin, []float64{c.wantFinal}, 1e-6)
		}
	}
}

func TestForwardMatchesNaive(t *testing.T) {
	for _, scale := range []dtScale{dtSmall, dtLarge} {
		for _, G := range []int{1, 2} {
			for _, L := range []int{1, 7, 16, 37} {
				for _, Q := range []int{1, 3, 8, L} {
					d := Dims{Batch: 2, Len: L, Heads: 4, HeadDim: 3, Groups: G, State: 5, Chunk: Q}
					name := fmt.Sprintf("dt%d/G=%d/L=%d/Q=%d", scale, G, L, Q)
					in := randInputs(int64(100*L+10*Q+G), d, scale, true)
					y, fin := make([]float32, d.xSize()), make([]float32, d.stateSize())
					Forward(3, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, fin)
					wy, wf := make([]float64, d.xSize()), make([]float64, d.stateSize())
					naive64(d, wy, widen(in.x), widen(in.dt), widen(in.A), widen(in.Bm), widen(in.Cm), widen(in.init), wf)
					closeTo(t, name+" y", y, wy, 1e-5)
					closeTo(t, name+" final", fin, wf, 1e-5)
				}
			}
		}
	}
}

func TestNaiveNilInitIsZero(t *testing.T) {
	d := Dims{Batch: 1, Len: 6, Heads: 2, HeadDim: 2, Groups: 1, State: 3, Chunk: 4}
	in := randInputs(7, d, dtLarge, false)
	y1, y2 := make([]float32, d.xSize()), make([]float32, d.xSize())
	f1, f2 := make([]float32, d.stateSize()), make([]float32, d.stateSize())
	Naive(d, y1, in.x, in.dt, in.A, in.Bm, in.Cm, nil, f1)
	Naive(d, y2, in.x, in.dt, in.A, in.Bm, in.Cm, make([]float32, d.stateSize()), f2)
	sameBits(t, "y", y1, y2)
	sameBits(t, "final", f1, f2)
	y3 := make([]float32, d.xSize())
	Forward(1, d, y3, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
	closeTo(t, "Forward vs Naive", y3, widen(y1), 1e-5)
}

func TestStepMatchesForward(t *testing.T) {
	for _, scale := range []dtScale{dtSmall, dtLarge} {
		d := Dims{Batch: 2, Len: 19, Heads: 4, HeadDim: 3, Groups: 2, State: 5, Chunk: 8}
		in := randInputs(11, d, scale, true)
		y, fin := make([]float32, d.xSize()), make([]float32, d.stateSize())
		Forward(2, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, fin)

		H, P, G, N := d.Heads, d.HeadDim, d.Groups, d.State
		state := append([]float32(nil), in.init...)
		ys := make([]float32, d.xSize())
		xt, dtt := make([]float32, d.Batch*H*P), make([]float32, d.Batch*H)
		bt, ct, yt := make([]float32, d.Batch*G*N), make([]float32, d.Batch*G*N), make([]float32, d.Batch*H*P)
		for t0 := 0; t0 < d.Len; t0++ {
			for b := 0; b < d.Batch; b++ {
				r := b*d.Len + t0
				copy(xt[b*H*P:], in.x[r*H*P:(r+1)*H*P])
				copy(dtt[b*H:], in.dt[r*H:(r+1)*H])
				copy(bt[b*G*N:], in.Bm[r*G*N:(r+1)*G*N])
				copy(ct[b*G*N:], in.Cm[r*G*N:(r+1)*G*N])
			}
			Step(d, state, xt, dtt, in.A, bt, ct, yt)
			for b := 0; b < d.Batch; b++ {
				copy(ys[(b*d.Len+t0)*H*P:], yt[b*H*P:(b+1)*H*P])
			}
		}
		closeTo(t, fmt.Sprintf("dt%d y", scale), ys, widen(y), 1e-5)
		closeTo(t, fmt.Sprintf("dt%d final", scale), state, widen(fin), 1e-5)
	}
}

func TestForwardBitIdenticalAcrossThreads(t *testing.T) {
	d := Dims{Batch: 3, Len: 45, Heads: 4, HeadDim: 5, Groups: 2, State: 6, Chunk: 8}
	in := randInputs(5, d, dtLarge, true)
	var y0, f0 []float32
	for _, th := range []int{1, 2, 7} {
		y, fin := make([]float32, d.xSize()), make([]float32, d.stateSize())
		Forward(th, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, fin)
		if y0 == nil {
			y0, f0 = y, fin
			continue
		}
		sameBits(t, fmt.Sprintf("threads=%d y", th), y, y0)
		sameBits(t, fmt.Sprintf("threads=%d final", th), fin, f0)
	}
}
