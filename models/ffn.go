package models

import (
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// swiGLU is the FFN w2(SiLU(w1·x) ⊙ w3·x).
type swiGLU struct {
	dim, hidden int
	w1, w3, w2  *bitLinear
}

type ffnActs struct {
	l1, l3, l2 linearActs
	g, u, h    []float32 // gate, up, SiLU(gate)⊙up
	sg         []float32 // σ(gate), kept for the backward pass
	dg, du, dh []float32
}

func (f *swiGLU) newActs(rows int) ffnActs {
	n := rows * f.hidden
	return ffnActs{
		l1: f.w1.newActs(rows), l3: f.w3.newActs(rows), l2: f.w2.newActs(rows),
		g: make([]float32, n), u: make([]float32, n), h: make([]float32, n), sg: make([]float32, n),
		dg: make([]float32, n), du: make([]float32, n), dh: make([]float32, n),
	}
}

func (f *swiGLU) linears() []*bitLinear { return []*bitLinear{f.w1, f.w3, f.w2} }

// forward writes y (rows×dim) from x (rows×dim).
func (f *swiGLU) forward(threads int, a *ffnActs, y, x []float32, rows int) {
	f.w1.forward(threads, &a.l1, a.g, x, rows)
	f.w3.forward(threads, &a.l3, a.u, x, rows)
	hd := f.hidden
	parRows(threads, rows, func(r int) {
		h := a.h[r*hd : r*hd+hd]
		siluRow(h, a.sg[r*hd:r*hd+hd], a.g[r*hd:r*hd+hd])
		vec.Mul(h, h, a.u[r*hd:r*hd+hd])
	})
	f.w2.forward(threads, &a.l2, y, a.h, rows)
}

// backward accumulates dx from dy.
func (f *swiGLU) backward(threads int, a *ffnActs, dy, dx []float32, rows int) {
	hd := f.hidden
	clear(a.dh[:rows*hd])
	f.w2.backward(threads, &a.l2, dy, a.dh, rows)
	// du = dh·(g·σ), dg = (dh·u)·siluGradSig(g, σ).
	kernels.Parallel(threads, rows, func(lo, hi int) {
		i, j := lo*hd, hi*hd
		vec.SiLUGrad(a.dg[i:j], a.du[i:j], a.dh[i:j], a.g[i:j], a.sg[i:j], a.u[i:j])
	})
	f.w1.backward(threads, &a.l1, a.dg, dx, rows)
	f.w3.backward(threads, &a.l3, a.du, dx, rows)
}
