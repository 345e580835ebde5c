package engine

import (
	"fmt"
	"time"

	"github.com/nanomamba-edge/harness/edge/proc"
)

// BenchResult is what `nmrun -bench` prints (as JSON): the timings, the
// process's peak resident memory and the bytes read per decoded token at
// the mean decoding position.
type BenchResult struct {
	Timings                 []Timing
	PeakRSSBytes            int64
	WeightBytes, StateBytes int64
	// WrittenBytes is the part of StateBytes a step writes back (counted
	// there twice, read and written): DecodeWritten.
	WrittenBytes int64 `json:",omitempty"`
	DotKernels   string
}

// PeakRSS is this process's peak resident set in bytes (proc.PeakRSS).
func PeakRSS() int64 { return proc.PeakRSS() }

// CPUTime is this process's CPU time so far (proc.CPUTime).
func CPUTime() time.Duration { return proc.CPUTime() }

// Timing is one decode measurement of a model at a thread count.
type Timing struct {
	Threads int
	// Prompt tokens consumed one Step each into a fresh state (the engine
	// decodes one token at a time; there is no batched prefill), and
	// Tokens greedy decoding steps after them.
	Prompt, Tokens          int
	PrefillTokS, DecodeTokS float64
	// DecodeCPUTokS is tokens per second of this process's CPU time (user
	// + system, all threads), the best over the repetitions: on a shared machine it
	// does not count time the decoder waited for a core. WorstDecodeTokS is
	// the slowest repetition's wall-clock rate (the spread of the runs).
	DecodeCPUTokS, WorstDecodeTokS float64
}

// DecodeBytes is what one decoding step at position pos reads (METHODS
// §9.2): weights, every tensor of the file once (the tied output head is
// the whole embedding) plus the token's embedding row; state, per Mamba
// layer the conv window and the SSM state (read and written back), per
// attention layer the keys and values of positions 0..pos.
func (m *Model) DecodeBytes(pos int) (weights, state int64) {
	weights, state = m.WeightBytes(), 2*m.DecodeWritten()
	for i := range m.layers {
		if m.layers[i].isAttn() {
			state += 2 * int64(pos+1) * int64(m.nkv*m.hd) * 4
		}
	}
	return weights, state
}

// DecodeWritten is the state one decoding step reads and writes back in
// place, the Mamba layers' conv windows and SSM states (DecodeBytes counts
// them twice in state); the attention layers' new key and value rows are
// not counted.
func (m *Model) DecodeWritten() int64 {
	var n int64
	for i := range m.layers {
		if !m.layers[i].isAttn() {
			n += (int64(m.dconv-1)*int64(m.cConv) + int64(m.heads*m.headDim*m.state)) * 4
		}
	}
	return n
}

// TimeDecode measures, for each thread count, the best of reps runs of:
// prefill of prompt tokens into an empty state (one state, reset before
// each run), then tokens greedy steps.
// The prompt is a fixed token sequence (7919·i mod vocabulary).
func (m *Model) TimeDecode(threads []int, prompt, tokens, reps int) ([]Timing, error) {
	if prompt < 1 || tokens < 1 || prompt+tokens > m.Context {
		return nil, fmt.Errorf("engine: prompt %d + tokens %d must be positive and fit the context %d", prompt, tokens, m.Context)
	}
	ctx := make([]int32, prompt)
	for i := range ctx {
		ctx[i] = int32(7919 * i % m.V)
	}
	var out []Timing
	// One state for every run, reset before each: the peak memory is one
	// decoder's, not that of states waiting for the garbage collector.
	st := m.NewState()
	for _, th := range threads {
		m.SetThreads(th)
		t := Timing{Threads: th, Prompt: prompt, Tokens: tokens}
		for r := 0; r < max(reps, 1); r++ {
			st.Reset()
			t0 := time.Now()
			l, err := m.Prefill(st, ctx)
			if err != nil {
				return nil, err
			}
			t1, c1 := time.Now(), CPUTime()
			for i := 0; i < tokens; i++ {
				if l, err = m.Next(st, int32(Argmax(l))); err != nil {
					return nil, err
				}
			}
			t2, c2 := time.Now(), CPUTime()
			t.PrefillTokS = max(t.PrefillTokS, float64(prompt)/t1.Sub(t0).Seconds())
			rate := float64(tokens) / t2.Sub(t1).Seconds()
			if rate > t.DecodeTokS {
				t.DecodeTokS = rate
			}
			if c2 > c1 {
				t.DecodeCPUTokS = max(t.DecodeCPUTokS, float64(tokens)/(c2-c1).Seconds())
			}
			if r == 0 || rate < t.WorstDecodeTokS {
				t.WorstDecodeTokS = rate
			}
		}
		out = append(out, t)
	}
	return out, nil
}
