package vec

import (
	"fmt"
	"math"
)

// SiLU writes sig[i] = σ(x[i]) = 1/(1+e**−x[i]) and silu[i] = x[i]·σ(x[i]),
// each computed in float64 and rounded once to float32. The exponent is
// clamped to [−708, 709], which changes no float32 result; NaN stays NaN.
// silu and sig must hold len(x) values.
func SiLU(silu, sig, x []float32) {
	n := len(x)
	silu, sig = silu[:n], sig[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		siluAsm(&silu[0], &sig[0], &x[0], i, &expConsts[0])
	}
	siluGo(silu[i:], sig[i:], x[i:])
}

// ExpShift writes d[j] = float32(e**(x[j] − mx)) when d is not nil and
// returns Σ_j e**(x[j] − mx) in float64, summed in ascending j. The
// difference x[j] − mx is formed in float32 and the exponent clamped to
// [−708, 709].
func ExpShift(d, x []float32, mx float32) float64 {
	n := len(x)
	if d != nil {
		d = d[:n]
	}
	var sum float64
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		var dp *float32
		if d != nil {
			dp = &d[0]
		}
		sum = expShiftAsm(dp, &x[0], i, mx, &expConsts[0])
	}
	if d != nil {
		d = d[i:]
	}
	return expShiftGo(sum, d, x[i:], mx)
}

// Prefetch asks the CPU to bring x's cache lines into the caches (a hint:
// no value changes, and nothing happens without the assembly kernels), for
// a pass that will read x soon and would otherwise find it in memory.
func Prefetch(x []float32) {
	if hasAsm && len(x) > 0 {
		prefetchAsm(&x[0], (len(x)*4+63)/64)
	}
}

// expRowsChunk is the number of columns ExpShiftRows takes at a time from
// each row (its terms stay in L1).
const expRowsChunk = 128

// ExpShiftRows is ExpShift on up to four rows at once: sums[r] =
// ExpShift(d[r], x[r], mx[r]) bit for bit, for rows of any lengths (d may
// be nil, or d[r] nil: no output; d[r] may be x[r]). Each row's sum is
// its own chain in ascending j, as in ExpShift; running the rows' chains
// side by side overlaps the latencies of their additions, which bound
// ExpShift on one row.
func ExpShiftRows(sums []float64, d, x [][]float32, mx []float32) {
	rows := len(x)
	if rows > 4 {
		panic(fmt.Sprintf("vec.ExpShiftRows: %d rows, at most 4", rows))
	}
	sums = sums[:rows]
	mx = mx[:rows]
	var e [4][expRowsChunk]float64
	var s [4]float64
	long := 0
	for _, r := range x {
		long = max(long, len(r))
	}
	for off := 0; off < long; off += expRowsChunk {
		var cnt [4]int
		common := expRowsChunk
		for r, xr := range x {
			cnt[r] = min(max(len(xr)-off, 0), expRowsChunk)
			common = min(common, cnt[r])
			if cnt[r] == 0 {
				continue
			}
			var dr []float32
			if d != nil && d[r] != nil {
				dr = d[r][off : off+cnt[r]]
			}
			expTerms(dr, e[r][:cnt[r]], xr[off:off+cnt[r]], mx[r])
		}
		j := 0
		if rows > 1 {
			s0, s1, s2, s3 := s[0], s[1], s[2], s[3]
			e0, e1 := e[0][:common], e[1][:common]
			switch rows {
			case 4:
				e2, e3 := e[2][:common], e[3][:common]
				for k, v := range e0 {
					s0 += v
					s1 += e1[k]
					s2 += e2[k]
					s3 += e3[k]
				}
			case 3:
				e2 := e[2][:common]
				for k, v := range e0 {
					s0 += v
					s1 += e1[k]
					s2 += e2[k]
				}
			case 2:
				for k, v := range e0 {
					s0 += v
					s1 += e1[k]
				}
			}
			s[0], s[1], s[2], s[3] = s0, s1, s2, s3
			j = common
		}
		for r := range x {
			sr := s[r]
			for _, v := range e[r][j:cnt[r]] {
				sr += v
			}
			s[r] = sr
		}
	}
	copy(sums, s[:rows])
}

