package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// readQ3KRef reads testdata/q3k_ref.bin, the output of ggml's C functions
// (testdata/q3k_ref.c): the input values, ggml's blocks, and ggml's
// de-quantized values.
func readQ3KRef(t *testing.T) (x []float32, blocks []byte, deq []float32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "q3k_ref.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4 {
		t.Fatalf("q3k_ref.bin: %d bytes", len(b))
	}
	nb := int(binary.LittleEndian.Uint32(b))
	if want := 4 + nb*(QK_K*4+110+QK_K*4); nb <= 0 || len(b) != want {
		t.Fatalf("q3k_ref.bin: %d bytes for %d blocks, want %d", len(b), nb, want)
	}
	floats := func(p []byte) []float32 {
		out := make([]float32, len(p)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
		return out
	}
	p := b[4:]
	x = floats(p[:nb*QK_K*4])
	p = p[nb*QK_K*4:]
	blocks = p[:nb*110]
	deq = floats(p[nb*110:])
	return x, blocks, deq
}

// TestQ3KMatchesGGML compares Quantize(Q3_K) and Dequantize with ggml's
// quantize_row_q3_K_ref and dequantize_row_q3_K, built from ggml's source:
// the same bytes and the same float32 bits, block by block.
func TestQ3KMatchesGGML(t *testing.T) {
	x, want, wantDeq := readQ3KRef(t)
	got, err := Quantize(Q3_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d bytes, ggml %d", len(got), len(want))
	}
	for b := 0; b < len(want)/110; b++ {
		g, w := got[b*110:(b+1)*110], want[b*110:(b+1)*110]
		if !bytes.Equal(g, w) {
			for i := range g {
				if g[i] != w[i] {
					t.Errorf("block %d: byte %d = %#02x, ggml %#02x (ours %x, ggml %x)", b, i, g[i], w[i], g, w)
					break
				}
			}
		}
	}
	deq, err := Dequantize(Q3_K, want, len(x))
	if err != nil {
		t.Fatal(err)
	}
	for i := range deq {
		if math.Float32bits(deq[i]) != math.Float32bits(wantDeq[i]) {
			t.Fatalf("value %d (block %d): de-quantized %v, ggml %v", i, i/QK_K, deq[i], wantDeq[i])
		}
	}
	// The data exercise the paths: an all-zero block (d = 0), a sub-block
	// scale at each end of [−32, 31] and codes at both ends of [0, 7].
	var zeroD, lo, hi bool
	var codeLo, codeHi bool
	for b := 0; b < len(want)/110; b++ {
		blk := want[b*110 : (b+1)*110]
		if binary.LittleEndian.Uint16(blk[108:]) == 0 {
			zeroD = true
			continue
		}
		for _, s := range Q3KScales(blk) {
			lo, hi = lo || s == -32, hi || s == 31
		}
		for e := 0; e < QK_K; e++ {
			c := q3kCode(blk, e)
			codeLo, codeHi = codeLo || c == 0, codeHi || c == 7
		}
	}
	if !zeroD || !lo || !hi || !codeLo || !codeHi {
		t.Errorf("reference data miss a case: d = 0 %v, scale −32 %v, scale 31 %v, code 0 %v, code 7 %v", zeroD, lo, hi, codeLo, codeHi)
	}
}

// q3kCode is the 3-bit code of element e = 128h + 32j + l of a Q3_K block:
// low bits (qs[32h+l] >> 2j) & 3, high bit = bit 4h+j of hmask[l].
func q3kCode(blk []byte, e int) int {
	h, j, l := e/128, e%128/32, e%32
	low := int(blk[32+32*h+l]>>(2*j)) & 3
	high := int(blk[l]>>(4*h+j)) & 1
	return low + 4*high
}

