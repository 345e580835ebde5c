package ablations

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"

	"github.com/nanomamba-edge/harness/rng"

	"gonum.org/v1/gonum/stat/distuv"
)

// Estimate is a mean over seeds with its 95% confidence half-width
// (Student t, n−1 degrees of freedom). With one seed the half-width is NaN.
type Estimate struct {
	Mean, CI95 float64
	N          int
}

// Mean95 returns the mean and the 95% CI half-width of xs.
func Mean95(xs []float64) Estimate {
	n := len(xs)
	if n == 0 {
		return Estimate{Mean: math.NaN(), CI95: math.NaN()}
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mean := s / float64(n)
	if n < 2 {
		return Estimate{Mean: mean, CI95: math.NaN(), N: n}
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	return Estimate{Mean: mean, CI95: t * sd / math.Sqrt(float64(n)), N: n}
}

// Paired is the comparison of an arm with the baseline over shared seeds.
type Paired struct {
	Delta Estimate // mean of (arm − baseline) per seed, with its 95% CI
	T, P  float64  // paired t statistic and two-sided p-value (NaN if undefined)
	SD    float64  // standard deviation of the per-seed differences (NaN for n < 2)
}

// PairedTest compares a with b seed by seed (a[i] and b[i] share a seed).
func PairedTest(a, b []float64) Paired {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = a[i] - b[i]
	}
	e := Mean95(d)
	out := Paired{Delta: e, T: math.NaN(), P: math.NaN(), SD: math.NaN()}
	if n < 2 {
		return out
	}
	var ss float64
	for _, x := range d {
		ss += (x - e.Mean) * (x - e.Mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	out.SD = sd
	if sd == 0 {
		if e.Mean == 0 {
			out.T, out.P = 0, 1
		} else {
			out.T, out.P = math.Inf(int(math.Copysign(1, e.Mean))), 0
		}
		return out
	}
	out.T = e.Mean / (sd / math.Sqrt(float64(n)))
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}
	out.P = 2 * dist.CDF(-math.Abs(out.T))
	return out
}

// Holm returns Holm–Bonferroni adjusted p-values for one family of
// comparisons, in the input order: sort p ascending p₍₁₎ … p₍ₘ₎, then
// p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎). NaN entries (no test)
// stay NaN and do not count in m.
func Holm(ps []float64) []float64 {
	out := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		out[i] = math.NaN()
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	m := len(idx)
	running := 0.0
	for j, i := range idx {
		running = math.Max(running, math.Min(1, float64(m-j)*ps[i]))
		out[i] = running
	}
	return out
}

// MinDetectable is the smallest true paired difference that n seeds with
// paired-difference standard deviation sd detect with 80% power in a
// two-sided 5% paired t-test: (t₀.₉₇₅,ₙ₋₁ + t₀.₈,ₙ₋₁)·sd/√n (the normal
// approximation with Student t quantiles). NaN for n < 2.
func MinDetectable(sd float64, n int) float64 {
	if n < 2 || math.IsNaN(sd) {
		return math.NaN()
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}
	return (t.Quantile(0.975) + t.Quantile(0.8)) * sd / math.Sqrt(float64(n))
}

// HierBootstrap is the hierarchical bootstrap of a paired difference over
// seeds and items (METHODS §10).
type HierBootstrap struct {
	// Mean is the statistic on the data: the mean over seeds of each
	// seed's item-mean difference (with strata, the unweighted mean of the
	// strata's item means, as a task group averages its subtasks).
	Mean float64
	// Lo, Hi bound the percentile 95% interval of the draws.
	Lo, Hi float64
	// P is the two-sided p-value: twice the share of draws on the other
	// side of 0 from Mean (draws equal to 0 count as the other side),
	// capped at 1; 1 when Mean is 0.
	P float64
	// Draws, Seeds and Items are the bootstrap draws, the seeds and the
	// items per seed (summed over strata).
	Draws, Seeds, Items int
}

// DefaultBootstrapDraws is the number of hierarchical bootstrap draws.
const DefaultBootstrapDraws = 10000

// HierarchicalBootstrap resamples the per-item paired differences
// d[s][k][i] = m_arm(s, k, i) − m_base(s, k, i) of seed s, stratum k
// (a group's subtask; one stratum for a plain task) and item i: each draw
// picks len(d) seeds with replacement, then, within each picked seed and
// stratum, as many items as it has with replacement (one draw of item
// indices serves both arms, since the differences are paired), and
// computes the statistic of HierBootstrap.Mean. The interval is the
// 2.5th and 97.5th percentile of draws statistics (linear interpolation
// between order statistics). Draws come from counter-based streams keyed
// by (seed, draw), so the result does not depend on threads. Every seed
// must have the same strata, each with at least one item.
func HierarchicalBootstrap(d [][][]float64, draws int, seed int64, threads int) (HierBootstrap, error) {
	if len(d) == 0 {
		return HierBootstrap{}, fmt.Errorf("hierarchical bootstrap: no seeds")
	}
	if draws < 1 {
		return HierBootstrap{}, fmt.Errorf("hierarchical bootstrap: %d draws, want at least 1", draws)
	}
	items := 0
	for s, strata := range d {
		if len(strata) == 0 || len(strata) != len(d[0]) {
			return HierBootstrap{}, fmt.Errorf("hierarchical bootstrap: seed %d has %d strata, seed 0 has %d (want the same, at least 1)", s, len(strata), len(d[0]))
		}
		for k, xs := range strata {
			if len(xs) == 0 {
				return HierBootstrap{}, fmt.Errorf("hierarchical bootstrap: seed %d stratum %d has no items", s, k)
			}
			for i, x := range xs {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return HierBootstrap{}, fmt.Errorf("hierarchical bootstrap: seed %d stratum %d item %d is %v", s, k, i, x)
				}
			}
			if s == 0 {
				items += len(xs)
			}
		}
	}
	// A stratum with few distinct values (accuracy differences take at
	// most three) is resampled through its value counts: the number of
	// picks of each value is multinomial, drawn as a chain of binomials,
	// which has exactly the distribution of picking items one by one at a
	// cost independent of the item count. Other strata pick items.
	cs := make([][]countedStratum, len(d))
	for s, strata := range d {
		cs[s] = make([]countedStratum, len(strata))
		for k, xs := range strata {
			cs[s][k] = compressStratum(xs, maxDistinctForCounts)
		}
	}
	stat := func(st *rng.Stream) float64 {
		tot := 0.0
		for range cs {
			strata := cs[st.Intn(len(cs))]
			sm := 0.0
			for _, c := range strata {
				n := len(c.xs)
				m := 0.0
				if c.vals == nil {
					for range c.xs {
						m += c.xs[st.Intn(n)]
					}
				} else {
					rem, left := n, n
					for j, v := range c.vals {
						k := rem
						if j < len(c.vals)-1 && rem > 0 {
							k = int(distuv.Binomial{N: float64(rem), P: float64(c.counts[j]) / float64(left), Src: st}.Rand())
						}
						m += v * float64(k)
						rem -= k
						left -= c.counts[j]
					}
				}
				sm += m / float64(n)
			}
			tot += sm / float64(len(strata))
		}
		return tot / float64(len(cs))
	}
	mean := 0.0 // the statistic on the data: every seed and item once
	for _, strata := range d {
		sm := 0.0
		for _, xs := range strata {
			m := 0.0
			for _, x := range xs {
				m += x
			}
			sm += m / float64(len(xs))
		}
		mean += sm / float64(len(strata))
	}
	mean /= float64(len(d))
	out := make([]float64, draws)
	threads = max(1, min(threads, draws))
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < draws; b += threads {
				st := rng.New(seed, "hierarchical-bootstrap "+strconv.Itoa(b))
				out[b] = stat(st)
			}
		}(w)
	}
	wg.Wait()
	sort.Float64s(out)
	res := HierBootstrap{Mean: mean, Lo: percentile(out, 0.025), Hi: percentile(out, 0.975), Draws: draws, Seeds: len(d), Items: items, P: 1}
	if mean != 0 {
		other := 0
		for _, v := range out {
			if (mean > 0 && v <= 0) || (mean < 0 && v >= 0) {
				other++
			}
		}
		res.P = math.Min(1, 2*float64(other)/float64(draws))
	}
	return res, nil
}

// maxDistinctForCounts is the largest number of distinct values a
// stratum is resampled through its value counts with.
var maxDistinctForCounts = 16

// countedStratum is one stratum's items and, when they take few values,
// the distinct values (ascending) with their counts.
type countedStratum struct {
	xs     []float64
	vals   []float64 // nil: resample by picking items
	counts []int
}

// compressStratum returns xs with its distinct values and their counts
// when it has at most maxDistinct of them.
func compressStratum(xs []float64, maxDistinct int) (c countedStratum) {
	c.xs = xs
	seen := map[float64]int{}
	for _, x := range xs {
		if _, ok := seen[x]; !ok && len(seen) == maxDistinct {
			return c
		}
		seen[x]++
	}
	c.vals = make([]float64, 0, len(seen))
	for v := range seen {
		c.vals = append(c.vals, v)
	}
	sort.Float64s(c.vals)
	for _, v := range c.vals {
		c.counts = append(c.counts, seen[v])
	}
	return c
}

// percentile interpolates linearly between the order statistics of a
// sorted sample (position q·(n−1)).
func percentile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i] + f*(sorted[i+1]-sorted[i])
}
