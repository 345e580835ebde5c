package models

import (
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// mamba2 is a Mamba-2 mixer: in_proj → [z, x, B, C, dt]; causal depthwise
// conv + SiLU over x,B,C; dt = softplus(dt_raw + dt_bias); A = −exp(A_log);
// y = SSD(x, dt, A, B, C) + D·x; RMSNorm(y ⊙ SiLU(z)) ⊙ norm; out_proj.
type mamba2 struct {
	dim, dIn, heads, headDim, groups, state, conv, chunk int
	cConv, dProj                                         int

	inProj, outProj               *bitLinear
	convW, convB, dtBias, aLog, d *Param
	norm                          *rmsNorm
}

type mambaActs struct {
	lin, lout linearActs
	zx        []float32 // rows × dProj: in_proj output
	pre       []float32 // rows × cConv: conv output before SiLU
	spre      []float32 // rows × cConv: σ(pre), kept for the backward pass
	sz        []float32 // rows × dIn: σ(z), kept for the backward pass
	dpre      []float32 // rows × cConv: gradient of pre
	x, bm, cm []float32 // scan inputs
	dt, a     []float32 // rows × H post-softplus; H
	y, g      []float32 // scan output + D·x; y ⊙ SiLU(z)
	nrm       normActs
	cache     *scanCache
	convWT    []float32 // conv weight, tap-major (convWeightsT)
	ones      []float32 // cConv ones: float64(v)·1 adds v exactly

	dzx, dx, dbm, dcm, ddt, da, dy, dg, dn []float32
}

func (m *mamba2) newActs(rows int) mambaActs {
	gn := m.groups * m.state
	f := func(n int) []float32 { return make([]float32, n) }
	return mambaActs{
		lin: m.inProj.newActs(rows), lout: m.outProj.newActs(rows),
		zx: f(rows * m.dProj), pre: f(rows * m.cConv), spre: f(rows * m.cConv), sz: f(rows * m.dIn),
		x: f(rows * m.dIn), bm: f(rows * gn), cm: f(rows * gn), dpre: f(rows * m.cConv),
		dt: f(rows * m.heads), a: f(m.heads), y: f(rows * m.dIn), g: f(rows * m.dIn),
		nrm: newNormActs(rows, m.dIn),
		dzx: f(rows * m.dProj), dx: f(rows * m.dIn), dbm: f(rows * gn), dcm: f(rows * gn),
		ddt: f(rows * m.heads), da: f(m.heads), dy: f(rows * m.dIn), dg: f(rows * m.dIn), dn: f(rows * m.dIn),
	}
}

func (m *mamba2) linears() []*bitLinear { return []*bitLinear{m.inProj, m.outProj} }

func (m *mamba2) dims(batch, seqLen int) scanDims {
	return scanDims{Batch: batch, Len: seqLen, Heads: m.heads, HeadDim: m.headDim, Groups: m.groups, State: m.state, Chunk: m.chunk}
}

// splitRow fills x, B, C (SiLU of the conv output, keeping σ) and dt of row r.
func (m *mamba2) splitRow(a *mambaActs, r int) {
	gn := m.groups * m.state
	pre := a.pre[r*m.cConv : (r+1)*m.cConv]
	sp := a.spre[r*m.cConv : (r+1)*m.cConv]
	x := a.x[r*m.dIn : (r+1)*m.dIn]
	bm := a.bm[r*gn : (r+1)*gn]
	cm := a.cm[r*gn : (r+1)*gn]
	siluRow(x, sp[:m.dIn], pre[:m.dIn])
	siluRow(bm, sp[m.dIn:m.dIn+gn], pre[m.dIn:m.dIn+gn])
	siluRow(cm, sp[m.dIn+gn:], pre[m.dIn+gn:])
	raw := a.zx[r*m.dProj+m.dIn+m.cConv:]
	for h := 0; h < m.heads; h++ {
		a.dt[r*m.heads+h] = kernels.Softplus32(raw[h] + m.dtBias.Data[h])
	}
}

// finishRow adds the D skip to the scan output of row r and applies the
// gate, keeping σ(z). y + D·x is one float64 sum of the exact product,
// rounded once.
func (m *mamba2) finishRow(a *mambaActs, r int) {
	z := a.zx[r*m.dProj : r*m.dProj+m.dIn]
	g := a.g[r*m.dIn : (r+1)*m.dIn]
	y := a.y[r*m.dIn : (r+1)*m.dIn]
	x := a.x[r*m.dIn : (r+1)*m.dIn]
	siluRow(g, a.sz[r*m.dIn:(r+1)*m.dIn], z)
	P := m.headDim
	for h := 0; h < m.heads; h++ {
		vec.AxpyExact(y[h*P:h*P+P], x[h*P:h*P+P], float64(m.d.Data[h]))
	}
	vec.Mul(g, y, g)
}

// convWeightsT returns the conv weight transposed to K×cConv (tap-major),
// reusing dst when it is large enough.
func (m *mamba2) convWeightsT(dst []float32) []float32 {
	C, K := m.cConv, m.conv
	if cap(dst) < C*K {
		dst = make([]float32, C*K)
	}
	dst = dst[:C*K]
	w := m.convW.Data[:C*K]
	for c := 0; c < C; c++ {
		for k := 0; k < K; k++ {
			dst[k*C+c] = w[c*K+k]
		}
	}
	return dst
}

// convRow computes the causal depthwise conv of one row: out[c] = bias[c] +
// Σ_k w[c,k]·in_k[c], where tap k reads the row k − (K−1) steps back and
// taps before the sequence start are skipped. Each output is one float64
// sum in ascending k of exact products, rounded once; wT is the weight from
// convWeightsT.
func (m *mamba2) convRow(out []float32, wT []float32, tap func(k int) []float32) {
	C := len(out)
	var wb, xb [8][]float32
	ws, xs := wb[:0], xb[:0]
	for k := 0; k < m.conv; k++ {
		if in := tap(k); in != nil {
			ws, xs = append(ws, wT[k*C:k*C+C]), append(xs, in[:C])
		}
	}
	vec.DotTaps(out, m.convB.Data[:C], ws, xs)
}

func (m *mamba2) setA(a *mambaActs) {
	for h := range a.a {
		a.a[h] = -kernels.Exp32(m.aLog.Data[h])
	}
}

// forward writes out (rows×dim) from the normalized input u. pre (may be
// nil) runs first in the row pass that prepares in_proj's input: a caller
// that writes u row by row (the block's norm) does so there.
func (m *mamba2) forward(threads int, a *mambaActs, out, u []float32, batch, seqLen int, pre func(r0, r1 int)) {
	rows := batch * seqLen
	prep := m.inProj.hasPrep()
	m.inProj.bindPrep(&a.lin, u)
	if pre != nil || prep {
		rowBlocks(threads, rows, func(r0, r1 int) {
			if pre != nil {
				pre(r0, r1)
			}
			if prep {
				m.inProj.prepRows(&a.lin, r0, r1)
			}
		})
	}
	m.inProj.product(threads, &a.lin, a.zx, u, rows)
	a.convWT = m.convWeightsT(a.convWT)
	kernels.Parallel(threads, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := r % seqLen
			m.convRow(a.pre[r*m.cConv:(r+1)*m.cConv], a.convWT, func(k int) []float32 {
				tt := t - m.conv + 1 + k
				if tt < 0 {
					return nil
				}
				i := (r-t+tt)*m.dProj + m.dIn
				return a.zx[i : i+m.cConv]
			})
			m.splitRow(a, r)
		}
	})
	m.setA(a)
	a.cache = scanForward(a.cache, threads, m.dims(batch, seqLen), a.y, a.x, a.dt, a.a, a.bm, a.cm, nil, nil)
	m.output(threads, a, out, rows)
}

