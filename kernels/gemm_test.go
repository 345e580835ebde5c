package kernels

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

var variants = []string{"NN", "NT", "TN"}

func TestKernelSetName(t *testing.T) {
	name := KernelSet()
	if !slices.Contains([]string{"avx512", "avx2", "purego"}, name) {
		t.Fatalf("KernelSet() = %q, want avx512, avx2 or purego", name)
	}
	if sets := availableKernels(); sets[0].name != name || sets[len(sets)-1].name != "purego" {
		t.Fatalf("available kernel sets %v: want %q first and purego last", kernelNames(sets), name)
	}
}

// TestMatMulKnownAnswer checks small integer products computed by hand.
func TestMatMulKnownAnswer(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6}       // 2×3
	b := []float32{7, 8, 9, 10, 11, 12}    // 3×2
	bt := []float32{7, 9, 11, 8, 10, 12}   // b transposed, 2×3
	at := []float32{1, 4, 2, 5, 3, 6}      // a transposed, 3×2
	want := []float32{58, 64, 139, 154}    // a·b
	want2 := []float32{116, 128, 278, 308} // a·b accumulated twice
	for _, ks := range availableKernels() {
		for _, tc := range []struct {
			variant string
			a, b    []float32
		}{{"NN", a, b}, {"NT", a, bt}, {"TN", at, b}} {
			c := make([]float32, 4)
			gemmWith(ks, tc.variant, 1, c, tc.a, tc.b, 2, 3, 2, false)
			if !slices.Equal(c, want) {
				t.Errorf("%s %s: got %v, want %v", ks.name, tc.variant, c, want)
			}
			gemmWith(ks, tc.variant, 2, c, tc.a, tc.b, 2, 3, 2, true)
			if !slices.Equal(c, want2) {
				t.Errorf("%s %s acc: got %v, want %v", ks.name, tc.variant, c, want2)
			}
		}
	}
}

// TestSingleRounding checks a case where a*b+c rounded twice (to float64,
// then float32) differs from one rounding: (257/256)·(65281/65536) is
// exactly 1+2⁻²⁴, half an ulp above 1, and the addend 2⁻⁶⁰ breaks the tie
// upwards only if it is not lost in an intermediate rounding.
func TestSingleRounding(t *testing.T) {
	av, bv := float32(257.0/256), float32(65281.0/65536)
	for _, tc := range []struct{ c, want float32 }{
		{0x1p-60, 1 + 0x1p-23},
		{-0x1p-60, 1},
	} {
		double := float32(math.FMA(float64(av), float64(bv), float64(tc.c)))
		if double != 1 {
			t.Fatalf("test case no longer discriminates: double rounding gives %v", double)
		}
		for _, ks := range availableKernels() {
			for _, variant := range variants {
				c := []float32{tc.c}
				gemmWith(ks, variant, 1, c, []float32{av}, []float32{bv}, 1, 1, 1, true)
				if c[0] != tc.want {
					t.Errorf("%s %s: fma(%v, %v, %g) = %v, want %v", ks.name, variant, av, bv, tc.c, c[0], tc.want)
				}
			}
		}
	}
}

type gemmShape struct{ m, k, n int }

func testShapes() []gemmShape {
	var shapes []gemmShape
	small := []int{1, 3, 7, 17, 33, 65}
	for _, m := range small {
		for _, k := range small {
			for _, n := range small {
				shapes = append(shapes, gemmShape{m, k, n})
			}
		}
	}
	// Larger ragged shapes crossing the K (256), M (96) and N (2048) blocks;
	// first, TN products whose A has a row stride of a multiple of 1 KiB
	// (read from a padded copy: per K block, and per worker's range of K
	// where the product splits K).
	return append(shapes,
		gemmShape{256, 600, 45}, gemmShape{512, 1100, 33}, gemmShape{256, 300, 70},
		gemmShape{64, 64, 64}, gemmShape{100, 100, 100}, gemmShape{257, 65, 257},
		gemmShape{257, 33, 100}, gemmShape{17, 257, 64}, gemmShape{100, 65, 257},
		gemmShape{3, 600, 7}, gemmShape{7, 17, 600}, gemmShape{1, 257, 1100},
		gemmShape{130, 520, 65}, gemmShape{2, 100, 257}, gemmShape{150, 300, 530},
		gemmShape{5, 300, 2100}, gemmShape{33, 40, 4200},
	)
}