// SumExpNonPos returns Σ_j kernels.ExpNonPos(float64(x[j] − mx)) in
// float64, summed in ascending j, with the difference formed in float32:
// the softmax denominator of a row shifted by its maximum mx, bit for bit
// the scalar loop. The assembly form computes blocks of 8 whose arguments
// all lie in [−708, 0]; any other block (an argument above 0, below −708,
// or NaN) is left to kernels.ExpNonPos itself.
func SumExpNonPos(x []float32, mx float32) float64 {
	var sum float64
	i := 0
	if hasAsm {
		for n8 := len(x) &^ 7; i < n8; {
			var done int
			sum, done = sumExpNonPosAsm(&x[i], n8-i, mx, sum, &expConsts[0])
			i += done
			if i < n8 {
				sum = sumExpNonPosGo(sum, x[i:i+8], mx)
				i += 8
			}
		}
	}
	return sumExpNonPosGo(sum, x[i:], mx)
}

// AbsMax returns max_i |x_i| (0 for an empty x), NaN when some x_i is NaN.
func AbsMax(x []float32) float32 {
	if hasAsm && len(x) >= 16 {
		b := absMaxBitsAsm(&x[0], len(x)&^15)
		if b <= 0x7f800000 { // no NaN among them: the result is exact
			m := math.Float32frombits(b)
			for _, v := range x[len(x)&^15:] {
				m = max(m, float32(math.Abs(float64(v))))
			}
			return m
		}
	}
	return absMaxGo(x)
}

// Max returns max_i x_i with the semantics of the max built-in (−Inf for an
// empty x, NaN when some x_i is NaN, +0 above −0).
func Max(x []float32) float32 {
	if hasAsm && len(x) >= 16 {
		n := len(x) &^ 15
		if key, abs := maxAsm(&x[0], n); abs <= 0x7f800000 { // no NaN among them
			m := math.Float32frombits(uint32(key ^ (key>>31)&0x7fffffff))
			for _, v := range x[n:] {
				m = max(m, v)
			}
			return m
		}
	}
	return maxGo(x)
}

// QuantMulDiv writes dst[i] = RoundClip(x[i]·s, lo, hi)/s: the product is
// clamped to [lo, hi] (integers of magnitude below 2**24) and rounded half
// away from zero.
func QuantMulDiv(dst, x []float32, s, lo, hi float32) {
	n := len(x)
	dst = dst[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		quantAsm(&dst[0], &x[0], i, s, lo, hi, 0)
	}
	quantMulDivGo(dst[i:], x[i:], s, lo, hi)
}

// QuantDivMul writes dst[i] = RoundClip(x[i]/m, lo, hi)·m.
func QuantDivMul(dst, x []float32, m, lo, hi float32) {
	n := len(x)
	dst = dst[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		quantAsm(&dst[0], &x[0], i, m, lo, hi, 1)
	}
	quantDivMulGo(dst[i:], x[i:], m, lo, hi)
}

// Blend writes dst[i] = a[i] + float32(lam·(b[i] − a[i])). dst may be a or
// b.
func Blend(dst, a, b []float32, lam float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		blendAsm(&dst[0], &a[0], &b[0], i, lam)
	}
	blendGo(dst[i:], a[i:], b[i:], lam)
}

// Mul writes dst[i] = a[i]·b[i]. dst may be a or b.
func Mul(dst, a, b []float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		mulAsm(&dst[0], &a[0], &b[0], i)
	}
	mulGo(dst[i:], a[i:], b[i:])
}

// ScaleMul writes dst[i] = (x[i]·r)·g[i], the RMSNorm output.
func ScaleMul(dst, x, g []float32, r float32) {
	n := len(dst)
	x, g = x[:n], g[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		scaleMulAsm(&dst[0], &x[0], &g[0], i, r)
	}
	scaleMulGo(dst[i:], x[i:], g[i:], r)
}

// SiLUGrad is the backward pass of h = SiLU(g)·u with the stored σ(g) in s:
// du[i] = dh[i]·(g[i]·s[i]) and dg[i] = (dh[i]·u[i])·(s·(1 + float32(g·(1−s)))).
func SiLUGrad(dg, du, dh, g, s, u []float32) {
	n := len(dh)
	dg, du, g, s, u = dg[:n], du[:n], g[:n], s[:n], u[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		siluGradAsm(&dg[0], &du[0], &dh[0], &g[0], &s[0], &u[0], i)
	}
	siluGradGo(dg[i:], du[i:], dh[i:], g[i:], s[i:], u[i:])
}

// RMSBack adds the RMSNorm input gradient to dx: dx[i] +=
// float32(rs·float64(do[i]·g[i]) − float64(x[i])·c).
func RMSBack(dx, do, g, x []float32, rs, c float64) {
	n := len(dx)
	do, g, x = do[:n], g[:n], x[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		rmsBackAsm(&dx[0], &do[0], &g[0], &x[0], i, rs, c)
	}
	rmsBackGo(dx[i:], do[i:], g[i:], x[i:], rs, c)
}

