package data

import "github.com/nanomamba-edge/harness/data/bpe"

// The tokenizer lives in package bpe (standard library only, so that the
// edge decoder links it without the pipeline); these are its names here.
type (
	// Tokenizer is bpe.Tokenizer.
	Tokenizer = bpe.Tokenizer
	// Merge is bpe.Merge.
	Merge = bpe.Merge
)

// Special tokens and tokenizer kinds (bpe's).
const (
	EOSToken = bpe.EOSToken
	BOSToken = bpe.BOSToken
	KindBPE  = bpe.KindBPE
	KindByte = bpe.KindByte
)

// TrainBPE is bpe.TrainBPE.
func TrainBPE(texts []string, vocab int) (*Tokenizer, error) { return bpe.TrainBPE(texts, vocab) }

// NewByteTokenizer is bpe.NewByteTokenizer.
func NewByteTokenizer() *Tokenizer { return bpe.NewByteTokenizer() }

// LoadTokenizer is bpe.LoadTokenizer.
func LoadTokenizer(path string) (*Tokenizer, error) { return bpe.LoadTokenizer(path) }

// ParseTokenizer is bpe.ParseTokenizer.
func ParseTokenizer(b []byte) (*Tokenizer, error) { return bpe.ParseTokenizer(b) }
