package bpe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// JSON returns the tokenizer as a Hugging Face tokenizer.json (model type
// "BPE", byte-level vocabulary with GPT-2's byte→unicode mapping, merges as
// "left right" strings, added_tokens for the specials, ByteLevel
// pre-tokenizer and decoder). The output is deterministic: the vocabulary is
// written in id order.
func (t *Tokenizer) JSON() []byte {
	var buf bytes.Buffer
	str := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(s) // a string always encodes
		return strings.TrimSuffix(b.String(), "\n")
	}
	buf.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, s := range t.specials {
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n    {\"id\": %d, \"content\": %s, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}", s.id, str(s.content))
	}
	buf.WriteString("\n  ],\n  \"normalizer\": null,\n")
	buf.WriteString("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n")
	buf.WriteString("  \"post_processor\": null,\n")
	buf.WriteString("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n")
	buf.WriteString("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"vocab\": {")
	for id := range t.tokens {
		if id > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n      %s: %d", str(t.tokenString(int32(id))), id)
	}
	buf.WriteString("\n    },\n    \"merges\": [")
	for i, m := range t.merges {
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n      %s", str(byteLevelString([]byte(m.Left))+" "+byteLevelString([]byte(m.Right))))
	}
	buf.WriteString("\n    ]\n  }\n}\n")
	return buf.Bytes()
}

// tokenString is the vocabulary entry of an id: the byte-level string, or a
// special token's content.
func (t *Tokenizer) tokenString(id int32) string {
	if t.tokens[id] == nil {
		return t.Token(id)
	}
	return byteLevelString(t.tokens[id])
}

// Hash is the sha256 of JSON(), the tokenizer's content hash.
func (t *Tokenizer) Hash() string {
	s := sha256.Sum256(t.JSON())
	return hex.EncodeToString(s[:])
}

// Save writes JSON() to path.
func (t *Tokenizer) Save(path string) error {
	if err := os.WriteFile(path, t.JSON(), 0o644); err != nil {
		return fmt.Errorf("data: saving tokenizer: %w", err)
	}
	return nil
}

// LoadTokenizer reads a tokenizer.json written by Save (or any byte-level
// BPE tokenizer.json whose vocabulary holds all 256 bytes).
func LoadTokenizer(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: loading tokenizer: %w", err)
	}
	t, err := ParseTokenizer(b)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return t, nil
}

// ParseTokenizer decodes a tokenizer.json.
func ParseTokenizer(b []byte) (*Tokenizer, error) {
	var f struct {
		AddedTokens []struct {
			ID      int32  `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		PreTokenizer *struct {
			Type string `json:"type"`
		} `json:"pre_tokenizer"`
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int32  `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q, want \"BPE\"", f.Model.Type)
	}
	if f.PreTokenizer == nil || f.PreTokenizer.Type != "ByteLevel" {
		return nil, fmt.Errorf("tokenizer.json: pre_tokenizer must be ByteLevel")
	}
	isSpecial := map[string]int32{}
	for _, a := range f.AddedTokens {
		isSpecial[a.Content] = a.ID
	}
	n := 0
	for _, id := range f.Model.Vocab {
		if int(id) >= n {
			n = int(id) + 1
		}
	}
	for _, id := range isSpecial {
		if int(id) >= n {
			n = int(id) + 1
		}
	}
	t := &Tokenizer{tokens: make([][]byte, n), rules: map[uint64]mergeRule{}, eos: -1, bos: -1}
	filled := make([]bool, n)
	byBytes := map[string]int32{}
	for s, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer.json: token %q has negative id %d", s, id)
		}
		if _, ok := isSpecial[s]; ok {
			continue
		}
		raw, err := byteLevelBytes(s)
		if err != nil {
			return nil, fmt.Errorf("tokenizer.json: %w", err)
		}
		if len(raw) == 0 || filled[id] {
			return nil, fmt.Errorf("tokenizer.json: token %q with id %d is empty or its id is taken twice", s, id)
		}
		t.tokens[id], filled[id] = raw, true
		byBytes[string(raw)] = id
	}
	for b := 0; b < 256; b++ {
		if id, ok := byBytes[string([]byte{byte(b)})]; !ok || id != int32(b) {
			return nil, fmt.Errorf("tokenizer.json: byte 0x%02x must be token %d (this loader requires ids 0-255 to be the bytes)", b, b)
		}
	}
	for _, a := range f.AddedTokens { // added-token order is id order in files written here
		if filled[a.ID] {
			return nil, fmt.Errorf("tokenizer.json: added token %q reuses id %d", a.Content, a.ID)
		}
		filled[a.ID] = true
		t.specials = append(t.specials, special{a.ID, a.Content})
		switch a.Content {
		case EOSToken:
			t.eos = a.ID
		case BOSToken:
			t.bos = a.ID
		}
	}
	for id, ok := range filled {
		if !ok {
			return nil, fmt.Errorf("tokenizer.json: no token has id %d (ids must be dense)", id)
		}
	}
	if t.eos < 0 {
		return nil, fmt.Errorf("tokenizer.json: no %s added token", EOSToken)
	}
	for i, raw := range f.Model.Merges {
		l, r, err := parseMerge(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenizer.json: merge %d: %w", i, err)
		}
		lb, err1 := byteLevelBytes(l)
		rb, err2 := byteLevelBytes(r)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("tokenizer.json: merge %d (%q %q) is not byte-level", i, l, r)
		}
		a, okA := byBytes[string(lb)]
		b, okB := byBytes[string(rb)]
		id, okM := byBytes[string(lb)+string(rb)]
		if !okA || !okB || !okM {
			return nil, fmt.Errorf("tokenizer.json: merge %d (%q %q) uses or makes a token missing from the vocab", i, l, r)
		}
		if _, dup := t.rules[pairKey(a, b)]; !dup {
			t.rules[pairKey(a, b)] = mergeRule{rank: int32(i), id: id}
		}
		t.merges = append(t.merges, Merge{Left: string(lb), Right: string(rb)})
	}
	return t, nil
}

// parseMerge accepts both spellings of a merge: "left right" and
// ["left", "right"].
func parseMerge(raw json.RawMessage) (string, string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		l, r, ok := strings.Cut(s, " ")
		if !ok {
			return "", "", fmt.Errorf("%q has no space between its two tokens", s)
		}
		return l, r, nil
	}
	var p []string
	if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 {
		return "", "", fmt.Errorf("%s is neither \"a b\" nor [\"a\", \"b\"]", raw)
	}
	return p[0], p[1], nil
}
