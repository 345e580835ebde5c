// Package train holds everything that turns a model and a dataset into a
// trained run: the AdamW optimizer with global-norm clipping, the learning
// rate schedule (linear warmup, cosine decay), the continual
// quantization-aware training (QAT) scheduler, safetensors checkpoints, and
// the training loop that records metrics, checkpoints and samples in the
// registry.
//
// # Determinism
//
// Every numeric step is a fixed-order computation: batches come from the
// dataset's counter-based sampler, the optimizer updates each element
// independently, and reductions (the gradient norm) run in a fixed order in
// float64. The same config therefore produces the same bits for any thread
// count, and a run resumed from a checkpoint ends bit-identical to an
// uninterrupted one.
package train