// output runs the gate, the gated norm and out_proj's input preparation in
// one row pass over the scan's output a.y, then out_proj into out.
func (m *mamba2) output(threads int, a *mambaActs, out []float32, rows int) {
	a.nrm.in = a.g
	prep := m.outProj.hasPrep()
	m.outProj.bindPrep(&a.lout, a.nrm.out)
	rowBlocks(threads, rows, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			m.finishRow(a, r)
		}
		m.norm.forwardRows(&a.nrm, r0, r1)
		if prep {
			m.outProj.prepRows(&a.lout, r0, r1)
		}
	})
	m.outProj.product(threads, &a.lout, out, a.nrm.out, rows)
}

// backward accumulates du (rows×dim) from dout.
// backward accumulates du (rows×dim) from dout; with zero it writes du
// (the bits of adding to a cleared du).
func (m *mamba2) backward(threads int, a *mambaActs, dout, du []float32, batch, seqLen int, zero bool) {
	rows := batch * seqLen
	P, H, gn := m.headDim, m.heads, m.groups*m.state
	// Gate backward: dy = dg·(z·σ(z)), dz = (dg·y)·siluGradSig(z, σ(z)),
	// and the D skip's dx = dy·D.
	gate := func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			j := r * m.dIn
			dy := a.dy[j : j+m.dIn]
			vec.SiLUGrad(a.dzx[r*m.dProj:r*m.dProj+m.dIn], dy, a.dg[j:j+m.dIn],
				a.zx[r*m.dProj:r*m.dProj+m.dIn], a.sz[j:j+m.dIn], a.y[j:j+m.dIn])
			dx := a.dx[j : j+m.dIn]
			for h := 0; h < H; h++ {
				vec.Scale(dx[h*P:h*P+P], dy[h*P:h*P+P], m.d.Data[h])
			}
		}
		// The scan's gradients of dt, B and C accumulate: cleared here,
		// in the row pass, rather than in serial passes before the scan.
		clear(a.ddt[r0*H : r1*H])
		clear(a.dbm[r0*gn : r1*gn])
		clear(a.dcm[r0*gn : r1*gn])
	}
	// D skip: dD[h] = Σ_{r,p} dy·x in row order, chained in the row pass
	// that writes dy.
	dD := make([]float64, H)
	dChain := func(r0, r1 int) {
		vec.HeadDotsAcc(dD, a.dy[r0*m.dIn:r1*m.dIn], a.x[r0*m.dIn:r1*m.dIn], r1-r0, m.dIn, P)
	}
	if sub := m.outProj.subln; sub != nil {
		// out_proj's SubLN, the gated norm and the gate in one row pass.
		m.outProj.backwardProducts(threads, &a.lout, dout, nil, rows, false)
		acc1, acc2 := make([]float64, sub.dim), make([]float64, m.norm.dim)
		chainedRowBlocks(threads, rows, func(r0, r1 int) {
			sub.backwardRows(&a.lout.sub, a.lout.dxa, a.dn, r0, r1, true)
			m.norm.backwardRows(&a.nrm, a.dn, a.dg, r0, r1, true)
			gate(r0, r1)
		}, func(r0, r1 int) {
			sub.gainRows(acc1, &a.lout.sub, a.lout.dxa, r0, r1)
			m.norm.gainRows(acc2, &a.nrm, a.dn, r0, r1)
			dChain(r0, r1)
		})
		sub.addGain(acc1)
		m.norm.addGain(acc2)
	} else {
		m.outProj.backward(threads, &a.lout, dout, a.dn, rows, true)
		m.norm.backward(threads, &a.nrm, a.dn, a.dg, rows, true)
		chainedRowBlocks(threads, rows, gate, dChain)
	}
	for h, v := range dD {
		m.d.Grad[h] += float32(v)
	}
	clear(a.da)
	scanBackward(threads, m.dims(batch, seqLen), a.cache, a.dy, nil, a.x, a.dt, a.a, a.bm, a.cm, a.dx, a.ddt, a.da, a.dbm, a.dcm, nil)
	for h := 0; h < H; h++ {
		m.aLog.Grad[h] += a.da[h] * a.a[h]
	}
	m.convBackward(threads, a, batch, seqLen)
	m.inProj.backward(threads, &a.lin, a.dzx, du, rows, zero)
}

