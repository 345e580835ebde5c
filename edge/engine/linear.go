package engine

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// minScale is the lower clamp of max|x| in the activation quantizer (the
// model's minScale).
const minScale = 1e-5

// roundClip clamps to [lo, hi] and rounds half away from zero, exactly as
// the model's activation quantizer does.
func roundClip(x, lo, hi float32) float32 {
	v := float64(min(max(x, lo), hi))
	return float32(math.Trunc(v + math.Copysign(0.5, v)))
}

// rmsNorm writes out = x / sqrt(mean(x²) + eps) ⊙ g with the model's
// arithmetic (a float64 sum of squares, the reciprocal rounded to float32,
// then (x·r)·g in float32).
func rmsNorm(out, x, g []float32, eps float64) {
	var ss [1]float64
	vec.SumSquaresRows(ss[:], x, len(x))
	rs := float32(1 / math.Sqrt(ss[0]/float64(len(x))+eps))
	vec.ScaleMul(out, x, g, rs)
}

// forward computes y (out) = BitLinear(x) for one token: Σ (t+1)·q per
// row from the dot kernels, minus Σ q, is the exact Σ t·q.
func (m *Model) forward(l *linear, y, x []float32) {
	m.forwardRS(l, y, x, 0)
}

// subRS is SubLN's 1/sqrt(mean(x²) + eps) (rmsNorm's), which projections
// sharing an input share.
func (m *Model) subRS(x []float32) float32 {
	var ss [1]float64
	vec.SumSquaresRows(ss[:], x, len(x))
	return float32(1 / math.Sqrt(ss[0]/float64(len(x))+m.eps))
}

// forwardRS is forward with SubLN's reciprocal RMS of x given (rs = 0: not
// yet computed).
func (m *Model) forwardRS(l *linear, y, x []float32, rs float32) {
	ws := m.ws
	src := x[:l.in]
	if l.subln != nil {
		if rs == 0 {
			rs = m.subRS(src)
		}
		vec.ScaleMul(ws.sub[:l.in], src, l.subln, rs)
		src = ws.sub[:l.in]
	}
	if l.wf != nil {
		floatRows(y[:l.out], l.wf, src)
		return
	}
	if m.actBits == 0 {
		m.forwardFloat(l, y, src)
		return
	}
	qmax := float32(int(1)<<(m.actBits-1) - 1)
	qmin := -float32(int(1) << (m.actBits - 1))
	s := qmax / max(vec.AbsMax(src), minScale)
	pad := l.w.width
	q := ws.q[:pad]
	qsum := dot.Quantize(q[:l.in], src, s, qmin, qmax)
	clear(q[l.in:])
	acc := ws.acc[:l.out]
	if th := m.rowThreads(l); th > 1 {
		ws.rows = rowsJob{l, acc, q}
		kernels.Parallel(th, l.out, ws.rowsFn)
		ws.rows = rowsJob{}
	} else {
		ternaryRows(l, acc, q, 0, l.out)
	}
	dot.ScaleAcc(y[:l.out], acc, qsum, float64(l.scale), float64(s))
}

// ternaryRows sets acc[lo:hi] to the packed row products of rows [lo, hi).
func ternaryRows(l *linear, acc []int32, q []int8, lo, hi int) {
	rb, nb := l.w.rowBytes, l.w.width/gguf.QK_K
	if l.w.typ == gguf.TQ1_0 {
		dot.TQ1Rows(acc[lo:hi], l.w.data[lo*rb:hi*rb], q, nb)
	} else {
		dot.TQ2RowsLive(acc[lo:hi], l.w.data[lo*rb:hi*rb], q, nb, l.in)
	}
}

// rowThreads uses one goroutine per ~64k packed weights.
func (m *Model) rowThreads(l *linear) int {
	return min(m.threads, max(1, l.out*l.w.width/(1<<16)))
}

// floatRows sets y[o] = float32(Σ_k w[o,k]·x[k]) for float weights, the
// products of two float32 exact in float64 and summed in ascending k in
// float64 (explicit conversions: no fused multiply-add on any machine), then
// rounded once.
func floatRows(y, w, x []float32) {
	in := len(x)
	for o := range y {
		row := w[o*in : o*in+in]
		var s float64
		for k, v := range row {
			s += float64(float64(v) * float64(x[k]))
		}
		y[o] = float32(s)
	}
}

// forwardFloat is the BitLinear without activation quantization:
// y = γ·Σ t·x, the sum in float64 of exact terms, rounded once.
func (m *Model) forwardFloat(l *linear, y, x []float32) {
	var codes [gguf.QK_K]uint8
	bs := l.w.typ.TypeSize()
	for o := 0; o < l.out; o++ {
		row := l.w.data[o*l.w.rowBytes : (o+1)*l.w.rowBytes]
		var s float64
		for b := 0; b*bs < len(row); b++ {
			gguf.TernaryCodes(l.w.typ, row[b*bs:(b+1)*bs], codes[:])
			for j, c := range codes {
				if k := b*gguf.QK_K + j; k < len(x) {
					s += float64(int(c)-1) * float64(x[k])
				}
			}
		}
		y[o] = float32(s * float64(l.scale))
	}
}