// TestGemmMatchesReference compares every kernel set, variant, thread count
// and accumulate mode bit for bit with the plain FMA32 chain.
func TestGemmMatchesReference(t *testing.T) {
	shapes := testShapes()
	if testing.Short() {
		shapes = shapes[:len(shapes)-10]
	}
	sets := availableKernels()
	for si, sh := range shapes {
		for _, data := range []string{"normal", "adversarial"} {
			s := &testStream{state: uint64(si*7919) + uint64(len(data))}
			gen := normalData
			if data == "adversarial" {
				gen = adversarialData
			}
			a := gen(s, sh.m*sh.k)
			b := gen(s, sh.k*sh.n)
			c0 := gen(s, sh.m*sh.n)
			for _, variant := range variants {
				for _, acc := range []bool{false, true} {
					want := slices.Clone(c0)
					refGemm(variant, want, a, b, sh.m, sh.k, sh.n, acc)
					for _, ks := range sets {
						for _, threads := range []int{1, 2, 7} {
							got := slices.Clone(c0)
							gemmWith(ks, variant, threads, got, a, b, sh.m, sh.k, sh.n, acc)
							if i := firstDiff(got, want); i >= 0 {
								t.Fatalf("%s %s %s m=%d k=%d n=%d acc=%v threads=%d: C[%d] = %g (%#x), want %g (%#x)",
									ks.name, variant, data, sh.m, sh.k, sh.n, acc, threads, i,
									got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	}
}

// firstDiff returns the first index where the bits differ, or -1.
func firstDiff(got, want []float32) int {
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return i
		}
	}
	return -1
}

// TestPublicVariants checks that the exported functions use the same chains
// as the reference, including strided views that leave the rest of C alone.
func TestPublicVariants(t *testing.T) {
	const m, k, n = 37, 300, 45
	s := &testStream{state: 42}
	a := adversarialData(s, m*k)
	b := adversarialData(s, k*n)
	fns := map[string]func(int, []float32, []float32, []float32, int, int, int, bool){
		"NN": MatMul, "NT": MatMulNT, "TN": MatMulTN,
	}
	for _, variant := range variants {
		for _, threads := range []int{0, 1, 2, 7} {
			want := make([]float32, m*n+5)
			got := make([]float32, m*n+5)
			for i := m * n; i < len(got); i++ {
				want[i], got[i] = 99, 99
			}
			refGemm(variant, want, a, b, m, k, n, false)
			fns[variant](threads, got, a, b, m, k, n, false)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s threads=%d: C[%d] = %g, want %g", variant, threads, i, got[i], want[i])
			}
		}
	}
}

// TestEmptyShapes checks the degenerate products: k = 0 clears C unless
// accumulating; m = 0 or n = 0 touch nothing.
func TestEmptyShapes(t *testing.T) {
	for _, ks := range availableKernels() {
		for _, variant := range variants {
			c := []float32{1, 2, 3, 4}
			gemmWith(ks, variant, 2, c, nil, nil, 2, 0, 2, true)
			if !slices.Equal(c, []float32{1, 2, 3, 4}) {
				t.Errorf("%s %s k=0 acc: C changed to %v", ks.name, variant, c)
			}
			gemmWith(ks, variant, 2, c, nil, nil, 2, 0, 2, false)
			if !slices.Equal(c, []float32{0, 0, 0, 0}) {
				t.Errorf("%s %s k=0: C = %v, want zeros", ks.name, variant, c)
			}
			c = []float32{5}
			gemmWith(ks, variant, 2, c, []float32{1, 2}, nil, 0, 2, 3, false)
			gemmWith(ks, variant, 2, c, []float32{1, 2}, nil, 3, 2, 0, false)
			if c[0] != 5 {
				t.Errorf("%s %s: empty product wrote C[0] = %v", ks.name, variant, c[0])
			}
		}
	}
}

func TestBadShapesPanicWithMessage(t *testing.T) {
	defer func() {
		r := recover()
		msg, ok := r.(string)
		if !ok || !strings.Contains(msg, "MatMulNT") || !strings.Contains(msg, "len(b)=5") {
			t.Fatalf("recovered %v, want a message naming MatMulNT and len(b)=5", r)
		}
	}()
	MatMulNT(1, make([]float32, 4), make([]float32, 6), make([]float32, 5), 2, 3, 2, false)
}

func TestParallelCoversRange(t *testing.T) {
	for _, tc := range []struct{ threads, n int }{{0, 5}, {1, 5}, {2, 5}, {7, 5}, {3, 0}, {4, 100}} {
		hits := make([]int, tc.n)
		blocks := make(chan [2]int, tc.n+1)
		Parallel(tc.threads, tc.n, func(lo, hi int) { blocks <- [2]int{lo, hi} })
		close(blocks)
		for bl := range blocks {
			for i := bl[0]; i < bl[1]; i++ {
				hits[i]++
			}
		}
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("%s: index %d visited %d times", fmt.Sprint(tc), i, h)
			}
		}
	}
}

func TestWithGEMMRoutesAndRestores(t *testing.T) {
	calls := 0
	naive := func(threads int, transA, transB bool, c, a, b []float32, m, k, n int, acc bool) {
		calls++
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float32
				if acc {
					s = c[i*n+j]
				}
				for p := 0; p < k; p++ {
					av, bv := a[i*k+p], b[p*n+j]
					if transA {
						av = a[p*m+i]
					}
					if transB {
						bv = b[j*k+p]
					}
					s += av * bv
				}
				c[i*n+j] = s
			}
		}
	}
	a := []float32{1, 2, 3, 4, 5, 6} // 2×3
	b := []float32{1, 0, 0, 1, 1, 1} // 3×2
	c := make([]float32, 4)
	WithGEMM(naive, func() { MatMul(1, c, a, b, 2, 3, 2, false) })
	if calls != 1 || c[0] != 4 || c[1] != 5 || c[2] != 10 || c[3] != 11 {
		t.Fatalf("routed MatMul: calls=%d C=%v, want 1 call and [4 5 10 11]", calls, c)
	}
	MatMul(1, c, a, b, 2, 3, 2, false)
	if calls != 1 || c[0] != 4 || c[3] != 11 {
		t.Fatalf("after WithGEMM returned: calls=%d C=%v; want the kernels back", calls, c)
	}
}

