package ssd

import "github.com/nanomamba-edge/harness/kernels"

// Naive computes y, and final if non-nil, by the step-by-step recurrence in
// float64. It is the reference the chunked Forward is tested against. init
// may be nil (zero initial state). It panics like Forward on bad shapes.
func Naive(d Dims, y, x, dt, A, Bm, Cm, init, final []float32) {
	d.checkInputs("Naive", x, dt, A, Bm, Cm)
	checkLen("Naive", "y", y, d.xSize())
	var init64, final64 []float64
	if init != nil {
		checkLen("Naive", "init", init, d.stateSize())
		init64 = widen(init[:d.stateSize()])
	}
	if final != nil {
		checkLen("Naive", "final", final, d.stateSize())
		final64 = make([]float64, d.stateSize())
	}
	y64 := make([]float64, d.xSize())
	naive64(d, y64, widen(x[:d.xSize()]), widen(dt[:d.dtSize()]), widen(A[:d.Heads]),
		widen(Bm[:d.bcSize()]), widen(Cm[:d.bcSize()]), init64, final64)
	narrow(y, y64)
	if final != nil {
		narrow(final, final64)
	}
}

// naive64 is the float64 recurrence on float64 tensors (same layouts).
func naive64(d Dims, y, x, dt, A, Bm, Cm, init, final []float64) {
	P, N, H, G := d.HeadDim, d.State, d.Heads, d.Groups
	pn := P * N
	st := make([]float64, pn)
	for b := 0; b < d.Batch; b++ {
		for h := 0; h < H; h++ {
			g := h / d.headsPerGroup()
			bh := b*H + h
			clear(st)
			if init != nil {
				copy(st, init[bh*pn:bh*pn+pn])
			}
			for t := 0; t < d.Len; t++ {
				bt := b*d.Len + t
				dts := dt[bt*H+h]
				decay := kernels.Exp(float64(dts * A[h]))
				xt := x[(bt*H+h)*P : (bt*H+h)*P+P]
				bv := Bm[(bt*G+g)*N : (bt*G+g)*N+N]
				cv := Cm[(bt*G+g)*N : (bt*G+g)*N+N]
				yt := y[(bt*H+h)*P : (bt*H+h)*P+P]
				for p := 0; p < P; p++ {
					row := st[p*N : p*N+N]
					u := float64(dts * xt[p])
					var acc float64
					for n := range row {
						row[n] = float64(decay*row[n]) + float64(u*bv[n])
						acc += float64(row[n] * cv[n])
					}
					yt[p] = acc
				}
			}
			if final != nil {
				copy(final[bh*pn:bh*pn+pn], st)
			}
		}
	}
}

// Step advances the recurrence by one token for decoding: state
// (Batch, Heads, HeadDim, State) is updated in place and y (Batch, Heads,
// HeadDim) is written, from x (Batch, Heads, HeadDim), dt (Batch, Heads),
// A (Heads) and Bm, Cm (Batch, Groups, State). d.Len and d.Chunk are not
// used but must be valid. It panics like Forward on bad shapes.
func Step(d Dims, state, x, dt, A, Bm, Cm, y []float32) {
	d.mustValid("Step")
	P, N, H, G := d.HeadDim, d.State, d.Heads, d.Groups
	checkLen("Step", "state", state, d.stateSize())
	checkLen("Step", "x", x, d.Batch*H*P)
	checkLen("Step", "dt", dt, d.Batch*H)
	checkLen("Step", "A", A, H)
	checkLen("Step", "Bm", Bm, d.Batch*G*N)
	checkLen("Step", "Cm", Cm, d.Batch*G*N)
	checkLen("Step", "y", y, d.Batch*H*P)
	for b := 0; b < d.Batch; b++ {
		for h := 0; h < H; h++ {
			g := h / d.headsPerGroup()
			bh := b*H + h
			dts := float64(dt[bh])
			decay := kernels.Exp(float64(dts * float64(A[h])))
			bv := Bm[(b*G+g)*N : (b*G+g)*N+N]
			cv := Cm[(b*G+g)*N : (b*G+g)*N+N]
			for p := 0; p < P; p++ {
				row := state[(bh*P+p)*N : (bh*P+p)*N+N]
				u := float64(dts * float64(x[bh*P+p]))
				var acc float64
				for n := range row {
					s := float32(float64(decay*float64(row[n])) + float64(u*float64(bv[n])))
					row[n] = s
					acc += float64(float64(s) * float64(cv[n]))
				}
				y[bh*P+p] = float32(acc)
			}
		}
	}
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

func narrow(dst []float32, src []float64) {
	for i, f := range src {
		dst[i] = float32(f)
	}
}
