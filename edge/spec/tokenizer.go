package spec

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nanomamba-edge/harness/data/bpe"
	"github.com/nanomamba-edge/harness/edge/gguf"
)

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	TokenNormal  int32 = 1
	TokenControl int32 = 3
	TokenUnused  int32 = 5
)

// hfTokenizer is the part of a tokenizer.json the export reads.
type hfTokenizer struct {
	AddedTokens []struct {
		ID      int32  `json:"id"`
		Content string `json:"content"`
	} `json:"added_tokens"`
	Model struct {
		Vocab  map[string]int32 `json:"vocab"`
		Merges []string         `json:"merges"`
	} `json:"model"`
}

// TokenizerKVs writes tokenizer.ggml.* for tok, padding the token list to
// vocab entries with unused "[PADn]" tokens.
func TokenizerKVs(f *gguf.File, tok *bpe.Tokenizer, vocab int) error {
	var hf hfTokenizer
	if err := json.Unmarshal(tok.JSON(), &hf); err != nil {
		return fmt.Errorf("gguf tokenizer: tokenizer: %w", err)
	}
	n := tok.VocabSize()
	if n > vocab {
		return fmt.Errorf("gguf tokenizer: the tokenizer has %d tokens, more than the model's vocabulary %d", n, vocab)
	}
	tokens := make([]string, vocab)
	types := make([]int32, vocab)
	set := make([]bool, vocab)
	for s, id := range hf.Model.Vocab {
		if id < 0 || int(id) >= n || set[id] {
			return fmt.Errorf("gguf tokenizer: tokenizer: vocabulary id %d of %q is out of range or repeated", id, s)
		}
		tokens[id], types[id], set[id] = s, TokenNormal, true
	}
	for _, a := range hf.AddedTokens {
		if a.ID < 0 || int(a.ID) >= n {
			return fmt.Errorf("gguf tokenizer: tokenizer: special token %q has id %d outside [0, %d)", a.Content, a.ID, n)
		}
		tokens[a.ID], types[a.ID], set[a.ID] = a.Content, TokenControl, true
	}
	for id := 0; id < vocab; id++ {
		if id >= n {
			tokens[id], types[id], set[id] = fmt.Sprintf("[PAD%d]", id), TokenUnused, true
		}
		if !set[id] {
			return fmt.Errorf("gguf tokenizer: tokenizer: no token has id %d", id)
		}
	}
	f.Set("tokenizer.ggml.model", gguf.String("gpt2"))
	f.Set("tokenizer.ggml.pre", gguf.String("gpt-2"))
	f.Set("tokenizer.ggml.tokens", gguf.Strings(tokens))
	f.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
	f.Set("tokenizer.ggml.merges", gguf.Strings(hf.Model.Merges))
	f.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(uint32(tok.EOS())))
	if b := tok.BOS(); b >= 0 {
		f.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(uint32(b)))
	}
	f.Set("tokenizer.ggml.add_bos_token", gguf.Bool(false))
	f.Set("tokenizer.ggml.add_eos_token", gguf.Bool(false))
	return nil
}

// TokenizerArrays are the tokenizer's array keys, which TokenizerFromGGUF
// rebuilds into a bpe.Tokenizer.
var TokenizerArrays = []string{"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}

// TokenizerFromGGUF rebuilds the BPE tokenizer from tokenizer.ggml.* (model
// "gpt2": byte-level tokens, "left right" merges, control tokens as the
// specials, unused padding tokens dropped from the end).
func TokenizerFromGGUF(f *gguf.File) (*bpe.Tokenizer, error) {
	model, err := f.GetString("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("gguf tokenizer: the file has no tokenizer: %w", err)
	}
	if model != "gpt2" {
		return nil, fmt.Errorf("gguf tokenizer: tokenizer.ggml.model is %q, only \"gpt2\" (byte-level BPE) is supported", model)
	}
	tokens, err := f.GetStrings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, err
	}
	types, err := f.GetInt32s("tokenizer.ggml.token_type")
	if err != nil {
		return nil, err
	}
	if len(types) != len(tokens) {
		return nil, fmt.Errorf("gguf tokenizer: %d token types for %d tokens", len(types), len(tokens))
	}
	merges, err := f.GetStrings("tokenizer.ggml.merges")
	if err != nil {
		return nil, err
	}
	n := len(tokens)
	for n > 0 && types[n-1] == TokenUnused {
		n--
	}
	var specials []int32
	for id := 0; id < n; id++ {
		switch types[id] {
		case TokenControl:
			specials = append(specials, int32(id))
		case TokenNormal:
		default:
			return nil, fmt.Errorf("gguf tokenizer: token %d (%q) has type %d; only normal (1) and control (3) tokens, and unused (5) ones at the end, are supported", id, tokens[id], types[id])
		}
	}
	tok, err := bpe.FromVocab(tokens[:n], specials, len(merges), func(i int) (string, string, error) {
		l, r, ok := strings.Cut(merges[i], " ")
		if !ok {
			return "", "", fmt.Errorf("%q has no space between its two tokens", merges[i])
		}
		return l, r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("gguf tokenizer: rebuilding the tokenizer from tokenizer.ggml.*: %w", err)
	}
	if eos, err := f.GetUint32("tokenizer.ggml.eos_token_id"); err == nil && int32(eos) != tok.EOS() {
		return nil, fmt.Errorf("gguf tokenizer: tokenizer.ggml.eos_token_id %d is not the %s token %d", eos, bpe.EOSToken, tok.EOS())
	}
	return tok, nil
}
