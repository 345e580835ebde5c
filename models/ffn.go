package models

import (
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

// forward writes y (rows×dim) from x (rows×dim). pre (may be nil) runs
// first in the row pass that prepares w1's and w3's inputs: a caller whose
// rows of x are written row by row (the residual add and norm) produces
// them there, and each row block is then read from cache.
func (f *swiGLU) forward(threads int, a *ffnActs, y, x []float32, rows int, pre func(r0, r1 int)) {
	p1, p3 := f.w1.hasPrep(), f.w3.hasPrep()
	f.w1.bindPrep(&a.l1, x)
	f.w3.bindPrep(&a.l3, x)
	if pre != nil || p1 || p3 {
		rowBlocks(threads, rows, func(r0, r1 int) {
			if pre != nil {
				pre(r0, r1)
			}
			if p1 {
				f.w1.prepRows(&a.l1, r0, r1)
			}
			if p3 {
				f.w3.prepRows(&a.l3, r0, r1)
			}
		})
	}
	f.w1.product(threads, &a.l1, a.g, x, rows)
	f.w3.product(threads, &a.l3, a.u, x, rows)
	// SiLU(g)⊙u and w2's input preparation in one row pass.
	hd := f.hidden
	p2 := f.w2.hasPrep()
	f.w2.bindPrep(&a.l2, a.h)
	rowBlocks(threads, rows, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			h := a.h[r*hd : r*hd+hd]
			siluRow(h, a.sg[r*hd:r*hd+hd], a.g[r*hd:r*hd+hd])
			vec.Mul(h, h, a.u[r*hd:r*hd+hd])
		}
		if p2 {
			f.w2.prepRows(&a.l2, r0, r1)
		}
	})
	f.w2.product(threads, &a.l2, y, a.h, rows)
}

// backward accumulates dx from dy. With SubLN on w2, its input gradient
// and the SwiGLU gradient run in one row pass (dh never leaves the cache);
// with SubLN on w1 and w3 their input gradients reach dx in one row pass,
// w1's before w3's in every row as in running the two one after the other.
func (f *swiGLU) backward(threads int, a *ffnActs, dy, dx []float32, rows int, zero bool) {
	hd := f.hidden
	// du = dh·(g·σ), dg = (dh·u)·siluGradSig(g, σ).
	gate := func(r0, r1 int) {
		i, j := r0*hd, r1*hd
		vec.SiLUGrad(a.dg[i:j], a.du[i:j], a.dh[i:j], a.g[i:j], a.sg[i:j], a.u[i:j])
	}
	if sub := f.w2.subln; sub != nil {
		f.w2.backwardProducts(threads, &a.l2, dy, nil, rows, false)
		acc := make([]float64, sub.dim)
		chainedRowBlocks(threads, rows, func(r0, r1 int) {
			sub.backwardRows(&a.l2.sub, a.l2.dxa, a.dh, r0, r1, true)
			gate(r0, r1)
		}, func(r0, r1 int) { sub.gainRows(acc, &a.l2.sub, a.l2.dxa, r0, r1) })
		sub.addGain(acc)
	} else {
		f.w2.backward(threads, &a.l2, dy, a.dh, rows, true)
		rowBlocks(threads, rows, gate)
	}
	s1, s3 := f.w1.subln, f.w3.subln
	if s1 == nil || s3 == nil {
		f.w1.backward(threads, &a.l1, a.dg, dx, rows, zero)
		f.w3.backward(threads, &a.l3, a.du, dx, rows, false)
		return
	}
	f.w1.backwardProducts(threads, &a.l1, a.dg, nil, rows, false)
	f.w3.backwardProducts(threads, &a.l3, a.du, nil, rows, false)
	acc1, acc3 := make([]float64, s1.dim), make([]float64, s3.dim)
	chainedRowBlocks(threads, rows, func(r0, r1 int) {
		s1.backwardRows(&a.l1.sub, a.l1.dxa, dx, r0, r1, zero)
		s3.backwardRows(&a.l3.sub, a.l3.dxa, dx, r0, r1, false)
	}, func(r0, r1 int) {
		s1.gainRows(acc1, &a.l1.sub, a.l1.dxa, r0, r1)
		s3.gainRows(acc3, &a.l3.sub, a.l3.dxa, r0, r1)
	})
	s1.addGain(acc1)
	s3.addGain(acc3)
}
