// Package edge turns trained NanoMamba-Edge models into deployable files.
//
// Export writes a model as GGUF (package edge/gguf): the BitLinear weights
// as ggml TQ2_0 or TQ1_0 ternary blocks with one F32 scale tensor each, the
// tied embedding as F32, F16, Q8_0, Q4_0 or Q3_K, every norm gain and Mamba-2
// parameter as F32, the architecture under the key prefix "nanomamba.", the
// BPE tokenizer as tokenizer.ggml.* (model "gpt2") and the run's provenance
// (run hash, resolved config JSON, code commit). The bytes depend only on the
// model, the tokenizer, the options and the provenance: exporting twice gives
// the same file.
//
// The packed decode engine that runs these files is edge/engine; the
// commands are `harness export <run-hash>` (writes runs/<hash>/model-<w>-<e>.gguf
// and records it as a "gguf" artifact), `harness run-gguf <file>` and the
// cgo-free edge/cmd/nmrun, which cross-compiles to linux/arm64.
//
// # Tensor names
//
//	token_embd.weight                [d_model, vocab]  (tied output head)
//	output_norm.weight               [d_model]
//	blk.N.attn_norm.weight           [d_model]         (pre-mixer RMSNorm)
//	blk.N.{attn_q,attn_k,attn_v,attn_output}.weight    attention BitLinears
//	blk.N.ssm_in.weight, blk.N.ssm_out.weight          Mamba-2 BitLinears
//	blk.N.ssm_conv1d.weight [d_conv, C_conv], blk.N.ssm_conv1d.bias [C_conv]
//	blk.N.ssm_dt.bias, blk.N.ssm_a, blk.N.ssm_d        [heads]
//	blk.N.ssm_norm.weight            [d_inner]         (gated RMSNorm gain)
//	blk.N.ffn_norm.weight            [d_model]
//	blk.N.{ffn_gate,ffn_up,ffn_down}.weight            SwiGLU BitLinears (w1, w3, w2)
//
// Every BitLinear X has X.weight (ternary, ne = [in padded to 256, out]),
// X.scale (F32, one element: γ) and, with SubLN, X.sub_norm.weight (F32,
// [in]). ssm_a holds A = −exp(A_log) computed exactly as the model computes
// it (kernels.Exp32), so a decoder reads the same bits the training path
// uses.
package edge
