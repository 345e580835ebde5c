package dot

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/edge/gguf"

	"github.com/nanomamba-edge/harness/kernels"
)

// The float kernels of the decoder's attention and selective-scan step.
// Each output element is the same chain of IEEE operations as the scalar
// code it replaces (ascending index, single-rounding FMAs where that code
// calls kernels.FMA32, separately rounded float64 products and sums where
// it writes them), so every kernel set gives the same bits; the vector
// sets only run independent chains side by side in vector lanes.

// FMACols sets s[u] = the chain c ← FMA32(q[j], kt[j·stride+u], c) over
// ascending j < len(q), from c = +0, for u < n: the attention scores of one
// query against a transposed key cache (row j holds key element j of every
// position). n must be a multiple of 8 and stride ≥ n; len(s) ≥ n.
func FMACols(s, q, kt []float32, stride, n int) {
	hd := len(q)
	if n < 0 || n%8 != 0 || stride < n || len(s) < n || (hd > 0 && n > 0 && len(kt) < (hd-1)*stride+n) {
		panic(fmt.Sprintf("dot.FMACols: n %d (multiple of 8), stride %d, len(s) %d, len(q) %d, len(kt) %d", n, stride, len(s), hd, len(kt)))
	}
	if n == 0 {
		return
	}
	if hd == 0 {
		clear(s[:n])
		return
	}
	active.fmaCols(s[:n], q, kt, stride)
}

// FMARows sets out[j] = the chain c ← FMA32(p[u], v[u·stride+j], c) over
// ascending u < len(p), from c = +0, for j < len(out): the attention output
// of one head, the probabilities times the value rows.
func FMARows(out, p, v []float32, stride int) {
	cols, n := len(out), len(p)
	if cols > stride || (n > 0 && cols > 0 && len(v) < (n-1)*stride+cols) {
		panic(fmt.Sprintf("dot.FMARows: %d columns, %d rows of stride %d, len(v) %d", cols, n, stride, len(v)))
	}
	if n == 0 || cols == 0 {
		clear(out)
		return
	}
	active.fmaRows(out, p, v, stride)
}

// SSMStep is one token of the Mamba-2 recurrence for one head, with the
// state stored transposed (st[n·P+p], N rows of P = len(u)): for each p,
// ascending n,
//
//	s = float32(float64(decay·float64(st)) + float64(u[p]·bv[n]))
//	acc += float64(s)·cv[n]        (exact product, float64 sum from +0)
//
// st is replaced by s and y[p] = float32(acc). bv and cv are the float32
// B and C values widened to float64, u[p] = float64(dt·x[p]). This is
// ssd.Step's arithmetic element for element.
func SSMStep(st []float32, u, bv, cv []float64, y []float32, decay float64) {
	P, N := len(u), len(bv)
	if len(cv) != N || len(y) < P || len(st) < N*P {
		panic(fmt.Sprintf("dot.SSMStep: P %d, N %d, len(cv) %d, len(y) %d, len(st) %d", P, N, len(cv), len(y), len(st)))
	}
	if P == 0 {
		return
	}
	if N == 0 {
		clear(y[:P])
		return
	}
	active.ssm(st[:N*P], u, bv, cv, y[:P], decay)
}

func fmaColsGo(s, q, kt []float32, stride int) {
	clear(s)
	for j, qv := range q {
		row := kt[j*stride : j*stride+len(s)]
		for u, k := range row {
			s[u] = kernels.FMA32(qv, k, s[u])
		}
	}
}

func fmaRowsGo(out, p, v []float32, stride int) {
	clear(out)
	for u, pv := range p {
		row := v[u*stride : u*stride+len(out)]
		for j, x := range row {
			out[j] = kernels.FMA32(pv, x, out[j])
		}
	}
}

// ssmGo runs SSMStep's chains for the columns [p0, P).
func ssmGo(st []float32, u, bv, cv []float64, y []float32, decay float64, p0 int) {
	P := len(u)
	for p := p0; p < P; p++ {
		var acc float64
		up := u[p]
		for n := range bv {
			s := float32(float64(decay*float64(st[n*P+p])) + float64(up*bv[n]))
			st[n*P+p] = s
			acc += float64(float64(s) * cv[n])
		}
		y[p] = float32(acc)
	}
}

