package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/models/llama2c"
	"github.com/nanomamba-edge/harness/tasks"
)

// Llama2CTokenizer adapts a llama2.c tokenizer to the task runner.
type Llama2CTokenizer struct{ T *llama2c.Tokenizer }

// Encode implements tasks.Tokenizer (run.c's encoding, with its dummy
// leading space, without BOS/EOS).
func (l Llama2CTokenizer) Encode(s string) []int32 { return l.T.Encode(s, false, false) }

// Decode implements tasks.Tokenizer.
func (l Llama2CTokenizer) Decode(ids []int32) string {
	var b strings.Builder
	prev := int32(-1)
	for _, id := range ids {
		b.WriteString(l.T.Decode(prev, id))
		prev = id
	}
	return b.String()
}

// EOS implements tasks.Tokenizer.
func (l Llama2CTokenizer) EOS() int32 { return llama2c.EOS }

// BOS implements tasks.Tokenizer.
func (l Llama2CTokenizer) BOS() int32 { return llama2c.BOS }

// LoadLlama2C loads a llama2.c checkpoint and tokenizer as an evaluable LM
// with n replicas; the returned id ("llama2c-<sha256 prefix>") names the
// checkpoint in eval run hashes.
func LoadLlama2C(ckpt, tok string, n int) (tasks.LM, *models.Model, string, error) {
	m, _, err := llama2c.Load(ckpt)
	if err != nil {
		return nil, nil, "", err
	}
	tk, err := llama2c.ReadTokenizer(tok, m.Config().Vocab)
	if err != nil {
		return nil, nil, "", err
	}
	f, err := os.Open(ckpt)
	if err != nil {
		return nil, nil, "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, nil, "", fmt.Errorf("hash %s: %w", ckpt, err)
	}
	lm, err := NewModelLM(m, llama2c.QuantConfig(), Llama2CTokenizer{tk}, n)
	if err != nil {
		return nil, nil, "", err
	}
	return lm, m, "llama2c-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}