// embedRow writes row v of the embedding (de-quantized, exact in float32).
func (m *Model) embedRow(dst []float32, v int) {
	e := m.embed
	row := e.data[v*e.rowBytes : (v+1)*e.rowBytes]
	switch e.typ {
	case gguf.F32:
		for i := range dst[:e.width] {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
		}
	case gguf.F16:
		tab := fp16Table()
		if m.headT != nil && v < len(m.headT)/m.D {
			// The float head's interleaved copy holds this row: reading it
			// there leaves the evicted file pages alone.
			t := m.headT[(v/8)*m.D*8+v%8:]
			for i := range dst[:e.width] {
				dst[i] = tab[t[i*8]]
			}
			return
		}
		row = row[:2*e.width]
		for i := range dst[:e.width] {
			dst[i] = tab[uint16(row[2*i])|uint16(row[2*i+1])<<8]
		}
	case gguf.Q8_0:
		if m.headQ != nil {
			// The head's copy (the mapped rows were let go).
			m.headQ.Row(dst[:e.width], v)
			return
		}
		for b := 0; b < e.width/gguf.QK8_0; b++ {
			blk := row[b*34:]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < gguf.QK8_0; j++ {
				dst[b*gguf.QK8_0+j] = float32(int8(blk[2+j])) * d
			}
		}
	case gguf.Q4_0:
		if m.headQ != nil {
			m.headQ.Row(dst[:e.width], v)
			return
		}
		for b := 0; b < e.width/gguf.QK4_0; b++ {
			blk := row[b*18:]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < gguf.QK4_0/2; j++ {
				dst[b*gguf.QK4_0+j] = float32(int(blk[2+j]&0x0f)-8) * d
				dst[b*gguf.QK4_0+gguf.QK4_0/2+j] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	case gguf.Q3_K:
		if m.headQ != nil {
			m.headQ.Row(dst[:e.width], v)
			return
		}
		for b := 0; b < e.width/gguf.QK_K; b++ {
			embedQ3K(dst[b*gguf.QK_K:(b+1)*gguf.QK_K], row[b*110:(b+1)*110])
		}
	}
}

// embedQ3K de-quantizes one Q3_K block (hmask[32], qs[64], scales[12],
// fp16 d) as ggml's dequantize_row_q3_K does: element 128h + 32j + l has
// the code c = ((qs[32h+l] >> 2j) & 3) + 4·(bit 4h+j of hmask[l]) ∈ [0, 7]
// and the value dl·float32(c − 4), dl = d·float32(sc) with sc ∈ [−32, 31]
// the 6-bit scale of its sixteen (is = 2(4h+j) + l/16: low four bits in
// scales[is] or the high nibble of scales[is−8], the top two bits at bit
// 2·(is/4) of scales[8 + is%4]), minus 32. Both products are float32.
func embedQ3K(dst []float32, blk []byte) {
	_, _ = dst[gguf.QK_K-1], blk[109]
	hm, qs, sb := blk[:32], blk[32:96], blk[96:108]
	d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk[108:]))
	for is := 0; is < 16; is++ {
		lo := sb[is%8] & 0xf
		if is >= 8 {
			lo = sb[is-8] >> 4
		}
		sc := int(lo|(sb[8+is%4]>>(2*(is/4))&3)<<4) - 32
		dl := d * float32(sc)
		g := is / 2 // 4h + j
		h, shift := g/4, 2*(g%4)
		q := qs[32*h:]
		for l := 16 * (is % 2); l < 16*(is%2)+16; l++ {
			c := int(q[l]>>shift&3) + 4*int(hm[l]>>g&1)
			dst[32*g+l] = dl * float32(c-4)
		}
	}
}

