package kernels

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// TestPackersAgree checks every kernel set's panel packer against the
// portable one and against refPanel (the documented layout), value for
// value (packing moves bits; it computes nothing),
// for contiguous and strided panels, ragged lane counts, K lengths that are
// not multiples of the transpose block, and special values.
func TestPackersAgree(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-45, -3.4e38}
	for _, ks := range availableKernels() {
		// The set's own widths take the fast paths; 3, 8 and 12 the
		// general ones.
		for _, width := range []int{ks.mr, ks.nr, 3, 8, 12} {
			for _, lanes := range []int{1, width / 2, width - 1, width} {
				for _, kc := range []int{1, 5, 16, 17, 33, 256} {
					for _, contiguous := range []bool{true, false} {
						ld := kc + 3
						if contiguous {
							ld = lanes + 5
						}
						base := 7
						n := base + max(kc, lanes)*ld + 1
						src := make([]float32, n)
						for i := range src {
							src[i] = float32(i%97) - 48.5
							if i%13 == 0 {
								src[i] = special[i/13%len(special)]
							}
						}
						// The last element a panel may read sits at the
						// slice's end, so any read past it would panic.
						if contiguous {
							src = src[:base+(kc-1)*ld+lanes]
						} else {
							src = src[:base+(lanes-1)*ld+kc]
						}
						want := make([]float32, kc*width)
						got := make([]float32, kc*width)
						for i := range got {
							got[i] = 99
							want[i] = -99
						}
						packPanelGo(want, src, base, ld, contiguous, lanes, width, kc)
						ks.pack(got, src, base, ld, contiguous, lanes, width, kc)
						name := fmt.Sprintf("%s/w%d/lanes%d/kc%d/contiguous=%v", ks.name, width, lanes, kc, contiguous)
						bits := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
						if !slices.EqualFunc(got, want, bits) {
							t.Fatalf("%s: packed panel differs from the portable packer", name)
						}
						if !slices.EqualFunc(got, refPanel(src, base, ld, contiguous, lanes, width, kc), bits) {
							t.Fatalf("%s: packed panel differs from the documented layout", name)
						}
					}
				}
			}
		}
	}
}

// BenchmarkPack reports nanoseconds per packed element for each kernel
// set's packer against the portable one, on panels the GEMM driver packs.
func BenchmarkPack(b *testing.B) {
	for _, ks := range availableKernels() {
		for _, tc := range []struct {
			name       string
			width, ld  int
			contiguous bool
		}{
			{"A-rowmajor", ks.mr, 512, false}, {"A-transposed", ks.mr, 512, true},
			{"B-rowmajor", ks.nr, 1536, true}, {"B-transposed", ks.nr, 512, false},
		} {
			b.Run(ks.name+"/"+tc.name, func(b *testing.B) {
				const kc, panels = 256, 8
				src := make([]float32, 512*1536)
				dst := make([]float32, kc*tc.width)
				for b.Loop() {
					for q := 0; q < panels; q++ {
						ks.pack(dst, src, q*tc.width*tc.ld, tc.ld, tc.contiguous, tc.width, tc.width, kc)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(panels*kc*tc.width), "ns/elem")
			})
		}
	}
}

// TestBlockPackersAgree checks each kernel set's whole-block packer against
// panel-by-panel portable packing and against refBlock (the documented
// layout), for ragged lane counts.
func TestBlockPackersAgree(t *testing.T) {
	ref := packBlockGo(packPanelGo)
	for _, ks := range availableKernels() {
		// The set's own widths take the fast paths; 3, 8 and 12 the
		// general ones.
		for _, width := range []int{ks.mr, ks.nr, 3, 8, 12} {
			for _, n := range []int{1, width - 1, width, width + 1, 3*width + 5, 96} {
				for _, kc := range []int{1, 7, 16, 40} {
					for _, contiguous := range []bool{true, false} {
						ld := kc + 2
						if contiguous {
							ld = n + 3
						}
						const base = 5
						var size int
						if contiguous {
							size = base + (kc-1)*ld + n
						} else {
							size = base + (n-1)*ld + kc
						}
						src := make([]float32, size)
						for i := range src {
							src[i] = float32(i) + 0.25
						}
						panels := (n + width - 1) / width
						want := make([]float32, panels*width*kc)
						got := make([]float32, panels*width*kc)
						for i := range got {
							got[i], want[i] = 7, -7
						}
						ref(want, src, base, ld, contiguous, n, width, kc)
						ks.packBlock(got, src, base, ld, contiguous, n, width, kc)
						if !slices.Equal(got, want) {
							t.Fatalf("%s: width %d n %d kc %d contiguous %v: block packing differs", ks.name, width, n, kc, contiguous)
						}
						if !slices.Equal(got, refBlock(src, base, ld, contiguous, n, width, kc)) {
							t.Fatalf("%s: width %d n %d kc %d contiguous %v: block packing differs from the documented layout", ks.name, width, n, kc, contiguous)
						}
					}
				}
			}
		}
	}
}

// BenchmarkPackBlock reports nanoseconds per packed element for each kernel
// set's block packer on the blocks the GEMM driver packs: an A block of
// blockM rows and a B block of blockN columns, blockK steps deep, from
// row-major (NN) and transposed operands. It reports the fastest pass, as
// a shared machine slows passes at random.
func BenchmarkPackBlock(b *testing.B) {
	for _, ks := range availableKernels() {
		for _, tc := range []struct {
			name       string
			width, n   int
			ld         int
			contiguous bool
		}{
			{"A-NN", ks.mr, blockM, 512, false}, {"A-NN2048", ks.mr, blockM, 2048, false}, {"A-TN", ks.mr, blockM, 512, true},
			{"B-NN", ks.nr, blockN, 1536, true}, {"B-NT", ks.nr, blockN, 512, false},
		} {
			b.Run(ks.name+"/"+tc.name, func(b *testing.B) {
				src := make([]float32, 2048*1536)
				for i := range src {
					src[i] = float32(i % 251)
				}
				panels := (tc.n + tc.width - 1) / tc.width
				dst := make([]float32, panels*tc.width*blockK)
				best := time.Duration(math.MaxInt64)
				for b.Loop() {
					t0 := time.Now()
					ks.packBlock(dst, src, 0, tc.ld, tc.contiguous, tc.n, tc.width, blockK)
					best = min(best, time.Since(t0))
				}
				// The fastest pass: the machine may be shared.
				b.ReportMetric(float64(best.Nanoseconds())/float64(tc.n*blockK), "min-ns/elem")
			})
		}
	}
}
