package vec

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
)

// The exponential of SiLU and ExpShift is kernels.ExpFastInRange, with its
// argument clamped to [kernels.ExpFastMin, kernels.ExpFastMax]; the
// assembly form reads expConsts.
const (
	expMin = kernels.ExpFastMin
	expMax = kernels.ExpFastMax
)

// expConsts is the constant block the assembly exponential reads.
var expConsts = kernels.ExpFastConstants()

func siluGo(silu, sig, x []float32) {
	silu, sig = silu[:len(x)], sig[:len(x)]
	for i, xv := range x {
		e := kernels.ExpFastInRange(min(max(-float64(xv), expMin), expMax))
		s := 1 / (1 + e)
		sig[i] = float32(s)
		silu[i] = float32(float64(float64(xv) * s))
	}
}

func expShiftGo(sum float64, d, x []float32, mx float32) float64 {
	if d != nil {
		d = d[:len(x)]
	}
	for j, xv := range x {
		e := kernels.ExpFastInRange(min(max(float64(xv-mx), expMin), expMax))
		sum += e
		if d != nil {
			d[j] = float32(e)
		}
	}
	return sum
}

func sumExpNonPosGo(sum float64, x []float32, mx float32) float64 {
	for _, xv := range x {
		sum += kernels.ExpNonPos(float64(xv - mx))
	}
	return sum
}

func absMaxGo(x []float32) float32 {
	var m0, m1, m2, m3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		m0 = max(m0, float32(math.Abs(float64(x[i]))))
		m1 = max(m1, float32(math.Abs(float64(x[i+1]))))
		m2 = max(m2, float32(math.Abs(float64(x[i+2]))))
		m3 = max(m3, float32(math.Abs(float64(x[i+3]))))
	}
	for ; i < len(x); i++ {
		m0 = max(m0, float32(math.Abs(float64(x[i]))))
	}
	return max(max(m0, m1), max(m2, m3))
}

func maxGo(x []float32) float32 {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	return mx
}

// roundClip rounds half away from zero after clamping to [lo, hi] (lo and
// hi integers of magnitude below 2**24): clamped first, x ± ½ is exact in
// float64, so truncating it rounds exactly as math.Round does.
func roundClip(x float32, lo, hi float32) float32 {
	v := float64(min(max(x, lo), hi))
	return float32(math.Trunc(v + math.Copysign(0.5, v)))
}

func quantMulDivGo(dst, x []float32, s, lo, hi float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = roundClip(v*s, lo, hi) / s
	}
}

func quantDivMulGo(dst, x []float32, m, lo, hi float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = roundClip(v/m, lo, hi) * m
	}
}

func blendGo(dst, a, b []float32, lam float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i, av := range a {
		dst[i] = av + float32(lam*(b[i]-av))
	}
}

func mulGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i, av := range a {
		dst[i] = av * b[i]
	}
}

func scaleMulGo(dst, x, g []float32, r float32) {
	x, g = x[:len(dst)], g[:len(dst)]
	for i, v := range x {
		dst[i] = (v * r) * g[i]
	}
}

func siluGradGo(dg, du, dh, g, s, u []float32) {
	n := len(dh)
	dg, du, g, s, u = dg[:n], du[:n], g[:n], s[:n], u[:n]
	for i, d := range dh {
		gv, sv := g[i], s[i]
		du[i] = d * (gv * sv)
		dg[i] = (d * u[i]) * (sv * (1 + float32(gv*(1-sv))))
	}
}

func rmsBackGo(dx, do, g, x []float32, rs, c float64) {
	n := len(dx)
	do, g, x = do[:n], g[:n], x[:n]
	for i, v := range x {
		gd := float64(do[i] * g[i])
		dx[i] += float32(float64(rs*gd) - float64(float64(v)*c))
	}
}

func gainGradGo(acc []float64, do, x []float32, rs float32) {
	do, x = do[:len(acc)], x[:len(acc)]
	for j, v := range do {
		acc[j] += float64(float64(v) * float64(x[j]*rs))
	}
}