// RMSBackSet is RMSBack onto a cleared dx, without reading dx: dx[i] =
// +0 + float32(rs·float64(do[i]·g[i]) − float64(x[i])·c), the bits that
// clearing dx and calling RMSBack give (a −0 becomes +0).
func RMSBackSet(dx, do, g, x []float32, rs, c float64) {
	n := len(dx)
	do, g, x = do[:n], g[:n], x[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		rmsBackSetAsm(&dx[0], &do[0], &g[0], &x[0], i, rs, c)
	}
	clear(dx[i:])
	rmsBackGo(dx[i:], do[i:], g[i:], x[i:], rs, c)
}

// GainGrad adds one row's contribution to the RMSNorm gain gradient:
// acc[j] += float64(do[j])·float64(x[j]·rs).
func GainGrad(acc []float64, do, x []float32, rs float32) {
	n := len(acc)
	do, x = do[:n], x[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		gainGradAsm(&acc[0], &do[0], &x[0], i, rs)
	}
	gainGradGo(acc[i:], do[i:], x[i:], rs)
}

// GainGradRows is GainGrad for len(rstd) rows in ascending order: row r
// is do[r*ld:r*ld+len(acc)] and x[r*ld:r*ld+len(acc)] with rstd[r]. Every
// acc[j] runs the chain of len(rstd) GainGrad calls, so the bits are
// those of calling GainGrad row by row; the chains stay in registers
// across the rows.
func GainGradRows(acc []float64, do, x []float32, ld int, rstd []float32) {
	n, rows := len(acc), len(rstd)
	if rows == 0 || n == 0 {
		return
	}
	if ld < n {
		panic(fmt.Sprintf("vec.GainGradRows: row stride %d below the row length %d", ld, n))
	}
	last := (rows-1)*ld + n
	do, x = do[:last], x[:last]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		gainGradRowsAsm(&acc[0], &do[0], &x[0], 4*ld, &rstd[0], rows, i)
	}
	if i < n {
		for r, rs := range rstd {
			gainGradGo(acc[i:], do[r*ld+i:r*ld+n], x[r*ld+i:r*ld+n], rs)
		}
	}
}

// MulAddF64Rows is MulAddF64 for rows rows in ascending order: row r adds
// a[r*lda:r*lda+len(acc)]·b[r*ldb:r*ldb+len(acc)] (ldb may be 0: the same
// b for every row). Every acc[j] runs the chain of rows MulAddF64 calls,
// so the bits are those of calling MulAddF64 row by row; the chains stay
// in registers across the rows.
func MulAddF64Rows(acc []float64, a []float32, lda int, b []float32, ldb, rows int) {
	n := len(acc)
	if rows <= 0 || n == 0 {
		return
	}
	if lda < n || (ldb != 0 && ldb < n) {
		panic(fmt.Sprintf("vec.MulAddF64Rows: row strides %d and %d below the row length %d (ldb may be 0)", lda, ldb, n))
	}
	a, b = a[:(rows-1)*lda+n], b[:(rows-1)*ldb+n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		mulAddF64RowsAsm(&acc[0], &a[0], 4*lda, &b[0], 4*ldb, rows, i)
	}
	if i < n {
		for r := 0; r < rows; r++ {
			mulAddF64Go(acc[i:], a[r*lda+i:r*lda+n], b[r*ldb+i:r*ldb+n])
		}
	}
}

// MulAddF64 adds exact products: acc[i] += float64(a[i])·float64(b[i]) (the
// product of two float32 values is exact in float64; the sum is rounded).
func MulAddF64(acc []float64, a, b []float32) {
	n := len(acc)
	a, b = a[:n], b[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		mulAddF64Asm(&acc[0], &a[0], &b[0], i)
	}
	mulAddF64Go(acc[i:], a[i:], b[i:])
}

// ToF32 writes dst[i] = float32(src[i]).
func ToF32(dst []float32, src []float64) {
	n := len(dst)
	src = src[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		toF32Asm(&dst[0], &src[0], i)
	}
	toF32Go(dst[i:], src[i:])
}

// AxpyExact writes y[i] = float32(float64(y[i]) + d·float64(x[i])): one
// float64 sum rounded once (d·x is exact when d is a float32 value).
func AxpyExact(y, x []float32, d float64) {
	n := len(y)
	x = x[:n]
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		axpyExactAsm(&y[0], &x[0], i, d)
	}
	axpyExactGo(y[i:], x[i:], d)
}

