package dot

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nanomamba-edge/harness/edge/gguf"
)

// q3kWeights returns rows × nsb Q3_K blocks: random bytes with a finite
// fp16 d (random fill), or every code and scale at an extreme: low has
// codes 0 and scales −32 (sc·(c−4) = 128, the product that does not fit
// int8), high codes 7 and scales 31, mixed alternates them by block.
func q3kWeights(r *rand.Rand, nsb, rows int, f fill) []byte {
	w := make([]byte, rows*nsb*Q3KBlock)
	for i := 0; i < rows*nsb; i++ {
		blk := w[i*Q3KBlock : (i+1)*Q3KBlock]
		g := f
		if f == mixed {
			g = []fill{low, high, random}[i%3]
		}
		for j := range blk[:108] {
			switch g {
			case random:
				blk[j] = byte(r.Uint32())
			case low:
				blk[j] = 0
			case high:
				blk[j] = 0xff
			}
		}
		d := uint16(r.Uint32())
		for d&0x7c00 == 0x7c00 { // Inf or NaN
			d = uint16(r.Uint32())
		}
		if i%7 == 3 {
			d = []uint16{0x3c00, 0x7bff, 0x0001, 0xfbff, 0x8000, 0}[i%6]
		}
		binary.LittleEndian.PutUint16(blk[108:], d)
	}
	return w
}

// oracleQ3K decodes a Q3_K block the way ggml's dequantize_row_q3_K walks
// it, written out from the block format: the codes c ∈ [0, 7] and the
// sixteen scales sc ∈ [−32, 31] in element order, and d.
func oracleQ3K(blk []byte) (c [256]int, sc [16]int, d float32) {
	// Scales: twelve bytes, the low four bits of scale is in byte is%8
	// (low nibble for is < 8, high nibble for is ≥ 8), the high two bits in
	// byte 8 + is%4 at bit 2·(is/4).
	for is := 0; is < 16; is++ {
		lo := int(blk[96+is%8])
		if is >= 8 {
			lo >>= 4
		}
		hi := int(blk[96+8+is%4]>>(2*(is/4))) & 3
		sc[is] = (lo&15 | hi<<4) - 32
	}
	hm, qs := blk[:32], blk[32:96]
	e := 0
	m := byte(1)
	for n := 0; n < 256; n += 128 {
		q := qs[32*(n/128):]
		for shift := 0; shift < 8; shift += 2 {
			for half := 0; half < 2; half++ {
				for l := 16 * half; l < 16*half+16; l++ {
					v := int(q[l]>>shift) & 3
					if hm[l]&m != 0 {
						v += 4
					}
					c[e] = v
					e++
				}
			}
			m <<= 1
		}
	}
	return c, sc, gguf.FP16ToFP32(binary.LittleEndian.Uint16(blk[108:]))
}

// oracleQ3KRow de-quantizes one row as dequantize_row_q3_K does:
// dl = d·sc in float32, y = dl·(c−4).
func oracleQ3KRow(row []byte, nsb int) []float32 {
	y := make([]float32, 256*nsb)
	for b := 0; b < nsb; b++ {
		c, sc, d := oracleQ3K(row[b*Q3KBlock:])
		for e := 0; e < 256; e++ {
			dl := float32(d * float32(sc[e/16]))
			y[256*b+e] = float32(dl * float32(c[e]-4))
		}
	}
	return y
}

// oracleQ3KHead follows the package's definition of the bits literally.
func oracleQ3KHead(w []byte, q []int8, nsb, rows int, s float32) []float32 {
	out := make([]float32, rows)
	for r := 0; r < rows; r++ {
		var f float32
		for b := 0; b < nsb; b++ {
			c, sc, d := oracleQ3K(w[(r*nsb+b)*Q3KBlock:])
			var ib int64
			for e := 0; e < 256; e++ {
				ib += int64(sc[e/16]) * int64(c[e]-4) * int64(q[256*b+e])
			}
			f = f + float32(float32(ib)*d)
		}
		out[r] = f / s
	}
	return out
}