// convBackward runs dt_raw's and dt_bias's gradients and the SiLU and conv
// backward: the gradient before the SiLU (from the stored σ), the conv
// input gradient into dzx, and the conv weight and bias gradients. Row
// work is split over rows; the bias and weight gradients are one float64
// chain per element over the rows in ascending order, continued by each
// thread over the rows it wrote (chainedRowBlocks).
func (m *mamba2) convBackward(threads int, a *mambaActs, batch, seqLen int) {
	rows, C, K, gn, H := batch*seqLen, m.cConv, m.conv, m.groups*m.state, m.heads
	if len(a.ones) != C {
		a.ones = make([]float32, C)
		for i := range a.ones {
			a.ones[i] = 1
		}
	}
	// One row pass: dt_raw's gradient and dpre, with the chains of the
	// dt_bias, conv weight and conv bias gradients over the rows in
	// ascending order (float64, one per element; the weight's tap-major).
	off := m.dIn + C
	dtb, dw, db := make([]float64, H), make([]float64, K*C), make([]float64, C)
	chainedRowBlocks(threads, rows, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			raw := a.zx[r*m.dProj+off:]
			for h := 0; h < H; h++ {
				a.dzx[r*m.dProj+off+h] = a.ddt[r*H+h] * sigmoid32(raw[h]+m.dtBias.Data[h])
			}
			dp := a.dpre[r*C : (r+1)*C]
			pre := a.pre[r*C : (r+1)*C]
			sp := a.spre[r*C : (r+1)*C]
			dx := a.dx[r*m.dIn : (r+1)*m.dIn]
			dbm := a.dbm[r*gn : (r+1)*gn]
			dcm := a.dcm[r*gn : (r+1)*gn]
			// dpre = d(SiLU output)·siluGradSig(pre, σ) over the x, B and C
			// channel ranges.
			vec.SiLUBack(dp[:m.dIn], dx, pre[:m.dIn], sp[:m.dIn])
			vec.SiLUBack(dp[m.dIn:m.dIn+gn], dbm, pre[m.dIn:m.dIn+gn], sp[m.dIn:m.dIn+gn])
			vec.SiLUBack(dp[m.dIn+gn:], dcm, pre[m.dIn+gn:], sp[m.dIn+gn:])
		}
	}, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			for h := 0; h < H; h++ {
				dtb[h] += float64(a.dzx[r*m.dProj+off+h])
			}
		}
		// Sequence by sequence: tap k of row t reads the input row t − s
		// (s = K−1−k), present for t ≥ s.
		for lo := r0; lo < r1; {
			t0 := lo % seqLen
			hi := min(r1, lo-t0+seqLen)
			vec.MulAddF64Rows(db, a.dpre[lo*C:], C, a.ones, 0, hi-lo)
			for k := 0; k < K; k++ {
				s := K - 1 - k
				from := max(lo, lo-t0+s)
				if from < hi {
					vec.MulAddF64Rows(dw[k*C:k*C+C], a.dpre[from*C:], C, a.zx[(from-s)*m.dProj+m.dIn:], m.dProj, hi-from)
				}
			}
			lo = hi
		}
	})
	for h, v := range dtb {
		m.dtBias.Grad[h] += float32(v)
	}
	for c := 0; c < C; c++ {
		for k := 0; k < K; k++ {
			m.convW.Grad[c*K+k] += float32(dw[k*C+c])
		}
		m.convB.Grad[c] += float32(db[c])
	}
	// Conv input gradient: d in[tt,c] = Σ_k w[c,k]·dpre[tt+K−1−k, c].
	wT := m.convWeightsT(a.convWT)
	a.convWT = wT
	kernels.Parallel(threads, rows, func(lo, hi int) {
		var wb, xb [8][]float32
		for r := lo; r < hi; r++ {
			tt := r % seqLen
			ws, xs := wb[:0], xb[:0]
			for k := K - 1; k >= 0; k-- {
				t := tt + K - 1 - k
				if t >= seqLen {
					continue
				}
				ws, xs = append(ws, wT[k*C:k*C+C]), append(xs, a.dpre[(r-tt+t)*C:(r-tt+t+1)*C])
			}
			vec.DotTaps(a.dzx[r*m.dProj+m.dIn:r*m.dProj+m.dIn+C], nil, ws, xs)
		}
	})
}