func mulAddF64Go(acc []float64, a, b []float32) {
	a, b = a[:len(acc)], b[:len(acc)]
	for i, v := range a {
		acc[i] += float64(float64(v) * float64(b[i]))
	}
}

func toF32Go(dst []float32, src []float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = float32(v)
	}
}

func axpyExactGo(y, x []float32, d float64) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] = float32(float64(y[i]) + float64(d*float64(v)))
	}
}

// sumSquaresGo returns Σ x_i² in float64 (exact products) with four
// interleaved partial sums s_k over i ≡ k (mod 4), the tail added to s0,
// combined as (s0+s1)+(s2+s3).
func sumSquaresGo(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v0, v1, v2, v3 := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += float64(v0 * v0)
		s1 += float64(v1 * v1)
		s2 += float64(v2 * v2)
		s3 += float64(v3 * v3)
	}
	for ; i < len(x); i++ {
		v := float64(x[i])
		s0 += float64(v * v)
	}
	return (s0 + s1) + (s2 + s3)
}

// dotGainGo returns Σ (do_i·g_i)·x_i in float64 (do_i·g_i rounded to
// float32) in the order of sumSquaresGo.
func dotGainGo(do, g, x []float32) float64 {
	g, x = g[:len(do)], x[:len(do)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(do); i += 4 {
		s0 += float64(float64(do[i]*g[i]) * float64(x[i]))
		s1 += float64(float64(do[i+1]*g[i+1]) * float64(x[i+1]))
		s2 += float64(float64(do[i+2]*g[i+2]) * float64(x[i+2]))
		s3 += float64(float64(do[i+3]*g[i+3]) * float64(x[i+3]))
	}
	for ; i < len(do); i++ {
		s0 += float64(float64(do[i]*g[i]) * float64(x[i]))
	}
	return (s0 + s1) + (s2 + s3)
}

func scaleGo(dst, x []float32, f float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = v * f
	}
}

func scaleF64Go(x []float32, f float64) {
	for i, v := range x {
		x[i] = float32(float64(v) * f)
	}
}

func addGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

func siluBackGo(dst, dy, x, s []float32) {
	n := len(dst)
	dy, x, s = dy[:n], x[:n], s[:n]
	for i, d := range dy {
		sv := s[i]
		dst[i] = d * (sv * (1 + float32(x[i]*(1-sv))))
	}
}

func softmaxBackGo(d, p []float32, sum, scale float32) {
	p = p[:len(d)]
	for i, v := range d {
		d[i] = (p[i] * (v - sum)) * scale
	}
}

func absSumsGo(dst []float64, xs [][]float32) {
	for j, x := range xs {
		var s float64
		for _, v := range x {
			s += math.Abs(float64(v))
		}
		dst[j] = s
	}
}

// headDotsGo is HeadDotsAcc in Go.
func headDotsGo(dst []float64, a, b []float32, rows, width, p int) {
	for h := range dst {
		s := dst[h]
		for r := 0; r < rows; r++ {
			o := r*width + h*p
			ar, br := a[o:o+p], b[o:o+p]
			for i, v := range ar {
				s += float64(float64(v) * float64(br[i]))
			}
		}
		dst[h] = s
	}
}

func dotTapsGo(out, init []float32, ws, xs [][]float32) {
	for c := range out {
		var s float64
		if init != nil {
			s = float64(init[c])
		}
		for j, w := range ws {
			s += float64(float64(w[c]) * float64(xs[j][c]))
		}
		out[c] = float32(s)
	}
}

// expTerms writes e[j] = the float64 term ExpShift adds for x[j] and, when
// d is not nil, d[j] = float32(e[j]).
func expTerms(d []float32, e []float64, x []float32, mx float32) {
	n := len(x)
	e = e[:n]
	if d != nil {
		d = d[:n]
	}
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		var dp *float32
		if d != nil {
			dp = &d[0]
		}
		expTermsAsm(dp, &e[0], &x[0], i, mx, &expConsts[0])
	}
	for j := i; j < n; j++ {
		v := kernels.ExpFastInRange(min(max(float64(x[j]-mx), expMin), expMax))
		e[j] = v
		if d != nil {
			d[j] = float32(v)
		}
	}
}
