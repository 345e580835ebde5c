package models

import "github.com/nanomamba-edge/harness/kernels"

// bitLinear is a BitLinear projection y = act(SubLN(x))·W_effᵀ with W of
// shape [out, in]. Gradients pass straight through both quantizers.
type bitLinear struct {
	in, out int
	w       *Param
	subln   *rmsNorm // nil when quant.subln is off
	q       *quantizer

	weff    []float32 // buffer of the effective weight
	scratch []float32
	eff     []float32    // the weight the last refresh selected (w.Data or weff)
	lora    *loraAdapter // a LoRA adapter (models/lora.go); nil: none
	// frozen: backward computes no gradient for W (Model.FreezeBase).
	frozen bool
}

// quantizer is the model-wide quantization setting shared by all BitLinears.
type quantizer struct {
	spec  quantSpec
	state QuantState
}

// linearActs holds one BitLinear's activations for a given row count.
type linearActs struct {
	sub normActs  // SubLN (when on)
	xq  []float32 // activation-quantized input buffer (when on)
	xa  []float32 // the activation multiplied by W_eff (aliases an input when no op applies)
	dxa []float32 // gradient w.r.t. xa
	ad  *loraActs // the LoRA adapter's activations (when one is attached)
}

func (l *bitLinear) newActs(rows int) linearActs {
	a := linearActs{dxa: make([]float32, rows*l.in)}
	if l.subln != nil {
		a.sub = newNormActs(rows, l.in)
	}
	if l.q.spec.actBits > 0 {
		a.xq = make([]float32, rows*l.in)
	}
	return a
}

// refresh recomputes the effective weight from the current W and quant state.
func (l *bitLinear) refresh() {
	if l.prepare() {
		l.refreshRange(0, len(l.w.Data), l.q.spec.statistic(l.w.Data))
	}
}

// prepare selects the weight of the current quant state and reports whether
// an effective weight must be computed into l.weff.
func (l *bitLinear) prepare() bool {
	if _, _, _, ok := l.q.spec.effectivePlan(l.q.state); !ok {
		l.eff = l.w.Data
		return false
	}
	if l.weff == nil {
		l.weff = make([]float32, len(l.w.Data))
		l.scratch = make([]float32, len(l.w.Data))
	}
	l.eff = l.weff
	return true
}

// refreshRange writes elements [lo, hi) of the effective weight from the
// statistic m of the whole W.
func (l *bitLinear) refreshRange(lo, hi int, m float32) {
	from, to, lam, _ := l.q.spec.effectivePlan(l.q.state)
	l.q.spec.effectiveRange(l.weff[lo:hi], l.scratch[lo:hi], l.w.Data[lo:hi], from, to, lam, m)
}

// forward computes y (rows×out) from x (rows×in). refresh must have run.
func (l *bitLinear) forward(threads int, a *linearActs, y, x []float32, rows int) {
	in := x[:rows*l.in]
	lam := l.q.state.actLambda()
	quant := l.q.spec.actBits > 0 && lam != 0
	// SubLN and activation quantization row block by row block, so that
	// the quantizer reads the normalized rows from cache.
	if l.subln != nil || quant {
		src := in
		if l.subln != nil {
			a.sub.in = in
			src = a.sub.out
		}
		kernels.Parallel(threads, rows, func(lo, hi int) {
			for r0 := lo; r0 < hi; r0 += 4 {
				r1 := min(r0+4, hi)
				if l.subln != nil {
					l.subln.forwardRows(&a.sub, r0, r1)
				}
				if quant {
					quantizeActRows(a.xq, src, r0, r1, l.in, l.q.spec.actBits, lam)
				}
			}
		})
		in = src
		if quant {
			in = a.xq
		}
	}
	a.xa = in
	kernels.MatMulNT(threads, y, in, l.eff, rows, l.in, l.out, false)
	if l.lora != nil {
		l.lora.forward(threads, a, y, l.loraInput(a, x, rows), rows)
	}
}

// backward accumulates dx (rows×in) and, unless W is frozen, W's gradient
// from dy (rows×out). The input gradient does not depend on W's gradient,
// so freezing changes none of its bits.
func (l *bitLinear) backward(threads int, a *linearActs, dy, dx []float32, rows int) {
	if !l.frozen {
		kernels.MatMulTN(threads, l.w.Grad, dy, a.xa, l.out, rows, l.in, true)
	}
	if l.subln == nil {
		kernels.MatMul(threads, dx, dy, l.eff, rows, l.out, l.in, true)
		if l.lora != nil {
			l.lora.backward(threads, a, dy, dx, rows)
		}
		return
	}
	kernels.MatMul(threads, a.dxa, dy, l.eff, rows, l.out, l.in, false)
	if l.lora != nil {
		l.lora.backward(threads, a, dy, a.dxa, rows)
	}
	l.subln.backward(threads, &a.sub, a.dxa, dx, rows)
}
