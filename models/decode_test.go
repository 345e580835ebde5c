package models

import (
	"math"
	"slices"
	"testing"
)

// TestGreedy checks greedy decoding against a loop of Step calls that takes
// the first largest logit, and its stopping rules: EOS, the token count,
// the stop callback and a full context.
func TestGreedy(t *testing.T) {
	mc := hybridConfig()
	m, err := New(mc, quantConfig(true, 8), 3)
	if err != nil {
		t.Fatal(err)
	}
	first := func(x []float32) int32 {
		best := int32(0)
		for i := range x {
			if x[i] > x[best] {
				best = int32(i)
			}
		}
		return best
	}
	prompt := randTokens(7, 4, mc.Vocab)
	feed := func() (*State, []float32) {
		st := m.NewState()
		var logits []float32
		for _, tok := range prompt {
			if logits, err = m.Step(st, tok); err != nil {
				t.Fatal(err)
			}
		}
		return st, logits
	}
	// The reference: every next token from Step's logits, as long as the
	// sequence fits the context.
	st, logits := feed()
	var want []int32
	for len(prompt)+len(want) < mc.Context {
		next := first(logits)
		want = append(want, next)
		if logits, err = m.Step(st, next); err != nil {
			t.Fatal(err)
		}
	}
	st, logits = feed()
	got, err := m.Greedy(st, logits, 100, -1, nil)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Greedy = %v (%v), want %v: the sequence fills the context of %d", got, err, want, mc.Context)
	}
	if st.Pos() != mc.Context-1 {
		t.Errorf("state at position %d, want %d (the last token is not fed)", st.Pos(), mc.Context-1)
	}
	st, logits = feed()
	if got, _ := m.Greedy(st, logits, 3, -1, nil); !slices.Equal(got, want[:3]) {
		t.Errorf("Greedy of 3 tokens = %v, want %v", got, want[:3])
	}
	st, logits = feed()
	if got, _ := m.Greedy(st, logits, 100, want[4], nil); !slices.Equal(got, want[:slices.Index(want, want[4])]) {
		t.Errorf("Greedy stopping at EOS %d = %v, want the tokens before it in %v", want[4], got, want)
	}
	st, logits = feed()
	calls := 0
	got, _ = m.Greedy(st, logits, 100, -1, func(gen []int32) bool {
		calls++
		if !slices.Equal(gen, want[:len(gen)]) {
			t.Errorf("stop sees %v", gen)
		}
		return len(gen) == 2
	})
	if !slices.Equal(got, want[:2]) || calls != 2 {
		t.Errorf("Greedy with stop after 2 = %v in %d calls", got, calls)
	}
	if got, err := m.Greedy(m.NewState(), nil, 5, -1, nil); got != nil || err != nil {
		t.Errorf("Greedy without logits = %v, %v", got, err)
	}
	st, logits = feed()
	if got, _ := m.Greedy(st, logits, 0, -1, nil); got != nil {
		t.Errorf("Greedy of 0 tokens = %v", got)
	}
}

func TestSampleKnownAnswer(t *testing.T) {
	logits := []float32{0, float32(math.Log(3)), -100}
	// probabilities ≈ 1/4, 3/4, 0.
	for _, c := range []struct {
		u    float64
		want int32
	}{{0, 0}, {0.2, 0}, {0.26, 1}, {0.999, 1}} {
		if got := Sample(logits, 1, c.u); got != c.want {
			t.Errorf("Sample(u=%v) = %d, want %d", c.u, got, c.want)
		}
	}
	// Temperature 0.5 squares the odds: 1/10, 9/10.
	if got := Sample(logits, 0.5, 0.09); got != 0 {
		t.Errorf("T=0.5, u=0.09: %d, want 0", got)
	}
	if got := Sample(logits, 0.5, 0.11); got != 1 {
		t.Errorf("T=0.5, u=0.11: %d, want 1", got)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := Sampler(bad, nil); err == nil {
			t.Errorf("Sampler(%v) accepted", bad)
		}
	}
}
