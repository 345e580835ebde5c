package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpShiftRowsMatchesExpShift checks ExpShiftRows against ExpShift row
// by row, bit for bit (sums and outputs), for one to four rows of equal
// and of different lengths (ragged tails, rows longer than a chunk, empty
// rows), with and without outputs, in place, and with arguments below the
// clamp.
func TestExpShiftRowsMatchesExpShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name    string
		lens    []int
		out     bool
		inPlace bool
		spread  float64
	}{
		{"one row", []int{37}, true, false, 4},
		{"four equal", []int{2048, 2048, 2048, 2048}, true, false, 6},
		{"four ragged", []int{1, 9, 130, 257}, true, false, 6},
		{"three no output", []int{300, 16, 129}, false, false, 6},
		{"two in place", []int{64, 65}, true, true, 6},
		{"empty row", []int{0, 8, 3, 128}, true, false, 6},
		{"below the clamp", []int{40, 41, 42, 43}, true, false, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := len(tc.lens)
			x := make([][]float32, rows)
			mx := make([]float32, rows)
			for r, n := range tc.lens {
				x[r] = make([]float32, n)
				for j := range x[r] {
					x[r][j] = float32((rng.Float64()*2 - 1) * tc.spread)
					mx[r] = max(mx[r], x[r][j])
				}
			}
			want := make([]float64, rows)
			wantD := make([][]float32, rows)
			for r := range x {
				var d []float32
				if tc.out {
					d = make([]float32, len(x[r]))
				}
				want[r] = ExpShift(d, append([]float32(nil), x[r]...), mx[r])
				wantD[r] = d
			}
			var d [][]float32
			if tc.out {
				d = make([][]float32, rows)
				for r := range d {
					if tc.inPlace {
						d[r] = x[r]
					} else {
						d[r] = make([]float32, len(x[r]))
					}
				}
			}
			got := make([]float64, rows)
			ExpShiftRows(got, d, x, mx)
			for r := range x {
				if math.Float64bits(got[r]) != math.Float64bits(want[r]) {
					t.Errorf("row %d: sum %v, ExpShift %v", r, got[r], want[r])
				}
				if !tc.out {
					continue
				}
				for j := range d[r] {
					if math.Float32bits(d[r][j]) != math.Float32bits(wantD[r][j]) {
						t.Fatalf("row %d column %d: %v, ExpShift %v", r, j, d[r][j], wantD[r][j])
					}
				}
			}
		})
	}
}

// TestExpShiftRowsTooMany checks the panic of a fifth row.
func TestExpShiftRowsTooMany(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("five rows did not panic")
		}
	}()
	x := make([][]float32, 5)
	ExpShiftRows(make([]float64, 5), nil, x, make([]float32, 5))
}

// TestPrefetchChangesNothing checks that Prefetch, a hint, leaves every
// value of slices of several lengths (empty, shorter than a line, ragged,
// ending at the end of their array) unchanged and does not panic.
func TestPrefetchChangesNothing(t *testing.T) {
	backing := make([]float32, 1000)
	for i := range backing {
		backing[i] = float32(i) * 0.5
	}
	want := append([]float32(nil), backing...)
	for _, r := range [][2]int{{0, 0}, {3, 4}, {0, 15}, {0, 16}, {5, 22}, {1, 1000}, {999, 1000}, {0, 1000}} {
		Prefetch(backing[r[0]:r[1]])
	}
	for i := range want {
		if math.Float32bits(backing[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d changed from %v to %v", i, want[i], backing[i])
		}
	}
	Prefetch(nil)
}
