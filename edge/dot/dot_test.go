package dot

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// The oracles below decode every weight with the gguf package's own
// routines (TernaryCodes, FP16ToFP32) and sum with plain scalar loops in
// element order, independently of the kernels under test; the tests run
// each available kernel set (only the Go loops under -tags purego) against
// them.

func oracleTernary(typ gguf.Type, w []byte, q []int8, nb, rows int) []int32 {
	bs := typ.TypeSize()
	var codes [gguf.QK_K]uint8
	out := make([]int32, rows)
	for r := 0; r < rows; r++ {
		var s int64
		for b := 0; b < nb; b++ {
			off := (r*nb + b) * bs
			if _, err := gguf.TernaryCodes(typ, w[off:off+bs], codes[:]); err != nil {
				panic(err)
			}
			for j, c := range codes {
				s += int64(c) * int64(q[b*gguf.QK_K+j])
			}
		}
		out[r] = int32(s)
	}
	return out
}

// oracleHead follows the formula of the package documentation literally
// (without the final division): per block the exact sum, scaled by the
// block's d and added to one float32 sum.
func oracleHead(typ gguf.Type, w []byte, q []int8, nb, rows int) []float32 {
	bs := Q8Block
	if typ == gguf.Q4_0 {
		bs = Q4Block
	}
	out := make([]float32, rows)
	for r := 0; r < rows; r++ {
		var f float32
		for b := 0; b < nb; b++ {
			blk := w[(r*nb+b)*bs : (r*nb+b+1)*bs]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk))
			val := func(j int) int64 {
				if typ == gguf.Q8_0 {
					return int64(int8(blk[2+j]))
				}
				if j < 16 {
					return int64(blk[2+j]&15) - 8
				}
				return int64(blk[2+j-16]>>4) - 8
			}
			var p int64
			for j := 0; j < 32; j++ {
				p += val(j) * int64(q[32*b+j])
			}
			prod := float32(float32(p) * d)
			f = f + prod
		}
		out[r] = f
	}
	return out
}

// eachSet runs fn with every kernel set this machine has.
func eachSet(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	defer Use("")
	for _, name := range KernelSets() {
		if err := Use(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, fn)
	}
}

type fill int

const (
	random fill = iota
	low         // q = −128 (ternary) / −127 (head); codes 0; w = −128 / nibble 0
	high        // q = 127; codes 2; w = 127 / nibble 15
	mixed       // alternating extremes
	// wide (head rows only): large weights and activations of random
	// signs and odd-mantissa scales, so that most I_b·d products round
	// (a fused multiply-add would change the bits).
	wide
)

func actValues(r *rand.Rand, n int, f fill, lo int8) []int8 {
	q := make([]int8, n)
	for i := range q {
		switch f {
		case random:
			q[i] = int8(int(lo) + r.IntN(128-int(lo)))
		case low:
			q[i] = lo
		case high:
			q[i] = 127
		case wide:
			v := 64 + r.IntN(64)
			if r.IntN(2) == 0 {
				v = -v
			}
			q[i] = int8(v)
		case mixed:
			if i%3 == 0 {
				q[i] = lo
			} else {
				q[i] = 127
			}
		}
	}
	return q
}

func ternaryWeights(r *rand.Rand, typ gguf.Type, nb, rows int, f fill) []byte {
	var w []byte
	for i := 0; i < rows*nb; i++ {
		vals := make([]float32, gguf.QK_K)
		for j := range vals {
			switch f {
			case random:
				vals[j] = float32(r.IntN(3) - 1)
			case low:
				vals[j] = -1
			case high:
				vals[j] = 1
			case mixed:
				vals[j] = float32(j%3 - 1)
			}
		}
		vals[0] = 1 // a block scale of 1
		blk, err := gguf.Quantize(typ, vals)
		if err != nil {
			panic(err)
		}
		w = append(w, blk...)
	}
	return w
}

func TestTernaryRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	eachSet(t, func(t *testing.T) {
		for _, typ := range []gguf.Type{gguf.TQ2_0, gguf.TQ1_0} {
			for _, nb := range []int{1, 2, 3, 5} {
				for _, rows := range []int{1, 2, 3, 7, 17} {
					for _, f := range []fill{random, low, high, mixed} {
						w := ternaryWeights(r, typ, nb, rows, f)
						q := actValues(r, nb*gguf.QK_K, f, -128)
						want := oracleTernary(typ, w, q, nb, rows)
						got := make([]int32, rows)
						if typ == gguf.TQ2_0 {
							TQ2Rows(got, w, q, nb)
						} else {
							TQ1Rows(got, w, q, nb)
						}
						for i := range got {
							if got[i] != want[i] {
								t.Fatalf("%s nb=%d rows=%d fill=%d: row %d = %d, oracle %d", typ, nb, rows, f, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

// TQ2RowsLive with the activations past live zero (the half-block kernel
// for live ≤ 128, rows in fours and a remainder) equals the oracle.
func TestTernaryRowsLive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	eachSet(t, func(t *testing.T) {
		for _, nb := range []int{1, 2} {
			for _, live := range []int{1, 100, 128, 129, 256} {
				for _, rows := range []int{1, 3, 4, 8, 13} {
					for _, f := range []fill{random, low, high, mixed} {
						w := ternaryWeights(r, gguf.TQ2_0, nb, rows, f)
						q := actValues(r, nb*gguf.QK_K, f, -128)
						clear(q[min(live, len(q)):])
						want := oracleTernary(gguf.TQ2_0, w, q, nb, rows)
						got := make([]int32, rows)
						TQ2RowsLive(got, w, q, nb, live)
						for i := range got {
							if got[i] != want[i] {
								t.Fatalf("nb=%d live=%d rows=%d fill=%d: row %d = %d, oracle %d", nb, live, rows, f, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

// Every TQ2_0 code in every position: weights with the three codes at all
// bit offsets, activations ±extremes in each half of the block.
func TestTernaryCodesAllPositions(t *testing.T) {
	eachSet(t, func(t *testing.T) {
		for code := 0; code < 3; code++ {
			for pos := 0; pos < gguf.QK_K; pos += 7 {
				vals := make([]float32, gguf.QK_K)
				vals[pos] = float32(code - 1)
				vals[(pos+128)%gguf.QK_K] = 1
				w, _ := gguf.Quantize(gguf.TQ2_0, vals)
				for _, x := range []int8{-128, 127, -1} {
					q := make([]int8, gguf.QK_K)
					q[pos] = x
					q[(pos+128)%gguf.QK_K] = -x / 2
					want := oracleTernary(gguf.TQ2_0, w, q, 1, 1)
					var got [1]int32
					TQ2Rows(got[:], w, q, 1)
					if got[0] != want[0] {
						t.Fatalf("code %d at %d, q %d: %d, oracle %d", code, pos, x, got[0], want[0])
					}
				}
			}
		}
	})
}

func headWeights(r *rand.Rand, typ gguf.Type, nb, rows int, f fill) []byte {
	bs := Q8Block
	if typ == gguf.Q4_0 {
		bs = Q4Block
	}
	scales := []uint16{0x3c00, 0x7bff, 0x0001, 0xbc00, 0x0400, 0x2e66, 0x8000, 0x0000, 0x83ff}
	w := make([]byte, rows*nb*bs)
	for i := 0; i < rows*nb; i++ {
		blk := w[i*bs : (i+1)*bs]
		d := uint16(r.Uint32()) & 0x7bff // finite
		if f == wide {
			d = uint16(r.Uint32())&0xbbff | 1 // finite, odd mantissa
		} else if f != random || i%5 == 0 {
			d = scales[i%len(scales)]
		}
		binary.LittleEndian.PutUint16(blk, d)
		for j := 2; j < bs; j++ {
			switch f {
			case random:
				blk[j] = byte(r.Uint32())
			case low:
				blk[j] = 0x80 // −128 / nibbles 0 (−8)
				if typ == gguf.Q4_0 {
					blk[j] = 0
				}
			case high:
				blk[j] = 0x7f // 127 / nibbles 15 and 7
				if typ == gguf.Q4_0 {
					blk[j] = 0xff
				}
			case mixed:
				blk[j] = byte([]int{0x80, 0x7f, 0x00, 0x0f, 0xf0}[j%5])
			case wide:
				v := 64 + r.IntN(64)
				if r.IntN(2) == 0 {
					v = -v
				}
				blk[j] = byte(int8(v))
				if typ == gguf.Q4_0 {
					blk[j] = []byte{0x00, 0x0f, 0xf0, 0xff}[r.IntN(4)]
				}
			}
		}
	}
	return w
}

// QHead.HeadRowsDiv is the oracle's row product followed by a float32
// division, bit for bit, on every kernel set (−128 activations, extreme
// weights, subnormal, zero and negative-zero scales included), for row
// counts and row ranges that are not multiples of the sixteen-row group.
func TestHeadRowsDiv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	eachSet(t, func(t *testing.T) {
		for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0} {
			for _, nb := range []int{1, 2, 4, 16, 17} {
				for _, rows := range []int{1, 5, 9, 16, 23, 32, 49} {
					for _, f := range []fill{random, low, high, mixed, wide} {
						for _, s := range []float32{1, 3.7, 1e-3, 127 / 0.0123} {
							w := headWeights(r, typ, nb, rows, f)
							q := actValues(r, nb*32, f, -128)
							want := oracleHead(typ, w, q, nb, rows)
							h, err := NewQHead(typ, w, rows, nb)
							if err != nil {
								t.Fatal(err)
							}
							k := make([]int32, nb*8)
							h.Acts(k, q)
							for _, rg := range [][2]int{{0, rows}, {1, rows}, {rows / 2, rows}, {min(3, rows), max(min(3, rows), rows-2)}, {min(16, rows), rows}} {
								lo := rg[0]
								got := make([]float32, rg[1]-lo)
								h.HeadRowsDiv(got, lo, q, k, s)
								for i := range got {
									if want := want[lo+i] / s; math.Float32bits(got[i]) != math.Float32bits(want) {
										t.Fatalf("%s nb=%d rows=%d fill=%d s=%v from %d: row %d = %v, oracle %v", typ, nb, rows, f, s, lo, lo+i, got[i], want)
									}
								}
							}
						}
					}
				}
			}
		}
	})
	for _, c := range []struct {
		typ  gguf.Type
		size int
	}{{gguf.Q8_0, 33}, {gguf.Q4_0, 17}, {gguf.F16, 64}} {
		if _, err := NewQHead(c.typ, make([]byte, c.size), 1, 1); err == nil {
			t.Errorf("NewQHead accepted %d bytes of %s for one block", c.size, c.typ)
		}
	}
}

// A QHead filled a few rows at a time (CopyRows) holds the same matrix as
// NewQHead's, and Row de-quantizes its rows exactly (gguf.Dequantize's
// values), whatever the group the row falls in; a matrix past 2 MiB (huge
// pages on linux) included.
func TestQHeadRowsAndChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0} {
		bs := Q8Block
		if typ == gguf.Q4_0 {
			bs = Q4Block
		}
		for _, c := range []struct{ rows, nb, chunk int }{
			{1, 1, 1}, {7, 2, 3}, {9, 3, 4}, {23, 16, 5}, {4100, 16, 1024},
		} {
			w := headWeights(r, typ, c.nb, c.rows, random)
			a, err := NewQHead(typ, w, c.rows, c.nb)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewQHeadEmpty(typ, c.rows, c.nb)
			if err != nil {
				t.Fatal(err)
			}
			rb := c.nb * bs
			for lo := 0; lo < c.rows; lo += c.chunk {
				hi := min(lo+c.chunk, c.rows)
				b.CopyRows(w[lo*rb:hi*rb], lo, hi)
			}
			if string(a.buf) != string(b.buf) {
				t.Fatalf("%s rows %d nb %d: CopyRows in chunks of %d differs from NewQHead", typ, c.rows, c.nb, c.chunk)
			}
			got := make([]float32, c.nb*32)
			for row := 0; row < c.rows; row++ {
				want, err := gguf.Dequantize(typ, w[row*rb:(row+1)*rb], c.nb*32)
				if err != nil {
					t.Fatal(err)
				}
				b.Row(got, row)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s rows %d nb %d: row %d element %d = %v, want %v", typ, c.rows, c.nb, row, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// The head product approximates Σ d·w·q in exact arithmetic.
func TestHeadValue(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 512)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0} {
		w, err := gguf.Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		deq, _ := gguf.Dequantize(typ, w, len(x))
		q := actValues(r, 512, random, -127)
		var exact, mag float64
		for i := range deq {
			exact += float64(deq[i]) * float64(q[i])
			mag += math.Abs(float64(deq[i]) * float64(q[i]))
		}
		h, err := NewQHead(typ, w, 1, 16)
		if err != nil {
			t.Fatal(err)
		}
		k := make([]int32, 16*8)
		h.Acts(k, q)
		var got [1]float32
		h.HeadRowsDiv(got[:], 0, q, k, 1)
		if d := math.Abs(float64(got[0]) - exact); d > 1e-5*mag {
			t.Errorf("%s: %v, exact %v (|Δ| %g > 1e-5·%g)", typ, got[0], exact, d, mag)
		}
	}
}

func TestUse(t *testing.T) {
	defer Use("")
	if err := Use("sse9"); err == nil {
		t.Fatal("Use(sse9) succeeded")
	}
	sets := KernelSets()
	if sets[len(sets)-1] != "purego" || KernelSet() != sets[0] {
		t.Fatalf("sets %v, active %s", sets, KernelSet())
	}
	// Short buffers are refused before any unchecked access.
	defer func() {
		if recover() == nil {
			t.Error("TQ2Rows with a short weight buffer did not panic")
		}
	}()
	TQ2Rows(make([]int32, 2), make([]byte, TQ2Block), make([]int8, 256), 1)
}

func benchRows(b *testing.B, typ gguf.Type, rows, nb int) {
	r := rand.New(rand.NewPCG(9, 10))
	w := ternaryWeights(r, typ, nb, rows, random)
	k := nb * gguf.QK_K
	q := actValues(r, k, random, -127)
	oi := make([]int32, rows)
	b.SetBytes(int64(len(w)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch typ {
		case gguf.TQ2_0:
			TQ2Rows(oi, w, q, nb)
		case gguf.TQ1_0:
			TQ1Rows(oi, w, q, nb)
		}
	}
	b.ReportMetric(float64(rows*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
}

// Shapes: nano's in_proj (1224×512).
func BenchmarkRows(b *testing.B) {
	defer Use("")
	for _, set := range KernelSets() {
		Use(set)
		b.Run(set+"/TQ2_0_1224x512", func(b *testing.B) { benchRows(b, gguf.TQ2_0, 1224, 2) })
		b.Run(set+"/TQ1_0_1224x512", func(b *testing.B) { benchRows(b, gguf.TQ1_0, 1224, 2) })
	}
}

// BenchmarkHead times QHead.HeadRowsDiv on nano's tied head (32768 × 512),
// Q8_0, Q4_0 and Q3_K, on every kernel set: the bytes are the copy's (the
// file's bytes per block: 34, 18, and 110 per 256 weights for Q3_K), so
// MB/s is the rate it streams the head.
func BenchmarkHead(b *testing.B) {
	defer Use("")
	r := rand.New(rand.NewPCG(13, 14))
	const rows, nb = 32768, 16
	for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0, q3K} {
		var w []byte
		if typ == q3K {
			w = q3kWeights(r, nb/8, rows, random)
		} else {
			w = headWeights(r, typ, nb, rows, random)
		}
		h, err := NewQHead(typ, w, rows, nb)
		if err != nil {
			b.Fatal(err)
		}
		q := actValues(r, nb*32, random, -127)
		k := make([]int32, nb*8)
		h.Acts(k, q)
		out := make([]float32, rows)
		for _, set := range KernelSets() {
			Use(set)
			b.Run(set+"/"+typ.String(), func(b *testing.B) {
				b.SetBytes(h.Bytes())
				for b.Loop() {
					h.HeadRowsDiv(out, 0, q, k, 3.7)
				}
			})
		}
	}
}
