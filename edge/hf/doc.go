// Package hf writes and reads a Hugging Face-style folder of a trained
// ternary NanoMamba-Edge model:
//
//	model.safetensors        weights only: BitLinear weights as 2-bit packed ternary codes plus a float32
//	                         scale each (PackingScheme), every other parameter float32 under its harness name
//	config.json              HF-style keys (architectures, model_type "nanomamba", hidden_size, …,
//	                         quantization_config) and a "nanomamba" section with the exact model and quant
//	                         configs, the run hash and the run's canonical config (its sha256 is the run hash)
//	tokenizer.json           the run's byte-level BPE tokenizer (Hugging Face tokenizers format)
//	generation_config.json   bos/eos ids, greedy decoding, max_length = the context
//	README.md                the model card, generated from the registry (CardFromRegistry): architecture,
//	                         size at each precision, training data and budget, the run's eval runs with 95%
//	                         intervals, intended use and limitations, the data's licences from
//	                         datasets/SOURCES.md, and the hashes `harness reproduce` accepts
//
// The architecture is not a transformers one, so the folder is for the
// harness (Load) and for tools that read safetensors and JSON. Load
// rebuilds a models.Model whose effective weights equal the stored γ·t bit
// for bit: the harness quantizes a latent weight W at every refresh, so
// Load writes a latent W whose absmean or absmedian statistic is exactly γ
// and whose codes round back to t (see setLatent), and verifies the
// result. The loaded model therefore gives the same logits and greedy text
// as the trained one.
package hf
