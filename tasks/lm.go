package tasks

// Tokenizer turns text into token ids and back. BOS returns -1 when the
// vocabulary has no beginning-of-sequence token; EOS is then used as the
// prefix token of an empty context.
type Tokenizer interface {
	Encode(s string) []int32
	Decode(ids []int32) string
	EOS() int32
	BOS() int32
}

// LM is the model under evaluation. When Options.Threads > 1, Score and
// Generate are called from several goroutines at once and must be safe for
// concurrent use.
type LM interface {
	Tokenizer() Tokenizer
	// MaxLength is the longest input the model accepts, in tokens.
	MaxLength() int
	// Score returns one result per request, in order. Requests that share a
	// context are passed next to each other in one call, so an adapter may
	// reuse the forward pass over their common prefix.
	Score(reqs []ScoreRequest) ([]ScoreResult, error)
	// Generate continues ctx greedily for at most maxTokens tokens, stopping
	// once the decoded text contains any string of until.
	Generate(ctx []int32, maxTokens int, until []string) (string, error)
}

// ScoreRequest asks for the log-likelihood of Targets given Input. The model
// runs over Input; the log-softmax row at position Start+j (the distribution
// after reading Input[:Start+j+1]) scores Targets[j]. By construction
// Targets[j] == Input[Start+j+1] for every j but the last, whose token is the
// one that was cut from the end of the input.
type ScoreRequest struct {
	Input   []int32
	Targets []int32
	Start   int
}

// ScoreResult is the summed log-probability of a request's targets, and
// whether every target token was the argmax of its row.
type ScoreResult struct {
	LogLik float64
	Greedy bool
}
