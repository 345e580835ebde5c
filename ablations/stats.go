package ablations

import (
	"math"
	"sort"

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
