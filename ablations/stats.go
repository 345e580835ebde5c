package ablations

import (
	"math"

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
	out := Paired{Delta: e, T: math.NaN(), P: math.NaN()}
	if n < 2 {
		return out
	}
	var ss float64
	for _, x := range d {
		ss += (x - e.Mean) * (x - e.Mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
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
