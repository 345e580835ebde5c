package ssd

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// poison fills v with a NaN that no computation produces, so that an output
// element left unwritten is caught by a bit comparison.
func poison(v []float32) []float32 {
	for i := range v {
		v[i] = math.Float32frombits(0x7fc0dead)
	}
	return v
}

// TestForwardInferenceMatchesForwardReuse checks that ForwardInference gives
// y and the final state bit for bit as ForwardReuse, over one and several
// chunks, ragged last chunks, one and two groups, with and without initial
// and final states, at one and two threads, and with a reused cache made
// for other Dims (and a training cache) passed in.
func TestForwardInferenceMatchesForwardReuse(t *testing.T) {
	dims := []struct {
		name string
		d    Dims
	}{
		{"one_chunk_short", Dims{Batch: 3, Len: 20, Heads: 8, HeadDim: 8, Groups: 1, State: 16, Chunk: 32}},
		{"one_chunk_full", Dims{Batch: 2, Len: 32, Heads: 4, HeadDim: 16, Groups: 1, State: 32, Chunk: 32}},
		{"one_step", Dims{Batch: 2, Len: 1, Heads: 2, HeadDim: 3, Groups: 2, State: 5, Chunk: 8}},
		{"chunks_exact", Dims{Batch: 2, Len: 24, Heads: 4, HeadDim: 5, Groups: 2, State: 6, Chunk: 8}},
		{"chunks_ragged", Dims{Batch: 3, Len: 45, Heads: 6, HeadDim: 5, Groups: 2, State: 6, Chunk: 8}},
		{"chunks_ragged_G1", Dims{Batch: 2, Len: 37, Heads: 4, HeadDim: 16, Groups: 1, State: 16, Chunk: 16}},
		{"chunk1", Dims{Batch: 1, Len: 7, Heads: 3, HeadDim: 2, Groups: 3, State: 3, Chunk: 1}},
	}
	// A cache of other Dims, and one from ForwardReuse, passed as reuse.
	other := Dims{Batch: 1, Len: 9, Heads: 2, HeadDim: 4, Groups: 1, State: 4, Chunk: 4}
	oin := randInputs(99, other, dtLarge, false)
	for _, dc := range dims {
		for _, scale := range []dtScale{dtSmall, dtLarge} {
			d := dc.d
			in := randInputs(int64(d.Len*d.Heads+int(scale)), d, scale, true)
			for _, withInit := range []bool{false, true} {
				for _, withFin := range []bool{false, true} {
					for _, th := range []int{1, 2} {
						name := fmt.Sprintf("%s/dt%d/init=%v/final=%v/threads=%d", dc.name, scale, withInit, withFin, th)
						t.Run(name, func(t *testing.T) {
							var init, wantFin, gotFin []float32
							if withInit {
								init = in.init
							}
							if withFin {
								wantFin = poison(make([]float32, d.stateSize()))
								gotFin = poison(make([]float32, d.stateSize()))
							}
							want := poison(make([]float32, d.xSize()))
							ForwardReuse(nil, th, d, want, in.x, in.dt, in.A, in.Bm, in.Cm, init, wantFin)
							for _, reuse := range []string{"nil", "other-dims", "same-dims", "training"} {
								var c *Cache
								switch reuse {
								case "other-dims":
									c = ForwardInference(nil, 1, other, make([]float32, other.xSize()), oin.x, oin.dt, oin.A, oin.Bm, oin.Cm, nil, nil)
								case "same-dims":
									c = ForwardInference(nil, th, d, make([]float32, d.xSize()), in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
								case "training":
									c = Forward(th, d, make([]float32, d.xSize()), in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
								}
								got := poison(make([]float32, d.xSize()))
								if gotFin != nil {
									poison(gotFin)
								}
								c2 := ForwardInference(c, th, d, got, in.x, in.dt, in.A, in.Bm, in.Cm, init, gotFin)
								sameBits(t, reuse+" y", got, want)
								sameBits(t, reuse+" final", gotFin, wantFin)
								if c2.Dims() != d || c2.Bytes() != 0 {
									t.Fatalf("%s: cache Dims %+v Bytes %d, want %+v and 0", reuse, c2.Dims(), c2.Bytes(), d)
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestForwardInferenceInitAliasesFinal checks that init and final may be
// the same slice.
func TestForwardInferenceInitAliasesFinal(t *testing.T) {
	d := Dims{Batch: 2, Len: 19, Heads: 4, HeadDim: 3, Groups: 2, State: 5, Chunk: 8}
	in := randInputs(3, d, dtLarge, true)
	want, wantFin := make([]float32, d.xSize()), make([]float32, d.stateSize())
	Forward(2, d, want, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, wantFin)
	got, st := make([]float32, d.xSize()), append([]float32(nil), in.init...)
	ForwardInference(nil, 2, d, got, in.x, in.dt, in.A, in.Bm, in.Cm, st, st)
	sameBits(t, "y", got, want)
	sameBits(t, "final", st, wantFin)
}

// TestZeroStateSkip checks the skip of the state terms in the first chunk
// without an initial state: Forward with init = nil must give the same bits
// (y, final, and every gradient of Backward, which reads the cached states)
// as with an explicit all-zero init, which runs the full state arithmetic;
// including inputs where the skipped terms are not +0 (an infinite C or an
// overflowing decay, where C·0 and 0·∞ are NaN), which must take the full
// path. ForwardInference must match both.
func TestZeroStateSkip(t *testing.T) {
	cases := []struct {
		name  string
		d     Dims
		scale dtScale
		mod   func(d Dims, in *inputs)
	}{
		{"one_chunk", Dims{Batch: 2, Len: 20, Heads: 4, HeadDim: 16, Groups: 1, State: 16, Chunk: 32}, dtSmall, nil},
		{"ragged_G2", Dims{Batch: 2, Len: 21, Heads: 4, HeadDim: 5, Groups: 2, State: 6, Chunk: 8}, dtLarge, nil},
		{"inf_C_last_row", Dims{Batch: 1, Len: 4, Heads: 1, HeadDim: 1, Groups: 1, State: 1, Chunk: 4}, dtSmall,
			func(d Dims, in *inputs) {
				// C_3 = +∞ with B, x, dt > 0: the state term is ∞·0 = NaN,
				// the intra-chunk term alone +∞.
				for i := range in.x {
					in.x[i], in.Bm[i], in.Cm[i], in.dt[i] = 1, 1, 1, 0.5
				}
				in.A[0] = -1
				in.Cm[3] = float32(math.Inf(1))
			}},
		{"overflowing_decay", Dims{Batch: 1, Len: 3, Heads: 2, HeadDim: 2, Groups: 1, State: 2, Chunk: 4}, dtSmall,
			func(d Dims, in *inputs) {
				// A > 0 with dt = 1: eA = exp(100) is +∞ in float32, and
				// 0·∞ = NaN in the state term of every row.
				in.A[1] = 100
				for i := range in.dt {
					in.dt[i] = 1
				}
			}},
		{"nan_dt", Dims{Batch: 1, Len: 6, Heads: 2, HeadDim: 2, Groups: 1, State: 3, Chunk: 4}, dtLarge,
			func(d Dims, in *inputs) { in.dt[2*d.Heads+1] = float32(math.NaN()) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			in := randInputs(int64(len(tc.name)), d, tc.scale, false)
			if tc.mod != nil {
				tc.mod(d, &in)
			}
			dy := make([]float32, d.xSize())
			for i := range dy {
				dy[i] = float32(math.Sin(float64(i)))
			}
			type result struct{ y, fin, dx, ddt, dA, dB, dC []float32 }
			run := func(init []float32) result {
				r := result{
					y: make([]float32, d.xSize()), fin: make([]float32, d.stateSize()),
					dx: make([]float32, d.xSize()), ddt: make([]float32, d.dtSize()), dA: make([]float32, d.Heads),
					dB: make([]float32, d.bcSize()), dC: make([]float32, d.bcSize()),
				}
				c := Forward(2, d, r.y, in.x, in.dt, in.A, in.Bm, in.Cm, init, r.fin)
				Backward(2, d, c, dy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, r.dx, r.ddt, r.dA, r.dB, r.dC, nil)
				return r
			}
			skip, full := run(nil), run(make([]float32, d.stateSize()))
			sameBits(t, "y", skip.y, full.y)
			sameBits(t, "final", skip.fin, full.fin)
			sameBits(t, "dx", skip.dx, full.dx)
			sameBits(t, "ddt", skip.ddt, full.ddt)
			sameBits(t, "dA", skip.dA, full.dA)
			sameBits(t, "dB", skip.dB, full.dB)
			sameBits(t, "dC", skip.dC, full.dC)
			y, fin := make([]float32, d.xSize()), make([]float32, d.stateSize())
			ForwardInference(nil, 2, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, fin)
			sameBits(t, "inference y", y, full.y)
			sameBits(t, "inference final", fin, full.fin)
			ForwardInference(nil, 1, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
			sameBits(t, "inference y (no final)", y, full.y)
		})
	}
}

// TestNonZeroInitIsNotSkipped checks that the zero-state skip is taken only
// for a zero state: with a nonzero initial state, or past the first chunk,
// y must include the state term (agree with the float64 recurrence and
// differ from y without the initial state).
func TestNonZeroInitIsNotSkipped(t *testing.T) {
	for _, d := range []Dims{
		{Batch: 2, Len: 20, Heads: 4, HeadDim: 8, Groups: 1, State: 8, Chunk: 32},
		{Batch: 2, Len: 29, Heads: 4, HeadDim: 3, Groups: 2, State: 5, Chunk: 8},
	} {
		in := randInputs(21, d, dtSmall, true)
		wy, wf := make([]float64, d.xSize()), make([]float64, d.stateSize())
		naive64(d, wy, widen(in.x), widen(in.dt), widen(in.A), widen(in.Bm), widen(in.Cm), widen(in.init), wf)
		zy := make([]float64, d.xSize())
		naive64(d, zy, widen(in.x), widen(in.dt), widen(in.A), widen(in.Bm), widen(in.Cm), nil, make([]float64, d.stateSize()))
		for _, f := range []struct {
			name string
			fwd  func(y, init, fin []float32)
		}{
			{"Forward", func(y, init, fin []float32) { Forward(2, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, init, fin) }},
			{"ForwardInference", func(y, init, fin []float32) {
				ForwardInference(nil, 2, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, init, fin)
			}},
		} {
			name := fmt.Sprintf("%s/L=%d", f.name, d.Len)
			y, fin := make([]float32, d.xSize()), make([]float32, d.stateSize())
			f.fwd(y, in.init, fin)
			closeTo(t, name+" y with init", y, wy, 1e-5)
			closeTo(t, name+" final with init", fin, wf, 1e-5)
			y0 := make([]float32, d.xSize())
			f.fwd(y0, nil, nil)
			closeTo(t, name+" y without init", y0, zy, 1e-5)
			same := true
			for i := range y {
				same = same && y[i] == y0[i]
			}
			if same {
				t.Errorf("%s: y with a nonzero initial state equals y without one", name)
			}
		}
	}
}

// TestBackwardRejectsInferenceCache checks that Backward panics with a
// message naming ForwardInference when given its cache, and that
// ForwardReuse given that cache as reuse makes a full one.
func TestBackwardRejectsInferenceCache(t *testing.T) {
	d := Dims{Batch: 1, Len: 10, Heads: 2, HeadDim: 3, Groups: 1, State: 4, Chunk: 4}
	in := randInputs(5, d, dtSmall, false)
	y, dy := make([]float32, d.xSize()), make([]float32, d.xSize())
	dx, ddt, dA := make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads)
	dB, dC := make([]float32, d.bcSize()), make([]float32, d.bcSize())
	ic := ForwardInference(nil, 1, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), "ForwardInference") {
				t.Fatalf("recover() = %v, want a panic naming ForwardInference", r)
			}
		}()
		Backward(1, d, ic, dy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, dx, ddt, dA, dB, dC, nil)
	}()
	c := ForwardReuse(ic, 1, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, nil)
	if c == ic || c.Bytes() == 0 {
		t.Fatalf("ForwardReuse kept the inference cache (Bytes %d)", c.Bytes())
	}
	Backward(1, d, c, dy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, dx, ddt, dA, dB, dC, nil)
}

// TestForwardInferencePanicsOnShortBuffer checks the shape checks.
func TestForwardInferencePanicsOnShortBuffer(t *testing.T) {
	d := Dims{Batch: 1, Len: 3, Heads: 1, HeadDim: 2, Groups: 1, State: 2, Chunk: 2}
	in := randInputs(1, d, dtSmall, false)
	for _, tc := range []struct {
		name      string
		y, fin    []float32
		wantPanic string
	}{
		{"y", make([]float32, 2), nil, "ssd.ForwardInference: len(y)"},
		{"final", make([]float32, d.xSize()), make([]float32, 1), "ssd.ForwardInference: len(final)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.wantPanic) {
					t.Fatalf("recover() = %v, want a panic containing %q", r, tc.wantPanic)
				}
			}()
			ForwardInference(nil, 1, d, tc.y, in.x, in.dt, in.A, in.Bm, in.Cm, nil, tc.fin)
		})
	}
}
