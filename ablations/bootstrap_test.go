package ablations

import (
	"math"
	"testing"
)

// Resampling a stratum through its value counts (multinomial, as a chain
// of binomials) has the distribution of picking its items one by one: on
// accuracy-like differences in {-1, 0, 1}, the two give the same interval
// and p within Monte-Carlo error, and the statistic on the data exactly.
func TestBootstrapValueCountsMatchItemPicks(t *testing.T) {
	// Three seeds, two strata each; differences are −1, 0 or +1 with the
	// seeds' own rates, so the seed level and the item level both count.
	var d [][][]float64
	for s := 0; s < 3; s++ {
		var strata [][]float64
		for k, n := range []int{900, 300} {
			xs := make([]float64, n)
			for i := range xs {
				switch (i*7 + s*3 + k) % 10 {
				case 0, 1:
					xs[i] = 1
				case 2:
					xs[i] = -1
				}
			}
			if s == 1 {
				for i := 0; i < n/20; i++ {
					xs[i] = 1
				}
			}
			strata = append(strata, xs)
		}
		d = append(d, strata)
	}
	const draws = 20000
	counts, err := HierarchicalBootstrap(d, draws, 11, 2)
	if err != nil {
		t.Fatal(err)
	}
	old := maxDistinctForCounts
	maxDistinctForCounts = 0 // every stratum picks items
	defer func() { maxDistinctForCounts = old }()
	picks, err := HierarchicalBootstrap(d, draws, 11, 2)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Mean != picks.Mean || counts.Items != picks.Items {
		t.Fatalf("statistic on the data: %v (%d items) vs %v (%d)", counts.Mean, counts.Items, picks.Mean, picks.Items)
	}
	// The interval's ends are quantiles of the draws; their Monte-Carlo
	// standard error is far below a tenth of the interval's width here.
	w := picks.Hi - picks.Lo
	if math.Abs(counts.Lo-picks.Lo) > 0.1*w || math.Abs(counts.Hi-picks.Hi) > 0.1*w {
		t.Errorf("value counts [%v, %v], item picks [%v, %v]", counts.Lo, counts.Hi, picks.Lo, picks.Hi)
	}
	if math.Abs(counts.P-picks.P) > 4*math.Sqrt(math.Max(picks.P, 1.0/draws)/draws)*2+1e-3 {
		t.Errorf("p: value counts %v, item picks %v", counts.P, picks.P)
	}
	// The counts path is deterministic and thread-independent too.
	maxDistinctForCounts = old
	again, _ := HierarchicalBootstrap(d, draws, 11, 5)
	if again != counts {
		t.Errorf("5 threads %+v, 2 threads %+v", again, counts)
	}
}

func BenchmarkHierarchicalBootstrapBLiMP(b *testing.B) {
	// BLiMP's shape: 67 subtasks of 1,000 pairs, five seeds.
	d := make([][][]float64, 5)
	for s := range d {
		for k := 0; k < 67; k++ {
			xs := make([]float64, 1000)
			for i := range xs {
				xs[i] = float64((i+s+k)%3 - 1)
			}
			d[s] = append(d[s], xs)
		}
	}
	for b.Loop() {
		if _, err := HierarchicalBootstrap(d, DefaultBootstrapDraws, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
}
