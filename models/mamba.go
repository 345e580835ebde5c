package models

import "github.com/nanomamba-edge/harness/kernels"

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
	x, bm, cm []float32 // scan inputs
	dt, a     []float32 // rows × H post-softplus; H
	y, g      []float32 // scan output + D·x; y ⊙ SiLU(z)
	nrm       normActs
	cache     *scanCache

	dzx, dx, dbm, dcm, ddt, da, dy, dg, dn []float32
}

func (m *mamba2) newActs(rows int) mambaActs {
	gn := m.groups * m.state
	f := func(n int) []float32 { return make([]float32, n) }
	return mambaActs{
		lin: m.inProj.newActs(rows), lout: m.outProj.newActs(rows),
		zx: f(rows * m.dProj), pre: f(rows * m.cConv),
		x: f(rows * m.dIn), bm: f(rows * gn), cm: f(rows * gn),
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

// splitRow fills x, B, C (SiLU of the conv output) and dt of row r.
func (m *mamba2) splitRow(a *mambaActs, r int) {
	gn := m.groups * m.state
	pre := a.pre[r*m.cConv : (r+1)*m.cConv]
	for i := 0; i < m.dIn; i++ {
		a.x[r*m.dIn+i] = kernels.SiLU32(pre[i])
	}
	for i := 0; i < gn; i++ {
		a.bm[r*gn+i] = kernels.SiLU32(pre[m.dIn+i])
		a.cm[r*gn+i] = kernels.SiLU32(pre[m.dIn+gn+i])
	}
	raw := a.zx[r*m.dProj+m.dIn+m.cConv:]
	for h := 0; h < m.heads; h++ {
		a.dt[r*m.heads+h] = kernels.Softplus32(raw[h] + m.dtBias.Data[h])
	}
}

// finishRow adds the D skip to the scan output of row r and applies the gate.
func (m *mamba2) finishRow(a *mambaActs, r int) {
	z := a.zx[r*m.dProj:]
	for h := 0; h < m.heads; h++ {
		dh := m.d.Data[h]
		for p := 0; p < m.headDim; p++ {
			i := r*m.dIn + h*m.headDim + p
			a.y[i] = kernels.FMA32(dh, a.x[i], a.y[i])
			a.g[i] = a.y[i] * kernels.SiLU32(z[h*m.headDim+p])
		}
	}
}

func (m *mamba2) setA(a *mambaActs) {
	for h := range a.a {
		a.a[h] = -kernels.Exp32(m.aLog.Data[h])
	}
}

// forward writes out (rows×dim) from the normalized input u.
func (m *mamba2) forward(threads int, a *mambaActs, out, u []float32, batch, seqLen int) {
	rows := batch * seqLen
	m.inProj.forward(threads, &a.lin, a.zx, u, rows)
	K := m.conv
	parRows(threads, rows, func(r int) {
		t := r % seqLen
		pre := a.pre[r*m.cConv : (r+1)*m.cConv]
		for c := range pre {
			s := m.convB.Data[c]
			w := m.convW.Data[c*K : c*K+K]
			for k := 0; k < K; k++ {
				if tt := t - K + 1 + k; tt >= 0 {
					s = kernels.FMA32(w[k], a.zx[(r-t+tt)*m.dProj+m.dIn+c], s)
				}
			}
			pre[c] = s
		}
		m.splitRow(a, r)
	})
	m.setA(a)
	a.cache = scanForward(threads, m.dims(batch, seqLen), a.y, a.x, a.dt, a.a, a.bm, a.cm, nil, nil)
	parRows(threads, rows, func(r int) { m.finishRow(a, r) })
	m.norm.forward(threads, &a.nrm, a.g, rows)
	m.outProj.forward(threads, &a.lout, out, a.nrm.out, rows)
}

func siluGrad(v float32) float32 {
	s := kernels.Sigmoid32(v)
	return s * (1 + float32(v*(1-s)))
}

// backward accumulates du (rows×dim) from dout.
func (m *mamba2) backward(threads int, a *mambaActs, dout, du []float32, batch, seqLen int) {
	rows := batch * seqLen
	P, H, gn := m.headDim, m.heads, m.groups*m.state
	clear(a.dn[:rows*m.dIn])
	m.outProj.backward(threads, &a.lout, dout, a.dn, rows)
	clear(a.dg[:rows*m.dIn])
	m.norm.backward(threads, &a.nrm, a.dn, a.dg, rows)
	parRows(threads, rows, func(r int) {
		z := a.zx[r*m.dProj : r*m.dProj+m.dIn]
		dz := a.dzx[r*m.dProj : r*m.dProj+m.dIn]
		for i, zv := range z {
			j := r*m.dIn + i
			a.dy[j] = a.dg[j] * kernels.SiLU32(zv)
			dz[i] = (a.dg[j] * a.y[j]) * siluGrad(zv)
			a.dx[j] = a.dy[j] * m.d.Data[i/P]
		}
	})
	// D skip: dD[h] = Σ_{r,p} dy·x in row order.
	kernels.Parallel(threads, H, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			var s float64
			for r := 0; r < rows; r++ {
				for p := 0; p < P; p++ {
					i := r*m.dIn + h*P + p
					s += float64(float64(a.dy[i]) * float64(a.x[i]))
				}
			}
			m.d.Grad[h] += float32(s)
		}
	})
	clear(a.ddt[:rows*H])
	clear(a.da)
	clear(a.dbm[:rows*gn])
	clear(a.dcm[:rows*gn])
	scanBackward(threads, m.dims(batch, seqLen), a.cache, a.dy, nil, a.x, a.dt, a.a, a.bm, a.cm, a.dx, a.ddt, a.da, a.dbm, a.dcm, nil)
	for h := 0; h < H; h++ {
		m.aLog.Grad[h] += a.da[h] * a.a[h]
	}
	// dt_raw and dt_bias.
	off := m.dIn + m.cConv
	parRows(threads, rows, func(r int) {
		raw := a.zx[r*m.dProj+off:]
		for h := 0; h < H; h++ {
			a.dzx[r*m.dProj+off+h] = a.ddt[r*H+h] * kernels.Sigmoid32(raw[h]+m.dtBias.Data[h])
		}
	})
	kernels.Parallel(threads, H, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			var s float64
			for r := 0; r < rows; r++ {
				s += float64(a.dzx[r*m.dProj+off+h])
			}
			m.dtBias.Grad[h] += float32(s)
		}
	})
	// SiLU and conv backward, one channel at a time (each channel's weights,
	// bias and input gradient are independent); dpre is the gradient before
	// the SiLU for one sequence.
	K := m.conv
	kernels.Parallel(threads, m.cConv, func(lo, hi int) {
		dpre := make([]float32, seqLen)
		for c := lo; c < hi; c++ {
			w := m.convW.Data[c*K : c*K+K]
			dw := m.convW.Grad[c*K : c*K+K]
			var db float64
			for b := 0; b < batch; b++ {
				for t := 0; t < seqLen; t++ {
					r := b*seqLen + t
					var g float32
					switch {
					case c < m.dIn:
						g = a.dx[r*m.dIn+c]
					case c < m.dIn+gn:
						g = a.dbm[r*gn+c-m.dIn]
					default:
						g = a.dcm[r*gn+c-m.dIn-gn]
					}
					dpre[t] = g * siluGrad(a.pre[r*m.cConv+c])
					db += float64(dpre[t])
				}
				for k := 0; k < K; k++ {
					var s float64
					for t := 0; t < seqLen; t++ {
						if tt := t - K + 1 + k; tt >= 0 {
							s += float64(float64(dpre[t]) * float64(a.zx[(b*seqLen+tt)*m.dProj+m.dIn+c]))
						}
					}
					dw[k] += float32(s)
				}
				for tt := 0; tt < seqLen; tt++ {
					var s float32
					for k := K - 1; k >= 0; k-- {
						if t := tt + K - 1 - k; t < seqLen {
							s = kernels.FMA32(w[k], dpre[t], s)
						}
					}
					a.dzx[(b*seqLen+tt)*m.dProj+m.dIn+c] = s
				}
			}
			m.convB.Grad[c] += float32(db)
		}
	})
	m.inProj.backward(threads, &a.lin, a.dzx, du, rows)
}
