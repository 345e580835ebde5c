// Package llama2c reads Karpathy's llama2.c checkpoints and tokenizers and
// runs them two ways: through a self-contained reference forward that ports
// run.c's semantics line for line (the independent check), and through the
// project's own model code (package models), whose weights are loaded by
// name from the checkpoint.
//
// The checkpoint format is llama2.c's legacy version 0 (read by run.c): a
// header of seven little-endian int32 fields followed by float32 tensors in
// run.c order. The tokenizer format is llama2.c's tokenizer.bin. Decoding,
// encoding and greedy generation follow run.c exactly, so the reference
// output for a prompt is what `run stories260K.bin -z tok512.bin -t 0`
// prints.
//
// Typical use:
//
//	ck, err := llama2c.ReadCheckpoint("datasets/llama2c/stories260K.bin")
//	tok, err := llama2c.ReadTokenizer("datasets/llama2c/tok512.bin", ck.Vocab)
//	text := llama2c.GenerateReference(llama2c.NewReference(ck), tok, "Once upon a time", 256)
package llama2c
