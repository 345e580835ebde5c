package data

import (
	"math"
	"strings"
	"testing"
)

func TestMinHashJaccard(t *testing.T) {
	m := NewMinHasher()
	set := func(lo, hi int, extra ...int) []uint64 {
		var s []uint64
		for i := lo; i < hi; i++ {
			s = append(s, uint64(i)*0x9e3779b97f4a7c15)
		}
		for _, e := range extra {
			s = append(s, uint64(e)*0x9e3779b97f4a7c15)
		}
		return s
	}
	base := set(0, 1000)
	var withTail []int
	for i := 5000; i < 5100; i++ {
		withTail = append(withTail, i)
	}
	cases := []struct {
		b    []uint64
		true float64
	}{
		{set(0, 1000), 1},
		{set(500, 1500), 500.0 / 1500},
		{set(0, 900, withTail...), 900.0 / 1100},
		{set(2000, 3000), 0},
	}
	for _, c := range cases {
		sa, sb := m.Sign(base), m.Sign(c.b)
		// 128 hashes: the estimate's standard deviation is at most 0.045.
		if est := sa.Jaccard(&sb); math.Abs(est-c.true) > 0.12 {
			t.Errorf("Jaccard estimate %.3f, true %.3f", est, c.true)
		}
	}
}

func TestClean(t *testing.T) {
	stories := splitText([]byte(corpusPrefix(t, storiesV2, 20_000)))
	if len(stories) < 6 {
		t.Fatalf("only %d stories", len(stories))
	}
	a, b, c := stories[0], stories[1], stories[2]
	// One word changed in a long story: Jaccard of 5-shingles stays high.
	words := strings.Fields(b)
	if len(words) < 100 {
		t.Fatalf("story too short for the near-dup case: %d words", len(words))
	}
	words[len(words)/2] = "zebra"
	near := strings.Join(words, " ")
	exact := "  " + strings.ToUpper(a[:1]) + a[1:] + "\n"
	exact = strings.ReplaceAll(exact, " ", "   ")
	docs := []string{
		a, b, c,
		exact,                               // same text up to case and spacing
		near,                                // near duplicate of b
		"Too short.",                        // below MinChars
		strings.Repeat("0x3F, 0x7A, |", 20), // mostly not text
		stories[3],
	}
	cl, err := NewCleaner(CleanOptions{MinChars: 40, MinTextFraction: 0.75, Dedup: true, NearDupJaccard: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	kept, st := cl.Clean(docs)
	want := Stats{Docs: 8, Filtered: 2, ExactDups: 1, NearDups: 1, Kept: 4}
	st.Chars = 0
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if len(kept) != 4 || kept[0] != a || kept[1] != b || kept[2] != c || kept[3] != stories[3] {
		t.Errorf("kept the wrong documents: %q", kept)
	}
	// State carries across calls: the same documents again are all duplicates.
	_, st2 := cl.Clean([]string{a, near, stories[3]})
	if st2.ExactDups+st2.NearDups != 3 || st2.Kept != 0 {
		t.Errorf("second call %+v, want 3 duplicates", st2)
	}
	// Without dedup only the filters apply.
	cl2, _ := NewCleaner(CleanOptions{MinChars: 40, MinTextFraction: 0.75, NearDupJaccard: 0.8})
	if _, st3 := cl2.Clean(docs); st3.Kept != 6 || st3.Filtered != 2 {
		t.Errorf("no-dedup stats %+v", st3)
	}
	if _, err := NewCleaner(CleanOptions{MinTextFraction: 2, NearDupJaccard: 0.8}); err == nil {
		t.Error("bad MinTextFraction accepted")
	}
}

func TestCleanThreadIndependent(t *testing.T) {
	docs := splitText([]byte(corpusPrefix(t, "tinyshakespeare/input.txt", 60_000)))
	base, _ := NewCleaner(CleanOptions{MinChars: 20, MinTextFraction: 0.75, Dedup: true, NearDupJaccard: 0.8})
	_, stBase := base.Clean(docs)
	docs = append(docs, docs[:50]...)
	var ref []string
	for _, th := range []int{1, 3, 8} {
		cl, _ := NewCleaner(CleanOptions{MinChars: 20, MinTextFraction: 0.75, Dedup: true, NearDupJaccard: 0.8})
		cl.threads = th
		kept, st := cl.Clean(docs)
		if st.Kept != stBase.Kept || st.Docs != st.Filtered+st.ExactDups+st.NearDups+st.Kept {
			t.Errorf("threads %d: stats %+v; repeating documents changed Kept from %d", th, st, stBase.Kept)
		}
		if ref == nil {
			ref = kept
		} else if strings.Join(kept, "\x00") != strings.Join(ref, "\x00") {
			t.Errorf("threads %d changed the kept documents", th)
		}
	}
}
