package llama2c

import (
	"math"
	"strings"
	"testing"
)

func TestGenerateReferenceMatchesRunC(t *testing.T) {
	ck, tk := stories260K(t)
	if got := GenerateReference(NewReference(ck), tk, "", 200); got != expected200 {
		t.Fatalf("200-step greedy output differs from run.c's:\n got %q\nwant %q", got, expected200)
	}
}

func TestGenerateReferenceReadableAndRepeatable(t *testing.T) {
	ck, tk := stories260K(t)
	a := GenerateReference(NewReference(ck), tk, "", 256)
	b := GenerateReference(NewReference(ck), tk, "", 256)
	if a != b {
		t.Fatalf("two greedy runs differ:\n%q\n%q", a, b)
	}
	if !strings.Contains(a, "Once upon a time") && !strings.ContainsAny(a, ".!?") {
		t.Errorf("generated text has neither \"Once upon a time\" nor a sentence ending: %q", a)
	}
	known := map[string]bool{}
	for _, w := range words(tinyStoriesFile(t, "TinyStories-hf-train.prefix.txt")) {
		known[w] = true
	}
	gen := words(a)
	hits := 0
	for _, w := range gen {
		if known[w] {
			hits++
		}
	}
	if len(gen) < 100 || float64(hits) < 0.9*float64(len(gen)) {
		t.Errorf("%d of %d generated words are TinyStories words, want ≥ 90%% of at least 100", hits, len(gen))
	}
}

func TestGenerateReferencePrompt(t *testing.T) {
	ck, tk := stories260K(t)
	prompt := "Tom and his dog"
	got := GenerateReference(NewReference(ck), tk, prompt, 40)
	if !strings.HasPrefix(got, prompt) || len(got) <= len(prompt) {
		t.Fatalf("output %q does not continue the prompt %q", got, prompt)
	}
	// steps counts positions, the prompt's included, so a budget shorter
	// than the prompt prints only part of it.
	if short := GenerateReference(NewReference(ck), tk, prompt, 2); !strings.HasPrefix(prompt, short) || short == prompt {
		t.Errorf("2-step output %q is not a strict prefix of the prompt", short)
	}
}

func TestReferenceForward(t *testing.T) {
	ck, _ := stories260K(t)
	r := NewReference(ck)
	if r.Forward(-1, 0) != nil || r.Forward(512, 0) != nil || r.Forward(1, 512) != nil || r.Forward(1, -1) != nil {
		t.Fatal("out-of-range token or position did not return nil")
	}
	logits := r.Forward(BOS, 0)
	if len(logits) != ck.Vocab {
		t.Fatalf("%d logits, want %d", len(logits), ck.Vocab)
	}
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %d is %v", i, v)
		}
	}
	// After BOS the model starts a story: " Once" is the greedy choice.
	if got := argmax(logits); got != 403 {
		t.Errorf("argmax after BOS = %d, want 403 (\" Once\")", got)
	}
	// Position 0 attends only to itself, so the result cannot depend on
	// anything fed before: a fresh runner gives the same bits.
	first := append([]float32(nil), logits...)
	r.Forward(403, 1)
	again := NewReference(ck).Forward(BOS, 0)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("logit %d differs between fresh runners", i)
		}
	}
}

func TestReferenceHelpers(t *testing.T) {
	// matmul: [[1 2 3] [4 5 6]] · [1 0 -1] = [-2 -2].
	out := make([]float32, 2)
	matmul(out, []float32{1, 0, -1}, []float32{1, 2, 3, 4, 5, 6})
	if out[0] != -2 || out[1] != -2 {
		t.Errorf("matmul = %v, want [-2 -2]", out)
	}
	// rmsnorm of [3 4] with unit gain: rms = sqrt(12.5 + 1e-5).
	o := make([]float32, 2)
	rmsnorm(o, []float32{3, 4}, []float32{1, 2})
	inv := 1 / math.Sqrt(12.5+1e-5)
	if math.Abs(float64(o[0])-3*inv) > 1e-6 || math.Abs(float64(o[1])-8*inv) > 1e-6 {
		t.Errorf("rmsnorm = %v, want [%v %v]", o, 3*inv, 8*inv)
	}
	// softmax sums to 1 and is shift invariant.
	a, b := []float32{1, 2, 3}, []float32{101, 102, 103}
	softmax(a)
	softmax(b)
	if s := a[0] + a[1] + a[2]; math.Abs(float64(s)-1) > 1e-6 {
		t.Errorf("softmax sums to %v", s)
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-7 {
			t.Errorf("softmax not shift invariant at %d: %v vs %v", i, a[i], b[i])
		}
	}
	// rotate by 90°: (1, 0) → (0, 1); the norm is kept.
	v := []float32{1, 0}
	rotate(v, 0, 0, 1)
	if v[0] != 0 || v[1] != 1 {
		t.Errorf("rotate = %v, want [0 1]", v)
	}
	if argmax([]float32{1, 3, 3, 2}) != 1 {
		t.Error("argmax does not return the first maximum")
	}
}

func TestPrintable(t *testing.T) {
	cases := map[string]string{"a": "a", "\n": "\n", "\x00": "", "\x07": "", "\xff": "", "ab": "ab", " ": " "}
	for in, want := range cases {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkReferenceForward(b *testing.B) {
	ck, _ := stories260K(b)
	for b.Loop() {
		r := NewReference(ck)
		for pos := range 64 {
			r.Forward(BOS, pos)
		}
	}
}
