package kernels

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestMatMulNTPackedMatchesReference checks the product with a packed B
// against the reference chains, for every kernel set, thread count and
// accumulation mode, on shapes with ragged tiles, several K blocks, more
// than one N block and more than one shared K phase (n = 2048, k = 600:
// a 4 MiB phase holds 512 steps of K).
func TestMatMulNTPackedMatchesReference(t *testing.T) {
	shapes := []gemmShape{{1, 1, 1}, {5, 3, 7}, {13, 128, 33}, {37, 300, 45}, {100, 257, 97}, {25, 64, 2050}, {30, 600, 2048}}
	saved := active
	defer func() { active = saved }()
	for si, sh := range shapes {
		s := &testStream{state: uint64(si*104729 + 3)}
		a := normalData(s, sh.m*sh.k)
		b := normalData(s, sh.n*sh.k)
		c0 := normalData(s, sh.m*sh.n)
		for _, ks := range availableKernels() {
			active = ks
			p := PackNT(b, sh.n, sh.k)
			if p.Rows() != sh.n || p.Cols() != sh.k || p.Bytes() < 4*sh.n*sh.k {
				t.Fatalf("%s: PackNT(%d×%d) reports %d×%d, %d bytes", ks.name, sh.n, sh.k, p.Rows(), p.Cols(), p.Bytes())
			}
			for _, acc := range []bool{false, true} {
				want := slices.Clone(c0)
				refGemm("NT", want, a, b, sh.m, sh.k, sh.n, acc)
				for _, threads := range []int{1, 2, 3} {
					got := slices.Clone(c0)
					MatMulNTPacked(threads, got, a, p, sh.m, acc)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%s m=%d k=%d n=%d acc=%v threads=%d: C[%d] = %g (%#x), want %g (%#x)", ks.name, sh.m, sh.k, sh.n, acc, threads, i,
							got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// TestMatMulNTPackedFallbacks checks the paths that must not read the
// packing: a kernel set selected after packing, and a WithGEMM override
// (which must see the source matrix). The source is changed after packing,
// so a product that read the packing would give the old matrix's result.
func TestMatMulNTPackedFallbacks(t *testing.T) {
	sets := availableKernels()
	if len(sets) < 2 {
		t.Skip("one kernel set in this build: no other set to select after packing")
	}
	const m, k, n = 19, 70, 41
	s := &testStream{state: 7}
	a, b := normalData(s, m*k), normalData(s, n*k)
	saved := active
	defer func() { active = saved }()
	active = sets[0]
	p := PackNT(b, n, k)
	for i := range b {
		b[i] *= -2
	}
	want := make([]float32, m*n)
	refGemm("NT", want, a, b, m, k, n, false)
	stale := make([]float32, m*n)
	MatMulNTPacked(1, stale, a, p, m, false)
	if firstDiff(stale, want) < 0 {
		t.Fatal("the packed path saw the change of the source: the test cannot tell the paths apart")
	}
	active = sets[len(sets)-1] // purego: another kernel set than the packing's
	got := make([]float32, m*n)
	MatMulNTPacked(2, got, a, p, m, false)
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("kernel set changed after packing: C[%d] = %g, want %g (the source matrix's product)", i, got[i], want[i])
	}
	active = sets[0]
	var seen []float32
	WithGEMM(func(threads int, transA, transB bool, c, a, bb []float32, m, k, n int, acc bool) {
		seen = bb
		clear(c[:m*n])
	}, func() { MatMulNTPacked(1, got, a, p, m, false) })
	if len(seen) != n*k || &seen[0] != &b[0] {
		t.Fatalf("WithGEMM override got B of length %d, want the source matrix (%d values)", len(seen), n*k)
	}
}

// TestPackNTBadShape checks the message of a packing with a short matrix.
func TestPackNTBadShape(t *testing.T) {
	defer func() {
		r := recover()
		if msg, _ := r.(string); !strings.Contains(msg, "kernels.PackNT: bad shapes n=3 k=4 len(b)=11") {
			t.Fatalf("panic %v, want a message naming the shapes", r)
		}
	}()
	PackNT(make([]float32, 11), 3, 4)
}
