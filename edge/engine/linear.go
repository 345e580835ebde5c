package engine

import (
	"encoding/binary"
	"math"

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

// trits[b] are the five base-3 codes of a TQ1_0 byte, most significant first.
var trits = func() (t [256][5]int32) {
	for b := range t {
		for n := 0; n < 5; n++ {
			t[b][n] = int32(gguf.Trit(uint8(b), n))
		}
	}
	return
}()

// forward computes y (out) = BitLinear(x) for one token. sub, q and bsum
// are scratch (in, in padded, blocks).
func (m *Model) forward(l *linear, y, x []float32) {
	ws := m.ws
	src := x[:l.in]
	if l.subln != nil {
		rmsNorm(ws.sub[:l.in], src, l.subln, m.eps)
		src = ws.sub[:l.in]
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
	for i, v := range src {
		q[i] = int8(roundClip(v*s, qmin, qmax))
	}
	clear(q[l.in:])
	nb := pad / gguf.QK_K
	bsum := ws.bsum[:nb]
	for b := range bsum {
		var t int32
		for _, v := range q[b*gguf.QK_K : (b+1)*gguf.QK_K] {
			t += int32(v)
		}
		bsum[b] = t
	}
	gs := float64(l.scale)
	fs := float64(s)
	dot := dotTQ2
	if l.w.typ == gguf.TQ1_0 {
		dot = dotTQ1
	}
	rb := l.w.rowBytes
	kernels.Parallel(m.rowThreads(l), l.out, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			acc := dot(l.w.data[o*rb:(o+1)*rb], q, bsum)
			y[o] = float32(float64(acc) * gs / fs)
		}
	})
}

// rowThreads uses one goroutine per ~64k packed weights.
func (m *Model) rowThreads(l *linear) int {
	return min(m.threads, max(1, l.out*l.w.width/(1<<16)))
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

// dotTQ2 returns Σ t·q over one packed TQ2_0 row: Σ (t+1)·q − Σ q per block.
// Byte 32h+m holds the codes of elements 128h+m, +32, +64, +96 at bits 0, 2,
// 4, 6.
func dotTQ2(row []byte, q []int8, bsum []int32) int32 {
	var acc int32
	for b := range bsum {
		blk := row[b*66 : b*66+64]
		xq := q[b*gguf.QK_K : (b+1)*gguf.QK_K]
		var s int32
		for h := 0; h < 2; h++ {
			qs := blk[32*h : 32*h+32]
			x0, x1, x2, x3 := xq[128*h:128*h+32], xq[128*h+32:128*h+64], xq[128*h+64:128*h+96], xq[128*h+96:128*h+128]
			for m, c := range qs {
				s += int32(c&3)*int32(x0[m]) + int32(c>>2&3)*int32(x1[m]) +
					int32(c>>4&3)*int32(x2[m]) + int32(c>>6)*int32(x3[m])
			}
		}
		acc += s - bsum[b]
	}
	return acc
}

// dotTQ1 returns Σ t·q over one packed TQ1_0 row (see gguf.quantTQ1_0 for
// the element order).
func dotTQ1(row []byte, q []int8, bsum []int32) int32 {
	var acc int32
	for b := range bsum {
		blk := row[b*54 : b*54+52]
		xq := q[b*gguf.QK_K : (b+1)*gguf.QK_K]
		var s int32
		for m, c := range blk[:32] {
			t := &trits[c]
			s += t[0]*int32(xq[m]) + t[1]*int32(xq[32+m]) + t[2]*int32(xq[64+m]) + t[3]*int32(xq[96+m]) + t[4]*int32(xq[128+m])
		}
		for m, c := range blk[32:48] {
			t := &trits[c]
			s += t[0]*int32(xq[160+m]) + t[1]*int32(xq[176+m]) + t[2]*int32(xq[192+m]) + t[3]*int32(xq[208+m]) + t[4]*int32(xq[224+m])
		}
		for m, c := range blk[48:52] {
			t := &trits[c]
			s += t[0]*int32(xq[240+m]) + t[1]*int32(xq[244+m]) + t[2]*int32(xq[248+m]) + t[3]*int32(xq[252+m])
		}
		acc += s - bsum[b]
	}
	return acc
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
		for i := range dst[:e.width] {
			dst[i] = gguf.FP16ToFP32(binary.LittleEndian.Uint16(row[2*i:]))
		}
	case gguf.Q8_0:
		for b := 0; b < e.width/gguf.QK8_0; b++ {
			blk := row[b*34:]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < gguf.QK8_0; j++ {
				dst[b*gguf.QK8_0+j] = float32(int8(blk[2+j])) * d
			}
		}
	case gguf.Q4_0:
		for b := 0; b < e.width/gguf.QK4_0; b++ {
			blk := row[b*18:]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < gguf.QK4_0/2; j++ {
				dst[b*gguf.QK4_0+j] = float32(int(blk[2+j]&0x0f)-8) * d
				dst[b*gguf.QK4_0+gguf.QK4_0/2+j] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	}
}

// logits writes the tied output head: logits[v] = Σ_k x[k]·E[v,k], each a
// float64 sum of exact products (the de-quantized embedding values are
// exact float32) rounded once.
func (m *Model) logits(out, x []float32) {
	kernels.Parallel(min(m.threads, max(1, m.V*m.D/(1<<16))), m.V, func(lo, hi int) {
		row := make([]float32, m.D)
		for v := lo; v < hi; v++ {
			m.embedRow(row, v)
			var s float64
			for k, e := range row {
				s += float64(x[k]) * float64(e)
			}
			out[v] = float32(s)
		}
	})
}
