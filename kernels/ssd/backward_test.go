package ssd

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/rng"
)

// grads64 holds float64 gradients of every input.
type grads64 struct {
	x, dt, A, Bm, Cm, init []float64
}

// naiveBackward64 is the per-step reverse scan of the recurrence in float64:
// it stores every state, then walks time backwards carrying the state
// gradient.
func naiveBackward64(d Dims, dy, dFinal, x, dt, A, Bm, Cm, init []float64) grads64 {
	P, N, H, G, T := d.HeadDim, d.State, d.Heads, d.Groups, d.Len
	pn := P * N
	g64 := grads64{
		x: make([]float64, len(x)), dt: make([]float64, len(dt)), A: make([]float64, H),
		Bm: make([]float64, len(Bm)), Cm: make([]float64, len(Cm)), init: make([]float64, d.stateSize()),
	}
	hs := make([]float64, (T+1)*pn)
	gh := make([]float64, pn)
	for b := 0; b < d.Batch; b++ {
		for h := 0; h < H; h++ {
			g := h / d.headsPerGroup()
			bh := b*H + h
			clear(hs[:pn])
			if init != nil {
				copy(hs[:pn], init[bh*pn:])
			}
			row := func(v []float64, t, w, idx, n int) []float64 {
				i := ((b*T+t)*w + idx) * n
				return v[i : i+n]
			}
			for t := 0; t < T; t++ {
				a := kernels.Exp(dt[(b*T+t)*H+h] * A[h])
				xt, bt := row(x, t, H, h, P), row(Bm, t, G, g, N)
				for p := 0; p < P; p++ {
					for n := 0; n < N; n++ {
						hs[(t+1)*pn+p*N+n] = a*hs[t*pn+p*N+n] + dt[(b*T+t)*H+h]*xt[p]*bt[n]
					}
				}
			}
			clear(gh)
			if dFinal != nil {
				copy(gh, dFinal[bh*pn:bh*pn+pn])
			}
			for t := T - 1; t >= 0; t-- {
				dtt := dt[(b*T+t)*H+h]
				a := kernels.Exp(dtt * A[h])
				xt, bt, ct, gy := row(x, t, H, h, P), row(Bm, t, G, g, N), row(Cm, t, G, g, N), row(dy, t, H, h, P)
				gx, gb, gc := row(g64.x, t, H, h, P), row(g64.Bm, t, G, g, N), row(g64.Cm, t, G, g, N)
				cur, prev := hs[(t+1)*pn:(t+2)*pn], hs[t*pn:(t+1)*pn]
				var inner float64
				for p := 0; p < P; p++ {
					var gX float64
					for n := 0; n < N; n++ {
						gh[p*N+n] += gy[p] * ct[n]
						gc[n] += cur[p*N+n] * gy[p]
						gX += gh[p*N+n] * bt[n]
						gb[n] += dtt * gh[p*N+n] * xt[p]
						inner += gh[p*N+n] * prev[p*N+n]
					}
					gx[p] += dtt * gX
					g64.dt[(b*T+t)*H+h] += xt[p] * gX
				}
				ga := a * inner
				g64.dt[(b*T+t)*H+h] += A[h] * ga
				g64.A[h] += dtt * ga
				for i := range gh {
					gh[i] *= a
				}
			}
			for i, v := range gh {
				g64.init[bh*pn+i] += v
			}
		}
	}
	return g64
}

// problem is a random problem plus the weights of the linear functional
// J = Σ wy·y + Σ wf·final, whose gradients are dy = wy and dFinal = wf.
type problem struct {
	d      Dims
	in     inputs
	wy, wf []float32
}

func newProblem(seed int64, d Dims, scale dtScale) problem {
	r := rng.New(seed, "ssd-test-functional")
	p := problem{d: d, in: randInputs(seed, d, scale, true),
		wy: make([]float32, d.xSize()), wf: make([]float32, d.stateSize())}
	for i := range p.wy {
		p.wy[i] = float32(r.Norm())
	}
	for i := range p.wf {
		p.wf[i] = float32(r.Norm())
	}
	return p
}

// chunkedGrads runs Forward and Backward into zeroed gradient buffers.
func (p problem) chunkedGrads(threads int) (y, fin []float32, gx, gdt, gA, gB, gC, gInit []float32) {
	d, in := p.d, p.in
	y, fin = make([]float32, d.xSize()), make([]float32, d.stateSize())
	c := Forward(threads, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, fin)
	gx, gdt, gA = make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads)
	gB, gC, gInit = make([]float32, d.bcSize()), make([]float32, d.bcSize()), make([]float32, d.stateSize())
	Backward(threads, d, c, p.wy, p.wf, in.x, in.dt, in.A, in.Bm, in.Cm, gx, gdt, gA, gB, gC, gInit)
	return
}

// objective evaluates J in float64 at the given inputs.
func (p problem) objective(x, dt, A, Bm, Cm, init []float64) float64 {
	d := p.d
	y, fin := make([]float64, d.xSize()), make([]float64, d.stateSize())
	naive64(d, y, x, dt, A, Bm, Cm, init, fin)
	var j float64
	for i, v := range y {
		j += float64(p.wy[i]) * v
	}
	for i, v := range fin {
		j += float64(p.wf[i]) * v
	}
	return j
}

