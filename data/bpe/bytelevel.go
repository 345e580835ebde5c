package bpe

import (
	"fmt"
	"strings"
)

// byteToRune is GPT-2's bytes_to_unicode table: printable Latin-1 bytes map
// to themselves, the other 68 bytes to U+0100.. in byte order. Token strings
// in tokenizer.json are written through it.
var byteToRune, runeToByte = buildByteLevel()

func buildByteLevel() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if printable(b) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
	}
	r2b := make(map[rune]byte, 256)
	for b, r := range b2r {
		r2b[r] = byte(b)
	}
	return b2r, r2b
}

// byteLevelString writes raw token bytes as a byte-level token string.
func byteLevelString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteToRune[c])
	}
	return sb.String()
}

// byteLevelBytes reverses byteLevelString.
func byteLevelBytes(s string) ([]byte, error) {
	return appendByteLevelBytes(make([]byte, 0, len(s)), s)
}

// appendByteLevelBytes appends the raw bytes of the byte-level string s to
// dst.
func appendByteLevelBytes(dst []byte, s string) ([]byte, error) {
	for _, r := range s {
		b, ok := runeToByte[r]
		if !ok {
			return dst, fmt.Errorf("token %q: rune %U is not in the byte-level alphabet", s, r)
		}
		dst = append(dst, b)
	}
	return dst, nil
}
