package llama2c

import "strings"

// GenerateReference runs run.c's generate loop with temperature 0 on the
// reference runner: the prompt is encoded with BOS, prompt tokens are
// forced, later tokens are the argmax of the logits, and generation stops
// when BOS is produced or after steps positions (steps ≤ 0 or above seq_len
// means seq_len, as in run.c). The result is the text run.c prints: the
// decoded prompt followed by the continuation, with single non-printable
// bytes dropped as run.c's safe_printf does. r should be fresh (its cache
// is overwritten from position 0).
func GenerateReference(r *Reference, tok *Tokenizer, prompt string, steps int) string {
	ck := r.Checkpoint()
	text, _ := generateLoop(tok, prompt, steps, ck.SeqLen, func(token int32, pos int) (int32, error) {
		return argmax(r.Forward(token, pos)), nil
	})
	return text
}

// generateLoop is run.c's generate: next(token, pos) feeds one token at
// position pos and returns the model's choice of successor, which is
// overridden while the prompt is being forced.
func generateLoop(tok *Tokenizer, prompt string, steps, seqLen int, next func(int32, int) (int32, error)) (string, error) {
	if steps <= 0 || steps > seqLen {
		steps = seqLen
	}
	promptToks := tok.Encode(prompt, true, false)
	var out strings.Builder
	token := promptToks[0]
	for pos := 0; pos < steps; {
		chosen, err := next(token, pos)
		if err != nil {
			return out.String(), err
		}
		if pos < len(promptToks)-1 {
			chosen = promptToks[pos+1]
		}
		pos++
		if chosen == BOS {
			break
		}
		out.WriteString(printable(tok.Decode(token, chosen)))
		token = chosen
	}
	return out.String(), nil
}

// printable mirrors run.c's safe_printf: a single-byte piece that is neither
// printable nor whitespace prints nothing.
func printable(piece string) string {
	if len(piece) == 1 {
		c := piece[0]
		isPrint := c >= 0x20 && c < 0x7f
		isSpace := c == ' ' || (c >= '\t' && c <= '\r')
		if !isPrint && !isSpace {
			return ""
		}
	}
	return piece
}
