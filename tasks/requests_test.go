package tasks

import (
	"slices"
	"testing"
)

func TestEncodePair(t *testing.T) {
	wt := newWordTok()
	dec := func(ids []int32) []string {
		var out []string
		for _, id := range ids {
			out = append(out, wt.Decode([]int32{id}))
		}
		return out
	}
	cases := []struct {
		name, ctx, cont string
		wantCtx         []string
		wantCont        []string
	}{
		{"plain", "Question: why\nAnswer:", " yes", []string{"Question:", " why\nAnswer:"}, []string{" yes"}},
		{"trailing space moves", "a ", "b", []string{"a"}, []string{" b"}},
		{"several trailing spaces", "a  ", "b", []string{"a"}, []string{" ", " b"}},
		{"delimiter already in cont", "a", " b c", []string{"a"}, []string{" b", " c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cont := EncodePair(wt, c.ctx, c.cont)
			if got := dec(ctx); !slices.Equal(got, c.wantCtx) {
				t.Errorf("ctx = %q, want %q", got, c.wantCtx)
			}
			if got := dec(cont); !slices.Equal(got, c.wantCont) {
				t.Errorf("cont = %q, want %q", got, c.wantCont)
			}
		})
	}
	// Without the whitespace move, "a " would encode as ["a", " "] and the
	// continuation "b" as a bare word: check that the move changes the split.
	if got := dec(wt.Encode("a ")); !slices.Equal(got, []string{"a", " "}) {
		t.Fatalf("tokenizer sanity: %q", got)
	}
	// Empty context: the prefix token (BOS), continuation encoded alone.
	ctx, cont := EncodePair(byteTok{}, "", " hi")
	if !slices.Equal(ctx, []int32{256}) || !slices.Equal(cont, []int32{' ', 'h', 'i'}) {
		t.Errorf("empty context: ctx %v cont %v", ctx, cont)
	}
}

type noBOS struct{ byteTok }

func (noBOS) BOS() int32 { return -1 }

func TestPrefixTokenFallsBackToEOS(t *testing.T) {
	ctx, _ := EncodePair(noBOS{}, "", "x")
	if !slices.Equal(ctx, []int32{257}) {
		t.Errorf("ctx = %v, want [EOS 257]", ctx)
	}
}

func seq(lo, hi int32) []int32 {
	var out []int32
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func TestNewScoreRequestLeftTruncation(t *testing.T) {
	cases := []struct {
		name        string
		ctx, cont   []int32
		maxLen      int
		wantInput   []int32
		wantStart   int
		wantTargets []int32
	}{
		{"fits", seq(0, 3), seq(10, 12), 8, []int32{0, 1, 2, 10}, 2, seq(10, 12)},
		{"truncated", seq(0, 10), seq(10, 13), 8, seq(4, 12), 5, seq(10, 13)},
		{"exactly max+1", seq(0, 6), seq(6, 9), 8, seq(0, 8), 5, seq(6, 9)},
		{"cont longer than max", seq(0, 2), seq(10, 20), 4, []int32{1, 16, 17, 18}, 0, seq(16, 20)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewScoreRequest(c.ctx, c.cont, c.maxLen)
			if !slices.Equal(r.Input, c.wantInput) || r.Start != c.wantStart || !slices.Equal(r.Targets, c.wantTargets) {
				t.Errorf("got input %v start %d targets %v; want %v %d %v", r.Input, r.Start, r.Targets, c.wantInput, c.wantStart, c.wantTargets)
			}
			if len(r.Input) > c.maxLen {
				t.Errorf("input length %d > max %d", len(r.Input), c.maxLen)
			}
			for j := 0; j+1 < len(r.Targets); j++ {
				if r.Targets[j] != r.Input[r.Start+j+1] {
					t.Errorf("target %d = %d, input[%d] = %d", j, r.Targets[j], r.Start+j+1, r.Input[r.Start+j+1])
				}
			}
		})
	}
}

func TestRollingWindows(t *testing.T) {
	cases := []struct {
		n, maxLen int
		want      []Window
	}{
		{10, 4, []Window{
			{Ctx: []int32{99}, Cont: seq(0, 4)},
			{Ctx: []int32{3}, Cont: seq(4, 8)},
			{Ctx: seq(5, 8), Cont: seq(8, 10)},
		}},
		{3, 4, []Window{{Ctx: []int32{99}, Cont: seq(0, 3)}}},
		{8, 4, []Window{{Ctx: []int32{99}, Cont: seq(0, 4)}, {Ctx: []int32{3}, Cont: seq(4, 8)}}},
		{5, 1, []Window{{Ctx: []int32{99}, Cont: seq(0, 1)}, {Ctx: seq(0, 1), Cont: seq(1, 2)},
			{Ctx: seq(1, 2), Cont: seq(2, 3)}, {Ctx: seq(2, 3), Cont: seq(3, 4)}, {Ctx: seq(3, 4), Cont: seq(4, 5)}}},
	}
	for _, c := range cases {
		toks := seq(0, int32(c.n))
		got := RollingWindows(toks, 99, c.maxLen)
		if len(got) != len(c.want) {
			t.Fatalf("n=%d max=%d: %d windows, want %d: %v", c.n, c.maxLen, len(got), len(c.want), got)
		}
		var scored []int32
		for i, w := range got {
			if !slices.Equal(w.Ctx, c.want[i].Ctx) || !slices.Equal(w.Cont, c.want[i].Cont) {
				t.Errorf("n=%d max=%d window %d = %v, want %v", c.n, c.maxLen, i, w, c.want[i])
			}
			r := NewScoreRequest(w.Ctx, w.Cont, c.maxLen)
			if len(r.Input) > c.maxLen {
				t.Errorf("window %d input %d > max %d", i, len(r.Input), c.maxLen)
			}
			scored = append(scored, r.Targets...)
		}
		if !slices.Equal(scored, toks) {
			t.Errorf("n=%d: scored tokens %v, want each token once", c.n, scored)
		}
	}
	if RollingWindows(nil, 99, 4) != nil {
		t.Error("empty document should give no windows")
	}
}

func TestCountWords(t *testing.T) {
	cases := map[string]int{"a b": 2, "": 1, " a": 2, "a ": 2, "a \n\t b  c": 3, "one": 1}
	for s, want := range cases {
		if got := CountWords(s); got != want {
			t.Errorf("CountWords(%q) = %d, want %d", s, got, want)
		}
	}
}
