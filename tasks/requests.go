package tasks

import (
	"strings"
	"unicode"
)

// prefixToken is the token an empty context is replaced by: BOS when the
// tokenizer has one, EOS otherwise.
func prefixToken(tok Tokenizer) int32 {
	if b := tok.BOS(); b >= 0 {
		return b
	}
	return tok.EOS()
}

// EncodePair tokenizes a (context, continuation) pair as lm-eval's
// _encode_pair does: trailing whitespace of the context moves to the front of
// the continuation, the joined string is encoded whole, and the split falls at
// the length of the encoded context. An empty context becomes the prefix
// token (BOS, else EOS) and the continuation is encoded alone.
func EncodePair(tok Tokenizer, context, continuation string) (ctx, cont []int32) {
	if context == "" {
		return []int32{prefixToken(tok)}, tok.Encode(continuation)
	}
	trimmed := strings.TrimRightFunc(context, unicode.IsSpace)
	if n := len(context) - len(trimmed); n > 0 {
		continuation = context[len(trimmed):] + continuation
		context = trimmed
	}
	whole := tok.Encode(context + continuation)
	ctx = tok.Encode(context)
	if len(ctx) > len(whole) {
		// A tokenizer that merges across the boundary can make the context
		// longer than the whole; fall back to encoding the parts apart.
		return ctx, tok.Encode(continuation)
	}
	return whole[:len(ctx):len(ctx)], whole[len(ctx):]
}

// NewScoreRequest builds the model input for scoring cont after ctx with
// lm-eval's left truncation: the input is (ctx+cont)[-(maxLen+1):][:-1] and
// the last len(cont) positions are scored. A continuation longer than maxLen
// keeps only its last maxLen tokens (the first one has nothing to condition on).
func NewScoreRequest(ctx, cont []int32, maxLen int) ScoreRequest {
	if maxLen < 1 {
		maxLen = 1
	}
	if len(cont) > maxLen {
		cont = cont[len(cont)-maxLen:]
	}
	all := make([]int32, 0, len(ctx)+len(cont))
	all = append(all, ctx...)
	all = append(all, cont...)
	if len(all) > maxLen+1 {
		all = all[len(all)-(maxLen+1):]
	}
	input := all[:len(all)-1]
	return ScoreRequest{Input: input, Targets: cont, Start: len(input) - len(cont)}
}

// Window is one piece of a rolling log-likelihood: score Cont given Ctx.
type Window struct {
	Ctx, Cont []int32
}

// RollingWindows splits tokens into disjoint windows of at most maxLen
// predicted tokens, as lm-eval's get_rolling_token_windows with
// context_len=1 followed by make_disjoint_window. The first window is
// conditioned on the prefix token; each later full window on the single
// token before it; a final partial window keeps as many preceding tokens as
// fit in maxLen inputs. Every token is predicted exactly once.
func RollingWindows(tokens []int32, prefix int32, maxLen int) []Window {
	if len(tokens) == 0 {
		return nil
	}
	if maxLen < 1 {
		maxLen = 1
	}
	first := min(maxLen, len(tokens))
	ctx0 := append([]int32{prefix}, tokens[:first-1]...)
	windows := []Window{disjoint(ctx0, tokens[:first])}
	predicted := first
	for predicted < len(tokens) {
		n := min(len(tokens)-predicted, maxLen)
		end := predicted + n
		windows = append(windows, disjoint(tokens[end-maxLen-1:end-1], tokens[end-n:end]))
		predicted += n
	}
	return windows
}

// disjoint drops from ctx the tokens that are also predicted by cont.
func disjoint(ctx, cont []int32) Window {
	return Window{Ctx: ctx[:len(ctx)-(len(cont)-1)], Cont: cont}
}
