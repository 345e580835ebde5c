// Package models defines the NanoMamba-Edge network: a stack of pre-norm
// residual blocks whose mixers are Mamba-2 SSD blocks or causal grouped-query
// attention layers with RoPE, each optionally followed by a SwiGLU FFN, with a
// token embedding tied to the LM head.
//
// Every module is written in the style of llm.c: explicit forward and
// backward passes over flat, row-major float32 buffers. Parameters live in
// [Param] values (weights are [out, in], PyTorch and llama2.c layout);
// activations live in a workspace allocated once per (batch, seqLen) shape
// and reused. Backward passes accumulate parameter gradients into Param.Grad.
// Attention works on strips of query rows and never holds a T×T matrix; with
// [Model.SetRecompute] the workspace keeps only the residual stream at block
// boundaries and the backward pass reruns each block's forward first. Both
// give the same bits as storing everything.
//
// # Quantization
//
// Every projection inside a block (attention q/k/v/o, Mamba in_proj and
// out_proj, FFN w1/w2/w3) is a BitLinear layer: an optional SubLN RMSNorm
// over its input, per-token absmax activation quantization, then a linear
// map with the effective weight
//
//	W_eff = Q_from(W) + λ·(Q_to(W) − Q_from(W))
//
// where the quantizers are Float (identity), Int4, Int2 ({−2,−1,0,1}) and
// Ternary ({−m,0,m}), all per tensor with the statistic m(W) = mean|W|
// ("absmean") or the lower median of |W| ("absmedian"), clamped to ≥ 1e-5.
// λ = 0 gives exactly the From path and λ = 1 exactly the To path.
// Rounding is half away from zero (math.Round). Gradients pass straight
// through both the weight and the activation quantizers (STE).
//
// # Determinism
//
// Parallel work is split over independent output elements and every
// reduction runs in a fixed order, so logits, losses and gradients are
// bit-identical for any thread count. Multiply-adds use kernels.FMA32, the
// kernels GEMMs, an explicit float32 conversion of the product, or a float64
// sum of exact float32·float32 products rounded once (the depthwise conv,
// the D skip); row sums use four interleaved partial sums in a fixed order.
// The hot transcendentals (SiLU, sigmoid, the softmax and cross-entropy
// exponentials) come from the model's own branch-free exp (fastmath.go),
// written with IEEE basic operations only; the others from the kernels
// package. The element-wise row work (SiLU, the shifted exponentials,
// quantization, RMSNorm rows, the depthwise conv chains) runs through
// kernels/vec, whose AVX-512 forms give the bits of their Go forms: vector
// lanes perform the scalar operations in the scalar order, and reductions
// keep their order (independent rows, heads or tensors share a vector, one
// per lane). Activations needed again by the backward pass (the sigmoids of
// the SiLU gates) are stored by the forward pass, and the SSD cache is
// reused between calls of the same shape.
//
// # Mamba-2 details
//
// The gated norm multiplies y by SiLU(z) and then applies one RMSNorm with
// gain over all d_inner channels (the upstream group_size = d_inner/G is
// identical for n_groups = 1). The residual-branch re-scaling of the
// initialisation (1/√(n_res·n_layers)) applies to Mamba out_proj, attention
// wo and FFN w2.
package models
