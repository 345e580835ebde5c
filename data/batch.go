package data

import (
	"fmt"

	"github.com/nanomamba-edge/harness/rng"
)

// Batch returns micro-batch number micro of training step step: batch rows
// of seqLen tokens and their next-token targets, row-major. Row r of the
// step (r = micro·batch + i) starts at a position drawn from the rng stream
// (seed, "data/batch/<step>/<r>"), so the rows depend only on (seed, step,
// global row): a resumed run draws what an uninterrupted one draws, and
// splitting a step's rows into micro-batches of any size gives the same rows.
// Windows wrap around the end of Train. It returns nil slices when Train is
// empty or a size is not positive.
func (d *Dataset) Batch(step int64, micro, batch, seqLen int, seed int64) (tokens, targets []int32) {
	n := len(d.Train)
	if n == 0 || batch <= 0 || seqLen <= 0 || micro < 0 {
		return nil, nil
	}
	tokens = make([]int32, batch*seqLen)
	targets = make([]int32, batch*seqLen)
	for i := 0; i < batch; i++ {
		row := micro*batch + i
		start := rng.New(seed, fmt.Sprintf("data/batch/%d/%d", step, row)).Intn(n)
		for j := 0; j < seqLen; j++ {
			tokens[i*seqLen+j] = d.Train[(start+j)%n]
			targets[i*seqLen+j] = d.Train[(start+j+1)%n]
		}
	}
	return tokens, targets
}

// Window is one evaluation sequence: Targets[i] follows Tokens[i].
type Window struct {
	Tokens, Targets []int32
}

// ValBatches cuts Val into consecutive windows of at most seqLen tokens,
// covering its first maxTokens targets (0 or less: all of them). The windows
// share memory with Val.
func (d *Dataset) ValBatches(seqLen, maxTokens int) []Window {
	return Windows(d.Val, seqLen, maxTokens)
}

// Windows cuts a token stream into consecutive next-token windows of at most
// seqLen tokens covering its first maxTokens targets (0 or less: all).
func Windows(stream []int32, seqLen, maxTokens int) []Window {
	if seqLen <= 0 || len(stream) < 2 {
		return nil
	}
	n := len(stream) - 1
	if maxTokens > 0 && maxTokens < n {
		n = maxTokens
	}
	var out []Window
	for lo := 0; lo < n; lo += seqLen {
		hi := min(lo+seqLen, n)
		out = append(out, Window{Tokens: stream[lo:hi], Targets: stream[lo+1 : hi+1]})
	}
	return out
}