func ssmStepGo(st []float32, u, bv, cv []float64, y []float32, decay float64) {
	ssmGo(st, u, bv, cv, y, decay, 0)
}

// Quantize sets q[i] = RoundClip(x[i]·s, lo, hi) (the product clamped in
// float32, then rounded half away from zero in float64, as the model's
// activation quantizer) for i < len(x), and returns Σ q[i]. lo and hi must
// lie in [−128, 127]; x must hold no NaN.
func Quantize(q []int8, x []float32, s, lo, hi float32) int32 {
	q = q[:len(x)]
	i := 0
	var sum int32
	if active.quant != nil && len(x) >= 8 {
		i = len(x) &^ 7
		sum = active.quant(q[:i], x[:i], s, lo, hi)
	}
	return sum + quantGo(q[i:], x[i:], s, lo, hi)
}

func quantGo(q []int8, x []float32, s, lo, hi float32) int32 {
	var sum int32
	for i, v := range x {
		q[i] = int8(roundClip(v*s, lo, hi))
		sum += int32(q[i])
	}
	return sum
}

func roundClip(x, lo, hi float32) float32 {
	v := float64(min(max(x, lo), hi))
	return float32(math.Trunc(v + math.Copysign(0.5, v)))
}

// ScaleAcc sets y[o] = float32(float64(acc[o] − qsum)·gs / fs), the
// BitLinear output of an integer row product (the int32 difference wraps as
// Go's does).
func ScaleAcc(y []float32, acc []int32, qsum int32, gs, fs float64) {
	y = y[:len(acc)]
	i := 0
	if active.scale != nil && len(acc) >= 8 {
		i = len(acc) &^ 7
		active.scale(y[:i], acc[:i], qsum, gs, fs)
	}
	for o := i; o < len(acc); o++ {
		y[o] = float32(float64(acc[o]-qsum) * gs / fs)
	}
}

// F16HeadT computes out[v] = float32(Σ_k x[k]·e_v[k]), each a float64 sum
// in ascending k of the exact products, from F16 rows stored eight at a
// time interleaved by k: et[(g·d + k)·8 + r] is element k of row 8g+r
// (TransposeF16Rows). len(out) must be a multiple of 8 and d = len(x).
func F16HeadT(out []float32, x []float64, et []uint16) {
	d, groups := len(x), len(out)/8
	if len(out)%8 != 0 || len(et) < groups*d*8 {
		panic(fmt.Sprintf("dot.F16HeadT: %d rows (a multiple of 8), d %d, len(et) %d", len(out), d, len(et)))
	}
	if groups == 0 {
		return
	}
	if d == 0 {
		clear(out)
		return
	}
	if active.f16head != nil {
		active.f16head(out, x, et)
		return
	}
	f16HeadGo(out, x, et)
}

func f16HeadGo(out []float32, x []float64, et []uint16) {
	d := len(x)
	for g := 0; g < len(out)/8; g++ {
		var s [8]float64
		blk := et[g*d*8 : (g+1)*d*8]
		for k, xk := range x {
			e := blk[k*8 : k*8+8]
			for r := range s {
				s[r] += xk * float64(gguf.FP16ToFP32(e[r]))
			}
		}
		for r, v := range s {
			out[g*8+r] = float32(v)
		}
	}
}

// TransposeF16Rows interleaves rows [8g, 8g+8) of an F16 matrix (rows of d
// little-endian halves, rowBytes apart) for F16HeadT into et, which holds
// (rows/8)·d·8 halves; rows past the last multiple of 8 are left out.
func TransposeF16Rows(et []uint16, data []byte, rows, d, rowBytes int) {
	g := rows / 8
	et = et[:g*d*8]
	for v := 0; v < g*8; v++ {
		row := data[v*rowBytes:]
		base := (v/8)*d*8 + v%8
		for k := 0; k < d; k++ {
			et[base+k*8] = uint16(row[2*k]) | uint16(row[2*k+1])<<8
		}
	}
}
