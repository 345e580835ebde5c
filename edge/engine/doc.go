// Package engine decodes NanoMamba-Edge GGUF files (written by package
// edge) with packed ternary weights: the pure-Go twin of the deployment
// decoder.
//
// # Arithmetic
//
// A BitLinear y = act(SubLN(x))·(γ·T)ᵀ runs as BitNet inference does
// (METHODS §2.1, §9.1): SubLN in float32 exactly as the model computes it;
// the per-token absmax activation quantizer q = RoundClip(x·s, −2^(b−1),
// 2^(b−1)−1) with s = (2^(b−1)−1)/max(max|x|, 1e-5), giving the same integers
// as the training path; the ternary codes unpacked on the fly from the TQ2_0
// (2 bits) or TQ1_0 (base 3) blocks; the dot product Σ t·q accumulated exactly
// in int32 (computed as Σ (t+1)·q − Σ q); and one float per output,
// y = float32(acc·γ / s) evaluated in float64. The rest of the network (norms,
// conv, SiLU, softplus, the selective-scan step, RoPE, softmax, the residual
// stream and the tied output head) uses the same kernels and the same
// explicitly rounded float32 / float64 operations as models.Model.Step, so no
// result depends on the compiler fusing a multiply-add: amd64 and arm64 give
// the same bits, and any thread count gives the same bits.
//
// # Agreement with the training path
//
// The training path multiplies the de-quantized activations q/s (rounded to
// float32) by γ·t in float32 with its own summation order; the engine
// computes the same sum exactly. Per BitLinear output the two differ by at
// most about (K+2)·2⁻²⁴·γ·Σ|q|/s ≤ (K+2)·2⁻²⁴·K·γ·max|x| (K = in-features),
// a relative 10⁻⁵ for K = 64. Later activation quantizers round these
// slightly different inputs, and a value that lands within that distance of a
// rounding boundary (x·s = n + ½) changes its integer by one, which moves that
// projection's outputs by at most γ·max|x|/(2^(b−1)−1). The test measures the
// logit difference against models.Model.Step over a whole greedy generation
// and checks that greedy decoding picks the same tokens.
//
// models.Model.Step also runs in the engine's arithmetic
// (models.ArithExact: exact integer sums, one float64 scaling, the float
// head summed in float64), which `harness generate <hash>` uses for a
// ternary run by default. There every logit of every position has the
// engine's bits (TestExactArithmeticBits), so the two greedy texts are the
// same at any length. The training arithmetic stays what training,
// evaluation and distillation compute.
//
// # State
//
// A State holds, per Mamba-2 layer, the last d_conv−1 conv inputs and the
// SSM state stored H×N×P (transposed, so that dot.SSMStep runs the P
// independent chains of a head in vector lanes), and per attention layer
// the key/value cache for the whole context, the keys transposed (kv head
// × head dimension × position) for dot.FMACols. These layouts only place
// the same operations in lanes: every value is computed by the same chain
// of roundings as the scalar code (TestGoldenDecodeBits pins the logits). Prefill feeds a prompt token by token; Step feeds one token.
// Model and State are not safe for concurrent use.
package engine