func TestUseSelectsKernelSet(t *testing.T) {
	defer func() {
		if err := Use(""); err != nil {
			t.Fatal(err)
		}
	}()
	a, b := []float32{1, 2, 3, 4}, []float32{5, 6, 7, 8}
	want := []float32{19, 22, 43, 50}
	for _, name := range KernelSets() {
		if err := Use(name); err != nil {
			t.Fatal(err)
		}
		if KernelSet() != name {
			t.Fatalf("Use(%q): KernelSet() = %q", name, KernelSet())
		}
		got := make([]float32, 4)
		MatMul(1, got, a, b, 2, 2, 2, false)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
	}
	if err := Use("sse9"); err == nil || !strings.Contains(err.Error(), `"sse9"`) || !strings.Contains(err.Error(), "purego") {
		t.Fatalf("Use(sse9) error = %v, want one naming the set and the available ones", err)
	}
}

// TestSharedGemmBothSplits runs the multi-threaded product with B shared
// (row strips) and with A shared (column strips) on shapes that cross the K
// and N blocks, whichever split gemm would choose, and compares the bits
// with the one-thread product.
func TestSharedGemmBothSplits(t *testing.T) {
	for _, sh := range []gemmShape{{13, 300, 2100}, {70, 260, 90}, {1, 513, 40}, {97, 7, 1}} {
		s := &testStream{state: uint64(sh.m*31 + sh.k*7 + sh.n)}
		for _, variant := range variants {
			for _, ks := range availableKernels() {
				a := adversarialData(s, sh.m*sh.k)
				b := adversarialData(s, sh.k*sh.n)
				c0 := normalData(s, sh.m*sh.n)
				want := slices.Clone(c0)
				g := variantArgs(variant, want, a, b, sh.m, sh.k, sh.n, true)
				gemmBlock(ks, g, nil, nil)
				for _, byRows := range []bool{true, false} {
					for _, threads := range []int{2, 3} {
						got := slices.Clone(c0)
						sharedGemm(ks, threads, variantArgs(variant, got, a, b, sh.m, sh.k, sh.n, true), byRows, nil)
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("%s %s %d×%d×%d byRows=%v threads=%d: C[%d] = %g, want %g", ks.name, variant, sh.m, sh.k, sh.n, byRows, threads, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
