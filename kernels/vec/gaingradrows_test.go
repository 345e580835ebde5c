package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGainGradRowsMatchesRowByRow compares GainGradRows bit for bit with
// GainGrad called row by row in ascending order, on column counts around
// the 32- and 8-column blocks, row strides wider than the rows, one and
// many rows, and row scales that overflow float32 in x·rs.
func TestGainGradRowsMatchesRowByRow(t *testing.T) {
	for _, tc := range []struct{ n, ld, rows int }{
		{1, 1, 1}, {7, 9, 3}, {8, 8, 1}, {9, 16, 5}, {31, 31, 4}, {32, 32, 2}, {33, 40, 7},
		{64, 128, 17}, {100, 100, 64}, {128, 256, 300}, {256, 256, 3},
	} {
		t.Run(fmt.Sprintf("n=%d/ld=%d/rows=%d", tc.n, tc.ld, tc.rows), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.rows)))
			size := (tc.rows-1)*tc.ld + tc.n
			do, x := inputs(r, size, 1, true), inputs(r, size, 1, true)
			rstd := make([]float32, tc.rows)
			for i := range rstd {
				rstd[i] = float32(r.ExpFloat64())
			}
			rstd[tc.rows/2] = 7e30 // x·rs overflows for the large inputs
			acc, want := make([]float64, tc.n), make([]float64, tc.n)
			for i := range acc {
				acc[i] = r.NormFloat64()
				want[i] = acc[i]
			}
			for row, rs := range rstd {
				GainGrad(want, do[row*tc.ld:row*tc.ld+tc.n], x[row*tc.ld:row*tc.ld+tc.n], rs)
			}
			GainGradRows(acc, do, x, tc.ld, rstd)
			for i := range acc {
				same64(t, "gaingradrows", acc[i], want[i])
			}
		})
	}
}

// TestMulAddF64RowsMatchesRowByRow compares MulAddF64Rows bit for bit with
// MulAddF64 called row by row in ascending order, including a b shared by
// every row (ldb = 0).
func TestMulAddF64RowsMatchesRowByRow(t *testing.T) {
	for _, tc := range []struct{ n, lda, ldb, rows int }{
		{1, 1, 1, 1}, {7, 9, 7, 3}, {8, 8, 0, 1}, {9, 16, 9, 5}, {32, 320, 584, 2}, {33, 40, 0, 7},
		{160, 320, 584, 125}, {100, 100, 100, 64}, {256, 256, 256, 3},
	} {
		t.Run(fmt.Sprintf("n=%d/lda=%d/ldb=%d/rows=%d", tc.n, tc.lda, tc.ldb, tc.rows), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.rows+tc.ldb)))
			a := inputs(r, (tc.rows-1)*tc.lda+tc.n, 1, true)
			b := inputs(r, (tc.rows-1)*tc.ldb+tc.n, 1e20, true)
			acc, want := make([]float64, tc.n), make([]float64, tc.n)
			for i := range acc {
				acc[i] = r.NormFloat64()
				want[i] = acc[i]
			}
			for row := 0; row < tc.rows; row++ {
				MulAddF64(want, a[row*tc.lda:row*tc.lda+tc.n], b[row*tc.ldb:row*tc.ldb+tc.n])
			}
			MulAddF64Rows(acc, a, tc.lda, b, tc.ldb, tc.rows)
			for i := range acc {
				same64(t, "muladdf64rows", acc[i], want[i])
			}
		})
	}
}

// TestRMSBackSetMatchesClearedRMSBack compares RMSBackSet with clearing dx
// and calling RMSBack, bit for bit (−0 results included, which adding to a
// cleared dx turns into +0), on lengths around the vector width and inputs
// with special values.
func TestRMSBackSetMatchesClearedRMSBack(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 31, 64, 100} {
		r := rand.New(rand.NewPCG(uint64(n), 5))
		do, g, x := inputs(r, n, 1, true), inputs(r, n, 1, true), inputs(r, n, 1, true)
		// A −0 result: do·g = −0 and x·c = +0.
		do[0], g[0], x[0] = 0, -1, 0
		for _, k := range [][2]float64{{0.7, 0.01}, {3e10, -2e-5}} {
			want := inputs(r, n, 1, false)
			clear(want)
			RMSBack(want, do, g, x, k[0], k[1])
			got := inputs(r, n, 1, true) // garbage that must not be read
			RMSBackSet(got, do, g, x, k[0], k[1])
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("n=%d rs=%g c=%g: dx[%d] = %g (%#x), cleared RMSBack %g (%#x)", n, k[0], k[1], i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
			if math.Float32bits(got[0]) != 0 {
				t.Fatalf("n=%d: dx[0] = %g (%#x), want +0", n, got[0], math.Float32bits(got[0]))
			}
		}
	}
}