// SumSquaresRows writes dst[r] = Σ_i x[r·dim+i]² for every row r <
// len(dst): a float64 sum of exact products in four interleaved partial
// sums s_k over i ≡ k (mod 4), the tail elements added to s0 in order, and
// the result (s0+s1)+(s2+s3). The assembly form runs four rows at once, one
// 4-lane vector of partial sums per row.
func SumSquaresRows(dst []float64, x []float32, dim int) {
	rows := len(dst)
	x = x[:rows*dim]
	n := dim &^ 3
	if !hasAsm || n == 0 {
		for r := range dst {
			dst[r] = sumSquaresGo(x[r*dim : r*dim+dim])
		}
		return
	}
	var lanes [16]float64
	finish := func(r int, l []float64) {
		s0 := l[0]
		for _, v := range x[r*dim+n : r*dim+dim] {
			s0 += float64(float64(v) * float64(v))
		}
		dst[r] = (s0 + l[1]) + (l[2] + l[3])
	}
	r := 0
	for ; r+4 <= rows; r += 4 {
		sumSq4Asm(&x[r*dim], dim, n, &lanes)
		for j := 0; j < 4; j++ {
			finish(r+j, lanes[4*j:4*j+4])
		}
	}
	for ; r < rows; r++ {
		sumSq4Asm(&x[r*dim], 0, n, &lanes) // the row in all four slots
		finish(r, lanes[:4])
	}
}

// DotGainRows writes dst[r] = Σ_i (do[r·dim+i]·g[i])·x[r·dim+i] for every
// row r < len(dst), do·g rounded to float32 and the float64 sum in the
// order of SumSquaresRows.
func DotGainRows(dst []float64, do, g, x []float32, dim int) {
	rows := len(dst)
	do, g, x = do[:rows*dim], g[:dim], x[:rows*dim]
	n := dim &^ 3
	if !hasAsm || n == 0 {
		for r := range dst {
			dst[r] = dotGainGo(do[r*dim:r*dim+dim], g, x[r*dim:r*dim+dim])
		}
		return
	}
	var lanes [16]float64
	finish := func(r int, l []float64) {
		s0 := l[0]
		dr, xr := do[r*dim:r*dim+dim], x[r*dim:r*dim+dim]
		for i := n; i < dim; i++ {
			s0 += float64(float64(dr[i]*g[i]) * float64(xr[i]))
		}
		dst[r] = (s0 + l[1]) + (l[2] + l[3])
	}
	r := 0
	for ; r+4 <= rows; r += 4 {
		dotGain4Asm(&do[r*dim], &x[r*dim], dim, &g[0], n, &lanes)
		for j := 0; j < 4; j++ {
			finish(r+j, lanes[4*j:4*j+4])
		}
	}
	for ; r < rows; r++ {
		dotGain4Asm(&do[r*dim], &x[r*dim], 0, &g[0], n, &lanes)
		finish(r, lanes[:4])
	}
}

// Scale writes dst[i] = x[i]·f. dst may be x.
func Scale(dst, x []float32, f float32) {
	n := len(dst)
	x = x[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		scaleAsm(&dst[0], &x[0], i, f)
	}
	scaleGo(dst[i:], x[i:], f)
}

// ScaleF64 replaces x[i] by float32(float64(x[i])·f).
func ScaleF64(x []float32, f float64) {
	n := len(x)
	i := 0
	if hasAsm && n >= 8 {
		i = n &^ 7
		scaleF64Asm(&x[0], i, f)
	}
	scaleF64Go(x[i:], f)
}

// Add writes dst[i] = a[i] + b[i]. dst may be a or b.
func Add(dst, a, b []float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		addAsm(&dst[0], &a[0], &b[0], i)
	}
	addGo(dst[i:], a[i:], b[i:])
}

// SiLUBack writes dst[i] = dy[i]·(s·(1 + float32(x·(1−s)))), the gradient
// through SiLU(x) with the stored σ(x) in s.
func SiLUBack(dst, dy, x, s []float32) {
	n := len(dst)
	dy, x, s = dy[:n], x[:n], s[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		siluBackAsm(&dst[0], &dy[0], &x[0], &s[0], i)
	}
	siluBackGo(dst[i:], dy[i:], x[i:], s[i:])
}

// SoftmaxBack replaces d[i] by (p[i]·(d[i] − sum))·scale, the softmax
// backward after the row sum Σ p·d.
func SoftmaxBack(d, p []float32, sum, scale float32) {
	n := len(d)
	p = p[:n]
	i := 0
	if hasAsm && n >= 16 {
		i = n &^ 15
		softmaxBackAsm(&d[0], &p[0], i, sum, scale)
	}
	softmaxBackGo(d[i:], p[i:], sum, scale)
}

