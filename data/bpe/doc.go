// Package bpe is the byte-level BPE tokenizer of the harness: training
// (TrainBPE), encoding and decoding, and its tokenizer.json form (the
// Hugging Face tokenizers layout: byte-level vocabulary with GPT-2's
// byte→unicode mapping, "left right" merges, added_tokens for the
// specials). It depends on the standard library only, so the cgo-free
// decoder (edge/cmd/nmrun) links it without the data pipeline; package data
// re-exports it under its old names.
package bpe
