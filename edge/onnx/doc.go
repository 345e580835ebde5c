// Package onnx exports a trained ternary NanoMamba-Edge model as an ONNX
// graph of one decode step (opset 17, IR version 8), written with the Go
// types generated from ONNX's onnx.proto (package onnxpb) and
// google.golang.org/protobuf, so that other runtimes (ONNX Runtime, and
// anything else that reads ONNX) can run it.
//
// # The graph
//
// One call consumes one token of one sequence (batch 1):
//
//	inputs   token     int64 [1]
//	         position  int64 [1]   tokens fed before this one (0 for the first), < context_length
//	         conv.L    float32 [d_conv−1, d_inner+2·n_groups·d_state]   Mamba layer L: conv window, oldest first
//	         ssm.L     float32 [heads, head_dim, d_state]                Mamba layer L: SSM state
//	         past_key.L, past_value.L  float32 [n_kv_heads, past, head_dim]   attention layer L (keys after RoPE)
//	outputs  logits    float32 [1, vocab]  for the next token
//	         conv_out.L, ssm_out.L, present_key.L, present_value.L ([n_kv_heads, past+1, head_dim])
//
// The KV cache grows by Concat on the time axis (no maximum length and no
// mask in the graph; position only selects the RoPE row, so it must equal
// past). The states are explicit inputs and outputs: start from zeros and
// empty caches (Model.States and the metadata_props key nanomamba.states
// give every name and initial shape), and prefill a prompt by stepping
// through it, feeding each step's outputs back as the next step's inputs
// with position+1; the logits of the prompt's last token give the first
// generated token. tools/ort/run.js does exactly this in ONNX Runtime.
//
// # What the operators compute
//
// Every operation follows the harness's decode path (models.Model.Step) at
// the harness's precision:
//
//   - BitLinear: SubLN (when on) as an RMSNorm; the per-token absmax
//     activation quantizer s = (2^(b−1)−1)/max(ReduceMax(Abs(x)), 1e-5),
//     v = Clip(x·s, −2^(b−1), 2^(b−1)−1), x_q = round(v)/s in float32;
//     the ternary codes stored as int8 [out, in] with a float32 scalar
//     scale γ (DequantizeLinear gives exactly the harness's effective
//     weight γ·t), then Gemm.
//   - Rounding: ONNX Round (and QuantizeLinear) round half to even; the
//     harness rounds half away from zero (math.Round). The graph writes the
//     harness's rule: with a = |v|, f = Floor(a), round(v) =
//     Sign(v)·(f + [a − f ≥ ½]), exact in float32 (TestActQuantRounding
//     shows ONNX Round would differ on ties).
//   - RMSNorm (pre-norms, SubLN, the final norm, the gated norm of Mamba):
//     the sum of squares and 1/sqrt(mean + eps) in float64, rounded to
//     float32, then (x·r)·gain in float32. There is no RMSNorm operator
//     before opset 23, so it is written with ReduceSumSquare, Div, Add,
//     Sqrt.
//   - SiLU: float32(x·(1/(1+exp(−x)))) in float64 (written with Exp:
//     ONNX Runtime 1.30 fuses x·Sigmoid(x) into a float-only QuickGelu
//     kernel even for double tensors, which then fails to load).
//   - Mamba-2: in_proj split [z, xBC, dt]; the depthwise causal conv over
//     the window [conv state; xBC] as one float64 sum bias + Σ_k w·in in
//     ascending tap order; softplus(dt + dt_bias) in float64 as
//     max(v,0) + log1p(exp(−|v|)); the SSM step in float64 with the state
//     rounded to float32 (h = exp(dt·A)·h + (dt·x)·B, y = Σ h·C, heads
//     sharing their group's B and C); y + D·x in float64; the gate
//     y ⊙ SiLU(z) in float32 before the RMSNorm; out_proj.
//   - Attention: RoPE on adjacent pairs with the harness's own cos/sin
//     table (the same float32 values) and every product rounded to
//     float32; GQA by reshaping the query heads into [n_kv_heads, group,
//     head_dim]; scores float32(q·k)·(1/√head_dim); the softmax's
//     exponentials and sum in float64; the tied embedding as the head.
//
// # Agreement with the harness, and the tolerance
//
// What differs is only the order of summation: ONNX Runtime's float32
// GEMMs (the projections, q·k, p·v and the head) sum in blocks where the
// harness runs one ascending chain of FMAs, and the float64 reductions
// (sums of squares, the SSM's Σ_n h·C, the softmax sum) may be ordered
// differently. A float32 dot product of K terms summed in two orders
// differs by at most about (K+2)·2⁻²⁴ of Σ|a_k·b_k| (≈4e-6 for the micro
// model's largest K = 64; in practice √K·2⁻²⁴ ≈ 5e-7), and these errors of
// the successive projections add up roughly in quadrature; the tests
// therefore expect max_j |Δlogit_j| / max_j |logit_j| ≤ 1e-5 at almost
// every step. The exception is an activation code that flips: a
// difference in a projection's input can move x·s across a rounding
// boundary, changing that code by one step, i.e. the input by max|x|/127,
// which shifts the logits by about 1/127 of their scale; the tests allow
// 2/127 at a step (and at most one step in eight above 1e-5), and require
// the greedy text to be identical. Measured on the trained micro run (a
// prompt of 14 tokens and 64 greedy tokens, 77 steps): max |Δlogit|
// 2.4e-6, max |Δ|/max|logit| 4.6e-7, no step above 1e-5; random-weight
// micro variants (no SubLN, no activation quantization, 6-bit
// activations with absmedian scales and two groups, no FFN, pure Mamba)
// stay below 1e-6.
package onnx
