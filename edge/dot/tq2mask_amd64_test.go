//go:build !purego

package dot

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

func hasVNNI() bool { return cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL }

// tq2Rows4MaskVNNI gives tq2RowsGo's integers for random codes (all four
// byte values per plane, so every mask sees codes 0..3) and extreme
// activations, for one to five blocks and 4 to 12 rows.
func TestTQ2Rows4Mask(t *testing.T) {
	if !hasVNNI() {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for _, nb := range []int{1, 2, 3, 4, 5} {
		for _, rows := range []int{4, 8, 12} {
			w := make([]byte, rows*nb*TQ2Block)
			for i := range w {
				w[i] = byte(rng.Uint32())
			}
			q := make([]int8, nb*256)
			for i := range q {
				switch rng.IntN(4) {
				case 0:
					q[i] = -128
				case 1:
					q[i] = 127
				default:
					q[i] = int8(rng.Uint32())
				}
			}
			want, got := make([]int32, rows), make([]int32, rows)
			tq2RowsGo(want, w, q, nb)
			tq2Rows4MaskVNNI(&got[0], &w[0], &q[0], nb, rows)
			for r := range want {
				if got[r] != want[r] {
					t.Fatalf("nb %d rows %d: row %d = %d, want %d", nb, rows, r, got[r], want[r])
				}
			}
		}
	}
}

func BenchmarkTQ2Mask(b *testing.B) {
	if !hasVNNI() {
		b.Skip("no AVX-512 VNNI")
	}
	for _, s := range []struct{ rows, nb int }{{2432, 2}, {512, 4}, {1024, 4}} {
		w := make([]byte, s.rows*s.nb*TQ2Block)
		for i := range w {
			w[i] = byte(i * 7)
		}
		q := make([]int8, s.nb*256)
		out := make([]int32, s.rows)
		b.Run(fmt.Sprintf("vnni/%dx%d", s.rows, s.nb*256), func(b *testing.B) {
			for b.Loop() {
				tq2RowsVNNI(&out[0], &w[0], &q[0], s.nb, s.rows)
			}
			b.ReportMetric(float64(s.rows*s.nb*256)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gw/s")
		})
		b.Run(fmt.Sprintf("mask4/%dx%d", s.rows, s.nb*256), func(b *testing.B) {
			for b.Loop() {
				tq2Rows4MaskVNNI(&out[0], &w[0], &q[0], s.nb, s.rows)
			}
			b.ReportMetric(float64(s.rows*s.nb*256)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gw/s")
		})
	}
}