func TestBackwardMatchesFiniteDifferences(t *testing.T) {
	for _, scale := range []dtScale{dtSmall, dtLarge} {
		for _, q := range []int{1, 3, 8} {
			d := Dims{Batch: 2, Len: 7, Heads: 4, HeadDim: 3, Groups: 2, State: 4, Chunk: q}
			p := newProblem(int64(31+q), d, scale)
			_, _, gx, gdt, gA, gB, gC, gInit := p.chunkedGrads(2)
			vals := [][]float64{widen(p.in.x), widen(p.in.dt), widen(p.in.A), widen(p.in.Bm), widen(p.in.Cm), widen(p.in.init)}
			got := [][]float32{gx, gdt, gA, gB, gC, gInit}
			names := []string{"x", "dt", "A", "Bm", "Cm", "init"}
			for k, v := range vals {
				fd := make([]float64, len(v))
				for i := range v {
					orig := v[i]
					eps := 1e-6 * math.Max(1, math.Abs(orig))
					v[i] = orig + eps
					jp := p.objective(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5])
					v[i] = orig - eps
					jm := p.objective(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5])
					v[i] = orig
					fd[i] = (jp - jm) / (2 * eps)
				}
				closeTo(t, fmt.Sprintf("dt%d/Q=%d d%s", scale, q, names[k]), got[k], fd, 2e-6)
			}
		}
	}
}

func TestBackwardMatchesNaiveReverseScan(t *testing.T) {
	for _, scale := range []dtScale{dtSmall, dtLarge} {
		for _, G := range []int{1, 2} {
			for _, L := range []int{1, 16, 37} {
				for _, Q := range []int{1, 3, 8, 64} {
					d := Dims{Batch: 2, Len: L, Heads: 4, HeadDim: 5, Groups: G, State: 6, Chunk: Q}
					p := newProblem(int64(7*L+Q+G), d, scale)
					_, _, gx, gdt, gA, gB, gC, gInit := p.chunkedGrads(3)
					in := p.in
					ref := naiveBackward64(d, widen(p.wy), widen(p.wf), widen(in.x), widen(in.dt), widen(in.A), widen(in.Bm), widen(in.Cm), widen(in.init))
					name := fmt.Sprintf("dt%d/G=%d/L=%d/Q=%d", scale, G, L, Q)
					closeTo(t, name+" dx", gx, ref.x, 1e-5)
					closeTo(t, name+" ddt", gdt, ref.dt, 1e-5)
					closeTo(t, name+" dA", gA, ref.A, 1e-5)
					closeTo(t, name+" dBm", gB, ref.Bm, 1e-5)
					closeTo(t, name+" dCm", gC, ref.Cm, 1e-5)
					closeTo(t, name+" dInit", gInit, ref.init, 1e-5)
				}
			}
		}
	}
}

func TestBackwardAccumulatesAndAllowsNil(t *testing.T) {
	d := Dims{Batch: 1, Len: 10, Heads: 2, HeadDim: 3, Groups: 1, State: 4, Chunk: 4}
	p := newProblem(3, d, dtLarge)
	in := p.in
	y := make([]float32, d.xSize())
	c := Forward(1, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, in.init, nil)
	once := func(dx, ddt, dA, dB, dC []float32) {
		Backward(1, d, c, p.wy, nil, in.x, in.dt, in.A, in.Bm, in.Cm, dx, ddt, dA, dB, dC, nil)
	}
	bufs := func() [][]float32 {
		return [][]float32{make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads),
			make([]float32, d.bcSize()), make([]float32, d.bcSize())}
	}
	one, two := bufs(), bufs()
	once(one[0], one[1], one[2], one[3], one[4])
	once(two[0], two[1], two[2], two[3], two[4])
	once(two[0], two[1], two[2], two[3], two[4])
	for k := range one {
		for i := range one[k] {
			if two[k][i] != 2*one[k][i] { // doubling is exact
				t.Fatalf("buffer %d[%d]: two calls gave %v, want 2·%v", k, i, two[k][i], one[k][i])
			}
		}
	}
	// Without dFinal the gradients equal those of the y-only functional.
	ref := naiveBackward64(d, widen(p.wy), nil, widen(in.x), widen(in.dt), widen(in.A), widen(in.Bm), widen(in.Cm), widen(in.init))
	closeTo(t, "dx", one[0], ref.x, 1e-5)
	closeTo(t, "dA", one[2], ref.A, 1e-5)
}

// TestBackwardBitIdenticalAcrossThreads compares every output at several
// thread counts, including counts that divide the batch (each thread then
// takes whole batch rows and sums their heads in the same region) and
// counts that do not.
func TestBackwardBitIdenticalAcrossThreads(t *testing.T) {
	for _, tc := range []struct {
		batch   int
		threads []int
	}{{3, []int{1, 2, 3, 7}}, {4, []int{1, 2, 4, 3}}} {
		d := Dims{Batch: tc.batch, Len: 45, Heads: 4, HeadDim: 5, Groups: 2, State: 6, Chunk: 8}
		p := newProblem(9, d, dtLarge)
		var ref [][]float32
		for _, th := range tc.threads {
			y, fin, gx, gdt, gA, gB, gC, gInit := p.chunkedGrads(th)
			got := [][]float32{y, fin, gx, gdt, gA, gB, gC, gInit}
			if ref == nil {
				ref = got
				continue
			}
			for k := range got {
				sameBits(t, fmt.Sprintf("batch=%d threads=%d output %d", tc.batch, th, k), got[k], ref[k])
			}
		}
	}
}