// TestQ3KElementOrder checks DequantizeQ3K on random blocks against the
// element formula, with the scales unpacked the way the quantizer packs
// them (low four bits in byte j or the high nibble of byte j − 8, the top
// two bits in byte 8 + j%4 at bit 2·(j/4)).
func TestQ3KElementOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	blk := make([]byte, 110)
	got := make([]float32, QK_K)
	for trial := 0; trial < 200; trial++ {
		for i := range blk {
			blk[i] = byte(r.Uint32())
		}
		// A finite d, sometimes subnormal.
		d := uint16(r.Uint32()) & 0xfbff
		binary.LittleEndian.PutUint16(blk[108:], d)
		DequantizeQ3K(got, blk)
		df := FP16ToFP32(d)
		for e := 0; e < QK_K; e++ {
			is := e / 16
			var s int
			if is < 8 {
				s = int(blk[96+is] & 0xf)
			} else {
				s = int(blk[96+is-8] >> 4)
			}
			s |= int(blk[96+8+is%4]>>(2*(is/4))&3) << 4
			want := df * float32(s-32) * float32(q3kCode(blk, e)-4)
			if math.Float32bits(got[e]) != math.Float32bits(want) {
				t.Fatalf("trial %d element %d: %v, want %v", trial, e, got[e], want)
			}
		}
	}
}

// TestQ3KRoundTrip quantizes random blocks: de-quantizing and quantizing
// again gives the same blocks' values, and the error is within a step.
func TestQ3KRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 8*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * 0.05
	}
	b, err := Quantize(Q3_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8*110 {
		t.Fatalf("%d bytes, want %d", len(b), 8*110)
	}
	y, err := Dequantize(Q3_K, b, len(x))
	if err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < 8; blk++ {
		blkb := b[blk*110 : (blk+1)*110]
		d := FP16ToFP32(binary.LittleEndian.Uint16(blkb[108:]))
		sc := Q3KScales(blkb)
		var se, sx float64
		for j := 0; j < QK_K; j++ {
			i := blk*QK_K + j
			// A value inside the codes' range [−4, 3]·step is off by at
			// most half a step, the rest by its distance to the range.
			step := math.Abs(float64(d) * float64(sc[j/16]))
			e := math.Abs(float64(y[i]) - float64(x[i]))
			lo, hi := -4*step, 3*step
			if float64(d)*float64(sc[j/16]) < 0 {
				lo, hi = -3*step, 4*step
			}
			bound := step/2*(1+1e-6) + max(0, float64(x[i])-hi, lo-float64(x[i]))
			if e > bound {
				t.Fatalf("value %d: |%v − %v| = %g > %g (step %g)", i, y[i], x[i], e, bound, step)
			}
			se += e * e
			sx += float64(x[i]) * float64(x[i])
		}
		// 3.4 bits: a relative RMS error well under 20%.
		if rel := math.Sqrt(se / sx); rel > 0.2 {
			t.Errorf("block %d: relative RMS error %.3f", blk, rel)
		}
	}
}

func TestQ3KType(t *testing.T) {
	for _, s := range []string{"q3_k", "Q3_K", "q3_K"} {
		if typ, err := ParseType(s); err != nil || typ != Q3_K {
			t.Errorf("ParseType(%q) = %v, %v", s, typ, err)
		}
	}
	if Q3_K != 11 || Q3_K.String() != "Q3_K" || Q3_K.BlockSize() != 256 || Q3_K.TypeSize() != 110 {
		t.Errorf("Q3_K = %d %s, %d values in %d bytes", uint32(Q3_K), Q3_K, Q3_K.BlockSize(), Q3_K.TypeSize())
	}
	if n, err := RowBytes(Q3_K, 512); err != nil || n != 220 {
		t.Errorf("RowBytes(Q3_K, 512) = %d, %v", n, err)
	}
	for _, c := range []struct {
		n    int
		nan  bool
		name string
	}{{255, false, "255 values"}, {100, false, "100 values"}, {256, true, "a NaN"}} {
		x := make([]float32, c.n)
		if c.nan {
			x[7] = float32(math.NaN())
		}
		if _, err := Quantize(Q3_K, x); err == nil {
			t.Errorf("Q3_K of %s accepted", c.name)
		}
	}
	if _, err := Dequantize(Q3_K, make([]byte, 109), 256); err == nil {
		t.Error("Dequantize of a short Q3_K block accepted")
	}
}

// TestNearestInt compares ggml's nearest_int trick with rounding half to
// even where ggml uses it (|x| ≤ 4194303).
func TestNearestInt(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	xs := []float32{0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.4999998, 4194303, -4194303, 1e-30}
	for i := 0; i < 10000; i++ {
		xs = append(xs, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(7)))))
	}
	for _, x := range xs {
		if got, want := nearestInt(x), int32(math.RoundToEven(float64(x))); got != want {
			t.Errorf("nearestInt(%v) = %d, want %d", x, got, want)
		}
	}
}