// logits writes the tied output head. With HeadFloat, logits[v] =
// Σ_k x[k]·E[v,k], each a float64 sum of exact products (the de-quantized
// embedding values are exact float32) rounded once. With HeadInt8 (Q8_0,
// Q4_0 or Q3_K embeddings), x is quantized per token like a BitLinear input
// with 8 bits, s = 127/max(max|x|, 1e-5), q = RoundClip(x·s, −127, 127),
// and logits[v] = float32(r_v / s), r_v the product of row v with q as
// ggml's reference vec_dot forms it: the exact integer product of each
// block (32 weights for Q8_0 / Q4_0, a 256-weight super-block for Q3_K)
// times its fp16 scale, rounded to float32 and added to one float32 sum in
// block order (no fused multiply-add), computed on the embedding's
// dot.QHead copy (QHead.HeadRowsDiv: one sequential stream).
func (m *Model) logits(out, x []float32) {
	if m.head == HeadInt8 {
		m.logitsInt8(out, x)
		return
	}
	th := min(m.threads, max(1, m.V*m.D/(1<<16)))
	lo := 0
	if m.embed.typ == gguf.F16 && m.V >= 8 {
		// F16 rows interleaved eight at a time (built on first use; the
		// head then reads this copy instead of the mapped embedding): the
		// eight rows' chains run in the lanes of one vector.
		if m.headT == nil {
			m.buildHeadT()
		}
		x64 := m.ws.x64[:m.D]
		for k, v := range x[:m.D] {
			x64[k] = float64(v)
		}
		g := m.V / 8
		if th := min(th, g); th > 1 {
			m.ws.f16.out, m.ws.f16.x64 = out, x64
			kernels.Parallel(th, g, m.ws.f16Fn)
			m.ws.f16.out, m.ws.f16.x64 = nil, nil
		} else {
			m.f16HeadGroups(out, x64, 0, g)
		}
		lo = g * 8
	}
	if lo == m.V {
		return
	}
	kernels.Parallel(min(th, m.V-lo), m.V-lo, func(a, b int) {
		lo, hi := lo+a, lo+b
		// Four rows at a time: four independent float64 chains, each in
		// ascending k as before (the products of two float32 are exact).
		buf := make([]float32, 4*m.D)
		r0, r1, r2, r3 := buf[:m.D], buf[m.D:2*m.D], buf[2*m.D:3*m.D], buf[3*m.D:]
		v := lo
		for ; v+4 <= hi; v += 4 {
			m.embedRow(r0, v)
			m.embedRow(r1, v+1)
			m.embedRow(r2, v+2)
			m.embedRow(r3, v+3)
			var s0, s1, s2, s3 float64
			for k, xv := range x[:m.D] {
				xk := float64(xv)
				s0 += xk * float64(r0[k])
				s1 += xk * float64(r1[k])
				s2 += xk * float64(r2[k])
				s3 += xk * float64(r3[k])
			}
			out[v], out[v+1], out[v+2], out[v+3] = float32(s0), float32(s1), float32(s2), float32(s3)
		}
		for ; v < hi; v++ {
			m.embedRow(r0, v)
			var s float64
			for k, e := range r0 {
				s += float64(x[k]) * float64(e)
			}
			out[v] = float32(s)
		}
	})
}

// f16HeadGroups sets out[8a:8b] from the interleaved F16 rows of groups
// [a, b) (dot.F16HeadT).
func (m *Model) f16HeadGroups(out []float32, x64 []float64, a, b int) {
	dot.F16HeadT(out[8*a:8*b], x64, m.headT[a*m.D*8:b*m.D*8])
}

func (m *Model) logitsInt8(out, x []float32) {
	s := float32(127) / max(vec.AbsMax(x), minScale)
	q := m.ws.q[:m.D]
	dot.Quantize(q, x, s, -127, 127)
	if m.headQ != nil {
		m.headQ.Acts(m.ws.hk, q)
	}
	if th := min(m.threads, max(1, m.V*m.D/(1<<16))); th > 1 {
		w := m.ws
		w.head.out, w.head.q, w.head.s = out, q, s
		kernels.Parallel(th, m.V, w.headFn)
		w.head.out, w.head.q = nil, nil
	} else {
		m.int8HeadRows(out, q, s, 0, m.V)
	}
}

// int8HeadRows sets out[lo:hi] to the block products of embedding rows
// [lo, hi) with the quantized hidden state q, divided by s, on the
// embedding's dot.QHead copy (SetHead builds it whenever the head is
// HeadInt8).
func (m *Model) int8HeadRows(out []float32, q []int8, s float32, lo, hi int) {
	m.headQ.HeadRowsDiv(out[lo:hi], lo, q, m.ws.hk, s)
}

var fp16Tab = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for h := range t {
		t[h] = gguf.FP16ToFP32(uint16(h))
	}
	return t
})

// fp16Table is gguf.FP16ToFP32 for every half (256 KiB, built once).
func fp16Table() *[1 << 16]float32 { return fp16Tab() }

// buildHeadT interleaves the F16 embedding for the float head, 1024 rows at
// a time, letting each chunk of the mapped file leave the resident set once
// copied: the head reads only the copy, so the process holds the embedding
// about once, not twice.
func (m *Model) buildHeadT() {
	e := m.embed
	g := m.V / 8
	m.headT = make([]uint16, g*m.D*8)
	const chunk = 1024
	for v := 0; v < g*8; v += chunk {
		n := min(chunk, g*8-v)
		dot.TransposeF16Rows(m.headT[v*m.D:(v+n)*m.D], e.data[v*e.rowBytes:(v+n)*e.rowBytes], n, m.D, e.rowBytes)
		m.File.Evict(e.data[v*e.rowBytes : (v+n)*e.rowBytes])
	}
}
