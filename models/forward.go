package models

import (
	"fmt"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// workspace holds the activations of one (batch, seqLen) shape.
//
// With stored activations every layer has its own block activations (n1,
// attn or mamba, mid, n2, ffn at index l). With recomputation (see
// SetRecompute) they have one entry, shared by every layer: the forward
// pass keeps only the residual stream res at block boundaries, and the
// backward pass reruns each block's forward from res[l] into the shared
// entry before its backward.
type workspace struct {
	batch, seqLen, rows int
	recompute           bool
	live                int // the layer whose activations the block entries hold (−1: none)

	res   [][]float32 // res[l]: input of layer l; res[n]: final residual
	mid   [][]float32 // residual after layer l's mixer (FFN input)
	n1    []normActs
	n2    []normActs
	attn  []attnActs
	mamba []mambaActs
	ffn   []ffnActs
	fin   normActs
	tmp   []float32 // rows×D: a sublayer's output
	lossR []float64 // per-row loss

	logits, dlogits []float32
	dres, dn        []float32
}

// slot is the index of layer l's block activations.
func (w *workspace) slot(l int) int {
	if w.recompute {
		return 0
	}
	return l
}

func (m *Model) workspace(batch, seqLen int) *workspace {
	if w := m.ws; w != nil && w.batch == batch && w.seqLen == seqLen && w.recompute == m.recompute {
		return w
	}
	m.ws = nil // release the old one before allocating
	rows, D, L := batch*seqLen, m.arch.mc.DModel, len(m.layers)
	f := func(n int) []float32 { return make([]float32, n) }
	slots := L
	if m.recompute {
		slots = 1
	}
	w := &workspace{batch: batch, seqLen: seqLen, rows: rows, recompute: m.recompute, live: -1,
		res: make([][]float32, L+1), mid: make([][]float32, slots), n1: make([]normActs, slots), n2: make([]normActs, slots),
		attn: make([]attnActs, slots), mamba: make([]mambaActs, slots), ffn: make([]ffnActs, slots),
		fin: newNormActs(rows, D), tmp: f(rows * D), lossR: make([]float64, rows),
		logits: f(rows * m.arch.mc.Vocab), dlogits: f(rows * m.arch.mc.Vocab), dres: f(rows * D), dn: f(rows * D)}
	for l := range m.layers {
		w.res[l] = f(rows * D)
	}
	w.res[L] = f(rows * D)
	for l, b := range m.layers {
		i := w.slot(l)
		if w.n1[i].out == nil {
			w.n1[i] = newNormActs(rows, D)
		}
		if b.attn != nil && w.attn[i].q == nil {
			w.attn[i] = b.attn.newActs(batch, seqLen)
		}
		if b.mamba != nil && w.mamba[i].zx == nil {
			w.mamba[i] = b.mamba.newActs(rows)
		}
		if b.ffn != nil && w.mid[i] == nil {
			w.mid[i] = f(rows * D)
			w.n2[i] = newNormActs(rows, D)
			w.ffn[i] = b.ffn.newActs(rows)
		}
	}
	m.ws = w
	return w
}

// check validates a batch of token ids (and targets when non-nil).
func (m *Model) check(tokens, targets []int32, batch, seqLen int) error {
	mc := m.arch.mc
	if batch <= 0 || seqLen <= 0 {
		return fmt.Errorf("models: batch %d and seqLen %d must be positive", batch, seqLen)
	}
	if seqLen > mc.Context {
		return fmt.Errorf("models: seqLen %d exceeds model.context %d", seqLen, mc.Context)
	}
	if len(tokens) != batch*seqLen {
		return fmt.Errorf("models: %d tokens, want batch·seqLen = %d·%d = %d", len(tokens), batch, seqLen, batch*seqLen)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= mc.Vocab {
			return fmt.Errorf("models: token %d at position %d is outside the vocabulary [0, %d)", t, i, mc.Vocab)
		}
	}
	if targets == nil {
		return nil
	}
	if len(targets) != batch*seqLen {
		return fmt.Errorf("models: %d targets, want batch·seqLen = %d", len(targets), batch*seqLen)
	}
	for i, t := range targets {
		if t < -1 || int(t) >= mc.Vocab {
			return fmt.Errorf("models: target %d at position %d is outside [-1, %d)", t, i, mc.Vocab)
		}
	}
	return nil
}

// forward runs the network and leaves the logits in w.logits.
func (m *Model) forward(w *workspace, tokens []int32) {
	th, D, V := m.threads, m.arch.mc.DModel, m.arch.mc.Vocab
	m.refresh()
	E := m.embed.Data
	parRows(th, w.rows, func(r int) {
		copy(w.res[0][r*D:r*D+D], E[int(tokens[r])*D:int(tokens[r])*D+D])
	})
	for l := range m.layers {
		m.blockForward(w, l, true)
	}
	m.normF.forward(th, &w.fin, w.res[len(m.layers)], w.rows)
	kernels.MatMulNT(th, w.logits, w.fin.out, E, w.rows, D, V, false)
}

// blockForward runs layer l from w.res[l] into its block activations and,
// when out is true, writes w.res[l+1]; the backward pass of a recomputing
// workspace reruns it with out false (it needs the activations only).
func (m *Model) blockForward(w *workspace, l int, out bool) {
	th, D := m.threads, m.arch.mc.DModel
	b, i := m.layers[l], w.slot(l)
	add := func(dst, a, b []float32) {
		kernels.Parallel(th, w.rows, func(lo, hi int) {
			vec.Add(dst[lo*D:hi*D], a[lo*D:hi*D], b[lo*D:hi*D])
		})
	}
	x := w.res[l]
	// Each norm runs in the row pass that prepares the projections reading
	// its output.
	n1 := &w.n1[i]
	n1.in = x
	norm1 := func(r0, r1 int) { b.norm1.forwardRows(n1, r0, r1) }
	if b.attn != nil {
		b.attn.forward(th, &w.attn[i], w.tmp, n1.out, w.batch, w.seqLen, norm1)
	} else {
		b.mamba.forward(th, &w.mamba[i], w.tmp, n1.out, w.batch, w.seqLen, norm1)
	}
	w.live = l
	if b.ffn == nil {
		if out {
			add(w.res[l+1], x, w.tmp)
		}
		return
	}
	mid, n2 := w.mid[i], &w.n2[i]
	n2.in = mid
	b.ffn.forward(th, &w.ffn[i], w.tmp, n2.out, w.rows, func(r0, r1 int) {
		vec.Add(mid[r0*D:r1*D], x[r0*D:r1*D], w.tmp[r0*D:r1*D])
		b.norm2.forwardRows(n2, r0, r1)
	})
	if out {
		add(w.res[l+1], w.mid[i], w.tmp)
	}
}

// crossEntropy fills w.lossR (0 for ignored rows) and, when grad is true,
// w.dlogits = scale·d(sum loss)/d logits · norm. It returns the summed loss
// and the number of scored targets.
func (m *Model) crossEntropy(w *workspace, targets []int32, grad bool, gscale float32) (float64, int) {
	V := m.arch.mc.Vocab
	kernels.Parallel(m.threads, w.rows, func(lo, hi int) {
		var d []float32
		if grad {
			d = w.dlogits[lo*V : hi*V]
		}
		ceRows(w.lossR[lo:hi], d, w.logits[lo*V:hi*V], targets[lo:hi], V, gscale)
	})
	var s float64
	n := 0
	for r, t := range targets {
		if t >= 0 {
			s += w.lossR[r]
			n++
		}
	}
	return s, n
}

// ceRows writes loss[r], the cross-entropy of row r of the logits lg
// (rows of V) for target targets[r] (0 when it is < 0), for every r <
// len(targets), and, when d is not nil, row r of d = gscale·d(loss)/d lg
// (zero for a target < 0). The exponentials' sums of four rows at a time
// run side by side (vec.ExpShiftRows); every row's values are those of the
// row alone.
func ceRows(loss []float64, d, lg []float32, targets []int32, V int, gscale float32) {
	var xs, ds [4][]float32
	var mxs [4]float32
	var idx [4]int
	var sums [4]float64
	flush := func(k int) {
		if d != nil {
			vec.ExpShiftRows(sums[:k], ds[:k], xs[:k], mxs[:k])
		} else {
			vec.ExpShiftRows(sums[:k], nil, xs[:k], mxs[:k])
		}
		for i := 0; i < k; i++ {
			r, sum := idx[i], sums[i]
			t := targets[r]
			if d != nil {
				// ds[i] holds exp(l − max) (float32) for the gradient.
				vec.ScaleF64(ds[i], float64(gscale)/sum)
				ds[i][t] -= gscale
			}
			lse := float64(mxs[i]) + kernels.Log(sum)
			loss[r] = lse - float64(xs[i][t])
		}
	}
	k := 0
	for r, t := range targets {
		if t < 0 {
			loss[r] = 0
			if d != nil {
				clear(d[r*V : r*V+V])
			}
			continue
		}
		xs[k], mxs[k], idx[k] = lg[r*V:r*V+V], vec.Max(lg[r*V:r*V+V]), r
		if d != nil {
			ds[k] = d[r*V : r*V+V]
		}
		if k++; k == 4 {
			flush(k)
			k = 0
		}
	}
	if k > 0 {
		flush(k)
	}
}

// backward propagates w.dlogits through the network into Param.Grad.
func (m *Model) backward(w *workspace, tokens []int32) {
	th, D, V := m.threads, m.arch.mc.DModel, m.arch.mc.Vocab
	E := m.embed
	kernels.MatMul(th, w.dn, w.dlogits, E.Data, w.rows, V, D, false)
	kernels.MatMulTN(th, E.Grad, w.dlogits, w.fin.out, V, w.rows, D, true)
	m.normF.backward(th, &w.fin, w.dn, w.dres, w.rows, true)
	for l := len(m.layers) - 1; l >= 0; l-- {
		if w.recompute && w.live != l {
			m.blockForward(w, l, false) // recompute the block's activations
		}
		b, i := m.layers[l], w.slot(l)
		if b.ffn != nil {
			b.ffn.backward(th, &w.ffn[i], w.dres, w.dn, w.rows, true)
			b.norm2.backward(th, &w.n2[i], w.dn, w.dres, w.rows, false)
		}
		if b.attn != nil {
			b.attn.backward(th, &w.attn[i], w.dres, w.dn, w.batch, w.seqLen, true)
		} else {
			b.mamba.backward(th, &w.mamba[i], w.dres, w.dn, w.batch, w.seqLen, true)
		}
		b.norm1.backward(th, &w.n1[i], w.dn, w.dres, w.rows, false)
		if w.recompute {
			w.live = -1 // the backward pass overwrote the shared entry's scratch
		}
	}
	// Embedding gradient: rows in order for every column.
	kernels.Parallel(th, D, func(lo, hi int) {
		for r, t := range tokens {
			g := E.Grad[int(t)*D+lo : int(t)*D+hi]
			vec.Add(g, g, w.dres[r*D+lo:r*D+hi])
		}
	})
}

// ForwardBackward runs a training micro-batch: tokens and targets are
// batch×seqLen (row-major), targets of −1 are not scored. It returns the
// mean cross-entropy over the scored targets and adds
// scale·d(mean loss)/dθ into every Param.Grad. A batch with no scored
// target returns 0 and adds nothing.
func (m *Model) ForwardBackward(tokens, targets []int32, batch, seqLen int, scale float32) (float64, error) {
	if err := m.check(tokens, targets, batch, seqLen); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range targets {
		if t >= 0 {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	w := m.workspace(batch, seqLen)
	m.forward(w, tokens)
	sum, _ := m.crossEntropy(w, targets, true, float32(float64(scale)/float64(n)))
	m.backward(w, tokens)
	return sum / float64(n), nil
}

// Loss runs the forward pass only and returns the summed cross-entropy in
// nats over the targets ≠ −1 and their number.
func (m *Model) Loss(tokens, targets []int32, batch, seqLen int) (sum float64, count int, err error) {
	if err := m.check(tokens, targets, batch, seqLen); err != nil {
		return 0, 0, err
	}
	w := m.workspace(batch, seqLen)
	m.forward(w, tokens)
	sum, count = m.crossEntropy(w, targets, false, 0)
	return sum, count, nil
}

// Logits runs the forward pass and returns a fresh (batch·seqLen)×vocab
// slice of logits.
func (m *Model) Logits(tokens []int32, batch, seqLen int) ([]float32, error) {
	if err := m.check(tokens, nil, batch, seqLen); err != nil {
		return nil, err
	}
	w := m.workspace(batch, seqLen)
	m.forward(w, tokens)
	return append([]float32(nil), w.logits...), nil
}
