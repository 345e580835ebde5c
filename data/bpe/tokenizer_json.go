package bpe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
	for id := range t.tokens.n() {
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
		fmt.Fprintf(&buf, "\n      %s", str(byteLevelString(t.tokens.at(m[0]))+" "+byteLevelString(t.tokens.at(m[1]))))
	}
	buf.WriteString("\n    ]\n  }\n}\n")
	return buf.Bytes()
}

// tokenString is the vocabulary entry of an id: the byte-level string, or a
// special token's content.
func (t *Tokenizer) tokenString(id int32) string {
	if len(t.tokens.at(id)) == 0 {
		return t.Token(id)
	}
	return byteLevelString(t.tokens.at(id))
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
	entries := make([]string, n)
	filled := make([]bool, n)
	for s, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer.json: token %q has negative id %d", s, id)
		}
		if _, ok := isSpecial[s]; ok {
			continue
		}
		if s == "" || filled[id] {
			return nil, fmt.Errorf("tokenizer.json: token %q with id %d is empty or its id is taken twice", s, id)
		}
		entries[id], filled[id] = s, true
	}
	specials := make([]int32, 0, len(f.AddedTokens))
	for _, a := range f.AddedTokens { // added-token order is id order in files written here
		if filled[a.ID] {
			return nil, fmt.Errorf("tokenizer.json: added token %q reuses id %d", a.Content, a.ID)
		}
		entries[a.ID], filled[a.ID] = a.Content, true
		specials = append(specials, a.ID)
	}
	for id, ok := range filled {
		if !ok {
			return nil, fmt.Errorf("tokenizer.json: no token has id %d (ids must be dense)", id)
		}
	}
	t, err := FromVocab(entries, specials, len(f.Model.Merges), func(i int) (string, string, error) { return parseMerge(f.Model.Merges[i]) })
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

// FromVocab builds a tokenizer from its vocabulary entries in id order:
// the byte-level string of every token (GPT-2's byte→unicode mapping; ids 0–255
// must be the 256 bytes), except the specials, whose ids are listed in
// specials (in the order they are matched) and whose entries are their
// content; and from nm merges, merge(i) giving the byte-level left and
// right tokens of rank i. A merge must join two tokens of the vocabulary
// into a third. tokenizer.json (ParseTokenizer) and a GGUF file's
// tokenizer.ggml.* keys are read through it.
func FromVocab(entries []string, specials []int32, nm int, merge func(i int) (string, string, error)) (*Tokenizer, error) {
	n := len(entries)
	t := &Tokenizer{rules: make(map[uint64]mergeRule, nm), merges: make([][2]int32, 0, nm), eos: -1, bos: -1}
	isSpecial := make([]bool, n)
	for _, id := range specials {
		if id < 0 || int(id) >= n || isSpecial[id] {
			return nil, fmt.Errorf("special token id %d is outside [0, %d) or listed twice", id, n)
		}
		isSpecial[id] = true
		t.specials = append(t.specials, special{id, entries[id]})
		switch entries[id] {
		case EOSToken:
			t.eos = id
		case BOSToken:
			t.bos = id
		}
	}
	size := 0
	for id, s := range entries {
		if !isSpecial[id] {
			size += len(s) // at least the raw bytes' length
		}
	}
	t.tokens = vocab{buf: make([]byte, 0, size), off: make([]uint32, 1, n+1)}
	for id, s := range entries {
		if isSpecial[id] {
			t.tokens.add(nil)
			continue
		}
		k := len(t.tokens.buf)
		var err error
		if t.tokens.buf, err = appendByteLevelBytes(t.tokens.buf, s); err != nil {
			return nil, err
		}
		if len(t.tokens.buf) == k {
			return nil, fmt.Errorf("token %q with id %d is empty", s, id)
		}
		t.tokens.off = append(t.tokens.off, uint32(len(t.tokens.buf)))
	}
	// The normal tokens sorted by their bytes: the index that finds a
	// merge's tokens (binary search; a map of 32k strings would hold
	// megabytes while the tokenizer is built).
	byBytes := make([]int32, 0, n)
	for id := range int32(n) {
		if !isSpecial[id] {
			byBytes = append(byBytes, id)
		}
	}
	slices.SortFunc(byBytes, func(a, b int32) int { return bytes.Compare(t.tokens.at(a), t.tokens.at(b)) })
	for i := 1; i < len(byBytes); i++ {
		if bytes.Equal(t.tokens.at(byBytes[i-1]), t.tokens.at(byBytes[i])) {
			return nil, fmt.Errorf("token %q is both id %d and id %d", entries[byBytes[i]], min(byBytes[i-1], byBytes[i]), max(byBytes[i-1], byBytes[i]))
		}
	}
	find := func(b []byte) (int32, bool) {
		i, ok := slices.BinarySearchFunc(byBytes, b, func(id int32, b []byte) int { return bytes.Compare(t.tokens.at(id), b) })
		if !ok {
			return -1, false
		}
		return byBytes[i], true
	}
	for b := 0; b < 256; b++ {
		if id, ok := find([]byte{byte(b)}); !ok || id != int32(b) {
			return nil, fmt.Errorf("byte 0x%02x must be token %d (this loader requires ids 0-255 to be the bytes)", b, b)
		}
	}
	if t.eos < 0 {
		return nil, fmt.Errorf("no %s special token", EOSToken)
	}
	var lb, rb []byte
	for i := 0; i < nm; i++ {
		l, r, err := merge(i)
		if err != nil {
			return nil, fmt.Errorf("merge %d: %w", i, err)
		}
		var err1, err2 error
		lb, err1 = appendByteLevelBytes(lb[:0], l)
		k := len(lb)
		lb, err2 = appendByteLevelBytes(lb, r)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("merge %d (%q %q) is not byte-level", i, l, r)
		}
		rb = lb[k:]
		a, okA := find(lb[:k])
		b, okB := find(rb)
		id, okM := find(lb)
		if !okA || !okB || !okM {
			return nil, fmt.Errorf("merge %d (%q %q) uses or makes a token missing from the vocab", i, l, r)
		}
		if _, dup := t.rules[pairKey(a, b)]; !dup {
			t.rules[pairKey(a, b)] = mergeRule{rank: int32(i), id: id}
		}
		t.merges = append(t.merges, [2]int32{a, b})
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