// Every kernel set gives the oracle's bits, and the Go twin's, for random
// and extreme codes, scales and activations (−128 included), any row range.
func TestHeadRowsDivQ3K(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	eachSet(t, func(t *testing.T) {
		for _, nsb := range []int{1, 2, 3} {
			for _, rows := range []int{1, 5, 15, 16, 17, 32, 33, 50, 100} {
				for _, f := range []fill{random, low, high, mixed} {
					for _, s := range []float32{1, 3.7, 1e-3, 127 / 0.0123} {
						w := q3kWeights(r, nsb, rows, f)
						q := actValues(r, nsb*256, f, -128)
						h, err := NewQHead(q3K, w, rows, 8*nsb)
						if err != nil {
							t.Fatal(err)
						}
						want := oracleQ3KHead(w, q, nsb, rows, s)
						twin := make([]float32, rows)
						h.rowsGo(twin, 0, q, s)
						k := make([]int32, nsb*64)
						h.Acts(k, q)
						for _, lo := range []int{0, 1, rows / 2, rows - 1} {
							for _, hi := range []int{rows, rows - rows/3} {
								if hi < lo {
									continue
								}
								got := make([]float32, hi-lo)
								h.HeadRowsDiv(got, lo, q, k, s)
								for i := range got {
									g, o, tw := math.Float32bits(got[i]), math.Float32bits(want[lo+i]), math.Float32bits(twin[lo+i])
									if g != o || g != tw {
										t.Fatalf("nsb=%d rows=%d fill=%d s=%v rows [%d, %d): row %d = %v, oracle %v, Go twin %v", nsb, rows, f, s, lo, hi, lo+i, got[i], want[lo+i], twin[lo+i])
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// The head's result is Σ Row·q / s up to float32 rounding (Row's values
// are exact: d has 11 significant bits, sc·(c−4) at most 8), on random
// blocks and on blocks gguf.Quantize made from Gaussian rows.
func TestHeadQ3KValue(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	const nsb, rows = 2, 40
	w := q3kWeights(r, nsb, rows/2, random)
	x := make([]float32, nsb*256*rows/2)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	wq, err := gguf.Quantize(q3K, x)
	if err != nil {
		t.Fatal(err)
	}
	w = append(w, wq...)
	q := actValues(r, nsb*256, random, -128)
	h, err := NewQHead(q3K, w, rows, 8*nsb)
	if err != nil {
		t.Fatal(err)
	}
	k := make([]int32, nsb*64)
	h.Acts(k, q)
	const s = 3.7
	got := make([]float32, rows)
	h.HeadRowsDiv(got, 0, q, k, s)
	y := make([]float32, nsb*256)
	for v := 0; v < rows; v++ {
		h.Row(y, v)
		var exact, mag float64
		for e := range y {
			exact += float64(y[e]) * float64(q[e])
			mag += math.Abs(float64(y[e]) * float64(q[e]))
		}
		exact /= s
		mag /= s
		if d := math.Abs(float64(got[v]) - exact); d > float64(nsb+2)*0x1p-23*mag {
			t.Errorf("row %d: %v, exact %v (|Δ| %g > %d·2^-23·%g)", v, got[v], exact, d, nsb+2, mag)
		}
	}
}

// A Q3_K head filled a few rows at a time holds NewQHead's bytes, and Row
// de-quantizes every row exactly as dequantize_row_q3_K; a matrix past
// 2 MiB (huge pages on linux) included.
func TestQHeadQ3KRowsAndChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, c := range []struct{ rows, nsb, chunk int }{
		{1, 1, 1}, {17, 2, 5}, {33, 1, 16}, {40, 3, 7}, {8000, 2, 1000},
	} {
		w := q3kWeights(r, c.nsb, c.rows, mixed)
		a, err := NewQHead(q3K, w, c.rows, 8*c.nsb)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewQHeadEmpty(q3K, c.rows, 8*c.nsb)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64((c.rows + 15) / 16 * 16 * c.nsb * 110); b.Bytes() != want {
			t.Errorf("rows %d nsb %d: Bytes %d, want %d", c.rows, c.nsb, b.Bytes(), want)
		}
		rb := c.nsb * Q3KBlock
		for lo := 0; lo < c.rows; lo += c.chunk {
			hi := min(lo+c.chunk, c.rows)
			b.CopyRows(w[lo*rb:hi*rb], lo, hi)
		}
		if string(a.buf) != string(b.buf) {
			t.Fatalf("rows %d nsb %d: CopyRows in chunks of %d differs from NewQHead", c.rows, c.nsb, c.chunk)
		}
		got := make([]float32, c.nsb*256)
		for row := 0; row < c.rows; row++ {
			want := oracleQ3KRow(w[row*rb:(row+1)*rb], c.nsb)
			deq, err := gguf.Dequantize(q3K, w[row*rb:(row+1)*rb], c.nsb*256)
			if err != nil {
				t.Fatal(err)
			}
			b.Row(got, row)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(got[i]) != math.Float32bits(deq[i]) {
					t.Fatalf("rows %d nsb %d: row %d element %d = %v, want %v (gguf.Dequantize %v)", c.rows, c.nsb, row, i, got[i], want[i], deq[i])
				}
			}
			// A prefix of the row.
			b.Row(got[:300%len(got)], row)
		}
	}
}

// The constructors refuse what they cannot hold, with an error.
func TestNewQHeadErrors(t *testing.T) {
	for _, c := range []struct {
		typ         gguf.Type
		size        int
		rows, nb    int
		empty       bool
		description string
	}{
		{gguf.Q8_0, 33, 1, 1, false, "short Q8_0"},
		{gguf.Q4_0, 17, 1, 1, false, "short Q4_0"},
		{gguf.F16, 64, 1, 1, false, "F16"},
		{q3K, 109, 1, 8, false, "short Q3_K"},
		{q3K, 219, 1, 16, false, "short Q3_K, two super-blocks"},
		{q3K, 1000, 1, 4, false, "Q3_K, half a super-block"},
		{q3K, 1000, 1, 12, false, "Q3_K, 1.5 super-blocks"},
		{q3K, 0, 1, 4, true, "empty Q3_K, half a super-block"},
		{q3K, 0, -1, 8, true, "empty Q3_K, −1 rows"},
		{q3K, 0, 1, -8, true, "empty Q3_K, −8 blocks"},
		{q3K, 0, 1 << 40, 8, true, "empty Q3_K, 2^40 rows"},
		{gguf.Q8_0, 0, 1 << 28, 1 << 28, true, "empty Q8_0, 2^28 rows of 2^28 blocks"},
		{gguf.Q8_0, 1000, -1, 1, false, "Q8_0, −1 rows"},
	} {
		var err error
		if c.empty {
			_, err = NewQHeadEmpty(c.typ, c.rows, c.nb)
		} else {
			_, err = NewQHead(c.typ, make([]byte, c.size), c.rows, c.nb)
		}
		if err == nil {
			t.Errorf("%s: accepted", c.description)
		} else {
			t.Logf("%s: %v", c.description, err)
		}
	}
	if _, err := NewQHead(q3K, make([]byte, 2*Q3KBlock), 1, 16); err != nil {
		t.Errorf("one Q3_K row of two super-blocks: %v", err)
	}
}