// AbsSums writes dst[j] = Σ_i |xs[j][i]| for every j, each a float64
// running sum in ascending i from +0. All xs must have the same length. The
// assembly form keeps up to eight sums in the lanes of one vector, so
// tensors of one shape are summed together at about the speed of one.
func AbsSums(dst []float64, xs [][]float32) {
	dst = dst[:len(xs)]
	if len(xs) == 0 {
		return
	}
	n := len(xs[0])
	for _, x := range xs {
		if len(x) != n {
			panic("vec.AbsSums: slices of different lengths")
		}
	}
	if !hasAsm || n == 0 {
		absSumsGo(dst, xs)
		return
	}
	var ptrs [8]*float32
	var sums [8]float64
	for j := 0; j < len(xs); j += 8 {
		k := min(8, len(xs)-j)
		for l := range ptrs {
			ptrs[l] = &xs[j+min(l, k-1)][0] // unused lanes repeat the last slice
		}
		absSum8Asm(&ptrs, n, &sums)
		for l := 0; l < k; l++ {
			s := sums[l]
			for _, v := range xs[j+l][n&^7:] {
				s += math.Abs(float64(v))
			}
			dst[j+l] = s
		}
	}
}

// HeadDots writes dst[h] = Σ_r Σ_i float64(a[o+i])·float64(b[o+i]) with
// o = r·width + h·p, for every head h < len(dst), rows r < rows and i < p:
// one float64 running sum per head over (r, i) in ascending order, of exact
// products. The assembly form keeps eight heads in the lanes of a vector
// (an in-register 8×8 transpose per eight values of each head).
func HeadDots(dst []float64, a, b []float32, rows, width, p int) {
	clear(dst)
	HeadDotsAcc(dst, a, b, rows, width, p)
}

// HeadDotsAcc is HeadDots with every head's running sum starting from
// dst[h] instead of +0, so that sums over consecutive ranges of rows chain
// into the sum over all of them, bit for bit.
func HeadDotsAcc(dst []float64, a, b []float32, rows, width, p int) {
	heads := len(dst)
	if heads == 0 {
		return
	}
	if rows > 0 {
		_ = a[(rows-1)*width+heads*p-1]
		_ = b[(rows-1)*width+heads*p-1]
	}
	if !hasAsm || p%8 != 0 || rows == 0 || p == 0 {
		headDotsGo(dst, a, b, rows, width, p)
		return
	}
	var sums [8]float64
	for h := 0; h < heads; h += 8 {
		k := min(8, heads-h)
		var offs [8]int
		for l := range offs {
			offs[l] = (h + min(l, k-1)) * p * 4 // unused lanes repeat the last head
		}
		copy(sums[:k], dst[h:h+k])
		headDots8Asm(&a[0], &b[0], &offs, rows, width*4, p/8, &sums)
		copy(dst[h:h+k], sums[:k])
	}
}

// DotTaps writes out[c] = float32(s) with s = float64(init[c]) (+0 when
// init is nil) followed by s += float64(ws[j][c])·float64(xs[j][c]) for j
// in ascending order: the depthwise conv of one row, with the sum kept in a
// register across the taps. ws[j] and xs[j] must hold len(out) values.
func DotTaps(out, init []float32, ws, xs [][]float32) {
	n := len(out)
	if init != nil {
		init = init[:n]
	}
	if len(xs) != len(ws) {
		panic("vec.DotTaps: different numbers of weights and inputs")
	}
	for j := range ws {
		if len(ws[j]) < n || len(xs[j]) < n {
			panic("vec.DotTaps: a weight or input shorter than out")
		}
	}
	i := 0
	if hasAsm && n >= 8 && len(ws) <= 8 {
		i = n &^ 7
		var wp, xp [8]*float32
		for j := range ws {
			wp[j], xp[j] = &ws[j][0], &xs[j][0]
		}
		var ip *float32
		if init != nil {
			ip = &init[0]
		}
		dotTapsAsm(&out[0], ip, &wp, &xp, len(ws), i)
	}
	if i == n {
		return
	}
	var tw, tx [8][]float32
	rw, rx := tw[:0], tx[:0]
	for j := range ws {
		rw, rx = append(rw, ws[j][i:]), append(rx, xs[j][i:])
	}
	var ri []float32
	if init != nil {
		ri = init[i:]
	}
	dotTapsGo(out[i:], ri, rw, rx)
}
