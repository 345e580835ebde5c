// Package data turns corpus files into packed token streams for training and
// validation.
//
// The pipeline is
//
//	files ─▶ Read (text / lines / jsonl, gzip, globs)
//	      ─▶ Cleaner (quality filters, exact dedup, MinHash-LSH near dedup)
//	      ─▶ held-out split (hash of the document text)
//	      ─▶ Tokenizer (byte-level BPE, or plain bytes)
//	      ─▶ mixture + packing (documents joined by EOS)
//	      ─▶ a shard cache keyed by a content hash of every input
//
// and Prepare runs all of it. Every step is deterministic: randomness comes
// only from rng streams, maps are never iterated in an order that reaches the
// output, and parallel work is split over independent documents.
//
// # Documents
//
// Format "text" splits a file at lines holding only <|endoftext|> when the
// file has such a line, otherwise at blank lines. Format "lines" makes each
// non-blank line a document, and "jsonl" takes the "text" field of each
// non-blank line. A ".gz" suffix is decompressed transparently. Documents are
// trimmed of surrounding white space; empty ones are skipped.
//
// # Mixture rule
//
// Let n_s be the tokens (EOS included) of source s after cleaning and the
// held-out split, N = Σ n_s and W = Σ w_s. Source s contributes
// t_s = round(N·w_s/W) tokens: whole documents are taken from a per-source
// random order (rng stream "data/mix/<name>", reshuffled on every pass) until
// at least t_s tokens are taken, so a source above its natural share repeats
// documents and one below it is truncated. The chosen documents of all sources
// are then shuffled together (stream "data/mix/order") and packed, each
// followed by EOS. When every weight is 0 the sources keep their natural
// sizes.
//
// # Validation
//
// Two held-out sets exist. Held holds the training-source documents whose
// text hash falls below HeldOutFraction (the same documents whatever the seed
// or tokenizer). Val holds the config's validation source, which never reaches
// training; training documents that duplicate a validation document are
// dropped. When no validation source is configured Val is Held. ValBytes and
// HeldBytes count the UTF-8 bytes of the documents plus one byte per EOS
// separator, so for the byte tokenizer len(Val) == ValBytes.
package data
