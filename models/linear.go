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
	// packed is eff packed for the GEMM (Model.packWeights), dropped by
	// Model.dropPacked before any change of eff; nil: product packs eff
	// itself.
	packed *kernels.PackedNT
	// tern and gamma are eff as γ·t for the exact arithmetic
	// (ternaryCodes); nil until first used after dropPacked.
	tern  []float32
	gamma float32
}

// quantizer is the model-wide quantization setting shared by all BitLinears.
type quantizer struct {
	spec  quantSpec
	state QuantState
	// exact: the products run in the exact arithmetic (set by Step
	// under ArithExact, for its own duration).
	exact bool
}

// linearActs holds one BitLinear's activations for a given row count.
type linearActs struct {
	sub normActs  // SubLN (when on)
	x   []float32 // the input of the last bindPrep
	xq  []float32 // activation-quantized input buffer (when on)
	xa  []float32 // the activation multiplied by W_eff (aliases an input when no op applies)
	dxa []float32 // gradient w.r.t. xa
	ad  *loraActs // the LoRA adapter's activations (when one is attached)

	codes, scales []float32 // the exact arithmetic's activation codes and scales (exactProduct)
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
	if l.hasPrep() {
		l.bindPrep(a, x)
		rowBlocks(threads, rows, func(r0, r1 int) { l.prepRows(a, r0, r1) })
	}
	l.product(threads, a, y, x, rows)
}

// hasPrep reports whether the GEMM input is not x itself: SubLN or
// activation quantization applies.
func (l *bitLinear) hasPrep() bool {
	return l.subln != nil || (l.q.spec.actBits > 0 && l.q.state.actLambda() != 0)
}

// bindPrep points the activations at the input x before prepRows runs.
func (l *bitLinear) bindPrep(a *linearActs, x []float32) {
	a.x = x
	if l.subln != nil {
		a.sub.in = x
	}
}

// prepRows writes rows [r0, r1) of the GEMM input: SubLN and activation
// quantization of the rows of the input given to bindPrep, row block by
// row block so that the quantizer reads the normalized rows from cache. A
// caller may run it over any split of the rows (each row's values depend
// on that row only) as part of its own row pass, once the rows of the
// input are written.
func (l *bitLinear) prepRows(a *linearActs, r0, r1 int) {
	lam := l.q.state.actLambda()
	// The exact arithmetic quantizes to integer codes itself (exactProduct).
	quant := l.q.spec.actBits > 0 && lam != 0 && !l.q.exact
	src := a.x
	if l.subln != nil {
		src = a.sub.out
	}
	for b0 := r0; b0 < r1; b0 += 4 {
		b1 := min(b0+4, r1)
		if l.subln != nil {
			l.subln.forwardRows(&a.sub, b0, b1)
		}
		if quant {
			quantizeActRows(a.xq, src, b0, b1, l.in, l.q.spec.actBits, lam)
		}
	}
}

// product runs y = xa·W_effᵀ (and the LoRA branch) once prepRows has
// covered every row (or when hasPrep is false).
func (l *bitLinear) product(threads int, a *linearActs, y, x []float32, rows int) {
	in := x[:rows*l.in]
	if l.subln != nil {
		in = a.sub.out[:rows*l.in]
	}
	if l.q.exact {
		l.exactProduct(threads, a, y, in, rows)
		if l.lora != nil {
			l.lora.forward(threads, a, y, l.loraInput(a, x, rows), rows)
		}
		return
	}
	if l.q.spec.actBits > 0 && l.q.state.actLambda() != 0 {
		in = a.xq[:rows*l.in]
	}
	a.xa = in
	if l.packed != nil {
		kernels.MatMulNTPacked(threads, y, in, l.packed, rows, false)
	} else {
		kernels.MatMulNT(threads, y, in, l.eff, rows, l.in, l.out, false)
	}
	if l.lora != nil {
		l.lora.forward(threads, a, y, l.loraInput(a, x, rows), rows)
	}
}

// backward accumulates dx (rows×in) and, unless W is frozen, W's gradient
// from dy (rows×out). The input gradient does not depend on W's gradient,
// so freezing changes none of its bits.
// With zero, dx is overwritten instead (the bits of adding to a cleared
// dx, without a pass that clears it).
func (l *bitLinear) backward(threads int, a *linearActs, dy, dx []float32, rows int, zero bool) {
	if l.subln == nil {
		l.backwardProducts(threads, a, dy, dx, rows, zero)
		return
	}
	l.backwardProducts(threads, a, dy, nil, rows, false)
	l.subln.backward(threads, &a.sub, a.dxa, dx, rows, zero)
}

// backwardProducts runs the GEMMs of the backward pass: W's gradient
// (unless frozen) and, with SubLN, a.dxa = dy·W_eff plus the LoRA branch's
// share, which the caller passes through SubLN's backward (backward, or
// its own row pass with backwardBlock); without SubLN it adds the input
// gradient to dx (writes it, with zero).
func (l *bitLinear) backwardProducts(threads int, a *linearActs, dy, dx []float32, rows int, zero bool) {
	if !l.frozen {
		kernels.MatMulTN(threads, l.w.Grad, dy, a.xa, l.out, rows, l.in, true)
	}
	if l.subln == nil {
		kernels.MatMul(threads, dx, dy, l.eff, rows, l.out, l.in, !zero)
		if l.lora != nil {
			l.lora.backward(threads, a, dy, dx, rows)
		}
		return
	}
	kernels.MatMul(threads, a.dxa, dy, l.eff, rows, l.out, l.in, false)
	if l.lora != nil {
		l.lora.backward(threads, a, dy, a.dxa, rows)
	}
}

// rowBlocks runs fn over [0, rows) split over threads, in blocks of at most
// four rows.
func rowBlocks(threads, rows int, fn func(r0, r1 int)) {
	kernels.Parallel(threads, rows, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += 4 {
			fn(r0, min(r0+4, hi))
		}
	})
}
