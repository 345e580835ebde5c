// Package spec is the layout of a NanoMamba-Edge GGUF file shared by its
// writer (package edge, `harness export`) and its reader (edge/engine): the
// architecture name that prefixes the hyper-parameter keys, and the BPE
// tokenizer's tokenizer.ggml.* keys in both directions. It links only the
// GGUF codec and the tokenizer, so the cgo-free decoder (edge/cmd/nmrun)
// stays small.
package spec

// Arch is the value of general.architecture and the prefix of the model's
// hyper-parameter keys.
const Arch = "nanomamba"
