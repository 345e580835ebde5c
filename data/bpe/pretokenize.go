package bpe

import (
	"unicode"
	"unicode/utf8"
)

// Pretokenize splits s into the chunks BPE merges never cross, following
// GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand (Go's regexp has no look-ahead). A word keeps its
// leading space; of a run of white space before a word, all but the last
// character form one chunk. Invalid UTF-8 bytes are "other" characters. The
// chunks concatenate back to s exactly.
func Pretokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		n := nextChunk(s, i)
		out = append(out, s[i:i+n])
		i += n
	}
	return out
}

type charClass uint8

const (
	classLetter charClass = iota
	classNumber
	classSpace
	classOther
)

func classAt(s string, i int) (charClass, int) {
	r, w := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && w <= 1:
		return classOther, 1
	case unicode.IsLetter(r):
		return classLetter, w
	case unicode.IsNumber(r):
		return classNumber, w
	case unicode.IsSpace(r):
		return classSpace, w
	}
	return classOther, w
}

// nextChunk returns the byte length of the chunk starting at i.
func nextChunk(s string, i int) int {
	if s[i] == '\'' {
		rest := s[i+1:]
		for _, c := range [...]string{"re", "ve", "ll", "s", "t", "m", "d"} {
			if len(rest) >= len(c) && rest[:len(c)] == c {
				return 1 + len(c)
			}
		}
	}
	j := i
	if s[j] == ' ' && j+1 < len(s) {
		if c, _ := classAt(s, j+1); c != classSpace {
			j++
		}
	}
	c, w := classAt(s, j)
	if c != classSpace {
		k := j + w
		for k < len(s) {
			c2, w2 := classAt(s, k)
			if c2 != c {
				break
			}
			k += w2
		}
		return k - i
	}
	// A run of white space: keep its last character for the next chunk when
	// a non-space follows and the run is longer than one character.
	k, last := i, 0
	for k < len(s) {
		c2, w2 := classAt(s, k)
		if c2 != classSpace {
			break
		}
		k += w2
		last = w2
	}
	if k < len(s) && k-last > i {
		return k - last - i
	}
	return k - i
}
