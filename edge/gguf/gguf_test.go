package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

func TestFP16KnownValues(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000},
		{0.5, 0x3800}, {65504, 0x7bff}, {65520, 0x7c00}, {65519, 0x7bff}, {1e9, 0x7c00},
		{0.1, 0x2e66}, {float32(math.Inf(-1)), 0xfc00},
		{1.0 / (1 << 24), 0x0001}, {1.0 / (1 << 14), 0x0400}, {1.0 / (1 << 25), 0x0000}, // 2^-25 ties to even (0)
		{1.5 / (1 << 24), 0x0002}, // 1.5 units ties to even (2)
		{2049, 0x6800},            // 2048 + 1: a tie, rounds to even 2048
		{2051, 0x6802},            // 2050 + 1: a tie, rounds to even 2052
		{2050, 0x6801},
	}
	for _, c := range cases {
		if got := FP32ToFP16(c.f); got != c.h {
			t.Errorf("FP32ToFP16(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := FP32ToFP16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN → %#04x, want a NaN", h)
	}
	// Every finite half converts back exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		f := FP16ToFP32(uint16(h))
		if back := FP32ToFP16(f); back != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, f, back)
		}
	}
	if FP16ToFP32(0x0001) != 1.0/(1<<24) || FP16ToFP32(0x3555) != 0.333251953125 {
		t.Errorf("FP16ToFP32 known values wrong: %v %v", FP16ToFP32(0x0001), FP16ToFP32(0x3555))
	}
}

func TestQ8_0KnownBlock(t *testing.T) {
	x := make([]float32, 32)
	copy(x, []float32{127, -127, 0.5, -0.5, 1.49, 2.5, -2.5, 100.2})
	b, err := Quantize(Q8_0, x)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x3c, 127, 0x81, 1, 0xff, 1, 3, 0xfd, 100}
	if len(b) != 34 || !bytes.Equal(b[:len(want)], want) || !bytes.Equal(b[len(want):], make([]byte, 34-len(want))) {
		t.Fatalf("Q8_0 block = % x, want % x then zeros", b, want)
	}
	y, err := Dequantize(Q8_0, b, 32)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []float32{127, -127, 1, -1, 1, 3, -3, 100} {
		if y[i] != w {
			t.Errorf("Q8_0 value %d = %v, want %v", i, y[i], w)
		}
	}
}

func TestQ4_0KnownBlock(t *testing.T) {
	x := make([]float32, 32)
	// The value of largest magnitude is −8, so d = −8/−8 = 1.
	copy(x, []float32{-8, 7, 7.6, 0, -0.5, 0.49, -3.5, 3})
	x[16], x[17] = 5, -7
	b, err := Quantize(Q4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	// q = min(15, trunc(x + 8.5)): 0, 15, 15, 8, 8, 8, 5, 11; high nibbles
	// from x[16..]: 13, 1, then 8 (zeros).
	want := []byte{0x00, 0x3c, 0xd0, 0x1f, 0x8f, 0x88, 0x88, 0x88, 0x85, 0x8b}
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("Q4_0 block = % x, want % x…", b, want)
	}
	for _, v := range b[len(want):] {
		if v != 0x88 {
			t.Fatalf("Q4_0 zero pairs = % x, want 0x88", b[len(want):])
		}
	}
	y, _ := Dequantize(Q4_0, b, 32)
	for i, w := range map[int]float32{0: -8, 1: 7, 2: 7, 3: 0, 6: -3, 16: 5, 17: -7, 31: 0} {
		if y[i] != w {
			t.Errorf("Q4_0 value %d = %v, want %v", i, y[i], w)
		}
	}
}

func TestTQ2_0KnownBlock(t *testing.T) {
	x := make([]float32, 256)
	x[0], x[32], x[128], x[255] = 1, -1, 1, -1
	b, err := Quantize(TQ2_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 66 {
		t.Fatalf("TQ2_0 block is %d bytes", len(b))
	}
	// Byte 32h+m holds elements 128h+32l+m at bits 2l (code t+1).
	want := map[int]byte{0: 2 | 0<<2 | 1<<4 | 1<<6, 32: 2 | 1<<2 | 1<<4 | 1<<6, 63: 1 | 1<<2 | 1<<4 | 0<<6, 64: 0x00, 65: 0x3c}
	for i := 0; i < 66; i++ {
		w, ok := want[i]
		if !ok {
			w = 0x55
		}
		if b[i] != w {
			t.Errorf("TQ2_0 byte %d = %#02x, want %#02x", i, b[i], w)
		}
	}
	y, _ := Dequantize(TQ2_0, b, 256)
	for i := range x {
		if y[i] != x[i] {
			t.Fatalf("TQ2_0 round trip: value %d = %v, want %v", i, y[i], x[i])
		}
	}
}

func TestTQ1_0KnownBlock(t *testing.T) {
	x := make([]float32, 256)
	x[0], x[160], x[255] = 1, -1, 1
	b, err := Quantize(TQ1_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 54 {
		t.Fatalf("TQ1_0 block is %d bytes", len(b))
	}
	// All-zero weights (codes 1,1,1,1,1): ⌈121·256/243⌉ = 128; qh with four
	// codes: ⌈(40·3)·256/243⌉ = 127. Element 0 is the top trit of qs[0]:
	// codes 2,1,1,1,1 → 202 → 213. Element 160 is the top trit of qs[32]:
	// 0,1,1,1,1 → 40 → 43. Element 255 is trit 3 of qh[3]: 1,1,1,2 → 41·3
	// → 130.
	want := map[int]byte{0: 213, 32: 43, 51: 130, 52: 0x00, 53: 0x3c}
	for i := 0; i < 54; i++ {
		w, ok := want[i]
		if !ok {
			w = 128
			if i >= 48 {
				w = 127
			}
		}
		if b[i] != w {
			t.Errorf("TQ1_0 byte %d = %d, want %d", i, b[i], w)
		}
	}
	y, _ := Dequantize(TQ1_0, b, 256)
	for i := range x {
		if y[i] != x[i] {
			t.Fatalf("TQ1_0 round trip: value %d = %v, want %v", i, y[i], x[i])
		}
	}
}

// Every ternary pattern round-trips through both ternary types, and
// multiplying by a float32 scale afterwards gives γ·t exactly.
func TestTernaryRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []Type{TQ2_0, TQ1_0} {
		x := make([]float32, 4*256)
		for i := range x {
			x[i] = float32(r.IntN(3) - 1)
		}
		clear(x[512:768]) // an all-zero block: d = 0
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if d := FP16ToFP32(binary.LittleEndian.Uint16(b[3*typ.TypeSize()-2:])); d != 0 {
			t.Errorf("%s: all-zero block has d = %v, want 0", typ, d)
		}
		y, err := Dequantize(typ, b, len(x))
		if err != nil {
			t.Fatal(err)
		}
		const gamma = float32(0.0371234)
		for i := range x {
			if y[i] != x[i] || y[i]*gamma != x[i]*gamma {
				t.Fatalf("%s value %d: %v, want %v", typ, i, y[i], x[i])
			}
		}
		// Scaled ternary input: the block scale is fp16(γ), not γ, which
		// is why the per-tensor scale lives in its own F32 tensor.
		for i := range x {
			x[i] *= gamma
		}
		b, _ = Quantize(typ, x)
		y, _ = Dequantize(typ, b, len(x))
		if y[0] == x[0] && x[0] != 0 {
			t.Errorf("%s: fp16 block scale unexpectedly exact for γ = %v", typ, gamma)
		}
	}
}

func TestRoundTripErrorBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range []Type{F32, F16, Q8_0, Q4_0} {
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := RowBytes(typ, len(x)); len(b) != want {
			t.Fatalf("%s: %d bytes, want %d", typ, len(b), want)
		}
		y, err := Dequantize(typ, b, len(x))
		if err != nil {
			t.Fatal(err)
		}
		bs := typ.BlockSize()
		for blk := 0; blk < len(x)/bs; blk++ {
			xs := x[blk*bs : (blk+1)*bs]
			am := float64(amax(xs))
			for j, v := range xs {
				e := math.Abs(float64(y[blk*bs+j]) - float64(v))
				var bound float64
				switch typ {
				case F32:
					bound = 0
				case F16:
					bound = math.Abs(float64(v)) * 0x1p-11
				case Q8_0: // half a step plus the fp16 rounding of d (2^-11 relative) over 127 steps
					bound = am/127*0.5 + am*0x1p-11 + 1e-7
				case Q4_0: // half a step of 1/8 of max|x|, and the top code clipped at 7 steps (one step)
					bound = am/8 + am*0x1p-11 + 1e-7
				}
				if e > bound {
					t.Fatalf("%s value %d: |%v − %v| = %g > %g", typ, blk*bs+j, y[blk*bs+j], v, e, bound)
				}
			}
		}
	}
}

func TestQuantizeRejects(t *testing.T) {
	if _, err := Quantize(Q8_0, make([]float32, 31)); err == nil {
		t.Error("Q8_0 of 31 values accepted")
	}
	if _, err := Quantize(TQ2_0, make([]float32, 255)); err == nil {
		t.Error("TQ2_0 of 255 values accepted")
	}
	bad := make([]float32, 32)
	bad[3] = float32(math.NaN())
	if _, err := Quantize(Q4_0, bad); err == nil {
		t.Error("NaN quantized")
	}
	if _, err := Dequantize(Q8_0, make([]byte, 33), 32); err == nil {
		t.Error("Dequantize of a short block accepted")
	}
	if _, err := Quantize(Type(99), make([]float32, 32)); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestPadUnpad(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6}
	p, err := PadRows(x, 2, 3, 256)
	if err != nil || len(p) != 512 || p[0] != 1 || p[2] != 3 || p[3] != 0 || p[256] != 4 || p[258] != 6 {
		t.Fatalf("PadRows = %v…, %v", p[:4], err)
	}
	u, err := UnpadRows(p, 2, 3, 256)
	if err != nil || len(u) != 6 || u[3] != 4 || u[5] != 6 {
		t.Fatalf("UnpadRows = %v, %v", u, err)
	}
	if _, err := UnpadRows(p, 3, 3, 256); err == nil {
		t.Error("UnpadRows with the wrong row count accepted")
	}
	if PaddedWidth(TQ2_0, 32) != 256 || PaddedWidth(TQ2_0, 512) != 512 || PaddedWidth(F32, 7) != 7 {
		t.Error("PaddedWidth wrong")
	}
}

func sampleFile(t *testing.T) *File {
	t.Helper()
	f := &File{}
	f.Set("general.architecture", String("test"))
	f.Set("general.alignment", Uint32(64))
	f.Set("a.u8", Uint8(7))
	f.Set("a.i8", Int8(-7))
	f.Set("a.u16", Uint16(700))
	f.Set("a.i16", Int16(-700))
	f.Set("a.u32", Uint32(70000))
	f.Set("a.i32", Int32(-70000))
	f.Set("a.f32", Float32(1.5))
	f.Set("a.bool", Bool(true))
	f.Set("a.u64", Uint64(1<<40))
	f.Set("a.i64", Int64(-1<<40))
	f.Set("a.f64", Float64(1e-5))
	f.Set("a.strings", Strings([]string{"a", "", "ü"}))
	f.Set("a.i32s", Int32s([]int32{1, -2, 3}))
	f.Set("a.u32s", Uint32s([]uint32{4, 5}))
	f.Set("a.f32s", Float32s([]float32{0.25}))
	f.Set("a.nested", Arrays([]Value{Int32s([]int32{1}), Strings([]string{"x"})}))
	f.Set("a.bools", Value{typ: TypeArray, elem: TypeBool, v: []bool{true, false}})
	x := make([]float32, 256*2)
	for i := range x {
		x[i] = float32(i%3 - 1)
	}
	for _, typ := range []Type{F32, F16, Q8_0, Q4_0, TQ2_0, TQ1_0} {
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.AddTensor("t."+typ.String(), typ, []uint64{256, 2}, b); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := Quantize(F32, []float32{3})
	if err := f.AddTensor("scalar", F32, []uint64{1}, b); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFileRoundTripAndDeterminism(t *testing.T) {
	f := sampleFile(t)
	b1, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := sampleFile(t).Bytes()
	if !bytes.Equal(b1, b2) {
		t.Fatal("two writes of the same file differ")
	}
	if string(b1[:4]) != "GGUF" || binary.LittleEndian.Uint32(b1[4:]) != 3 ||
		binary.LittleEndian.Uint64(b1[8:]) != 7 || binary.LittleEndian.Uint64(b1[16:]) != uint64(len(f.KVs)) {
		t.Fatalf("header = % x", b1[:24])
	}
	g, err := Parse(b1)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.KVs) != len(f.KVs) {
		t.Fatalf("%d keys read, %d written", len(g.KVs), len(f.KVs))
	}
	for i, kv := range f.KVs {
		if g.KVs[i].Key != kv.Key || !g.KVs[i].Value.equal(kv.Value) {
			t.Errorf("key %d: read %s = %v, wrote %s = %v", i, g.KVs[i].Key, g.KVs[i].Value, kv.Key, kv.Value)
		}
	}
	if g.DataOffset%64 != 0 || g.DataOffset != f.DataOffset {
		t.Errorf("data offset %d (written %d), want a multiple of 64", g.DataOffset, f.DataOffset)
	}
	for i, tt := range f.Tensors {
		gt := g.Tensors[i]
		if gt.Name != tt.Name || gt.Type != tt.Type || gt.Offset != tt.Offset || gt.Offset%64 != 0 ||
			len(gt.Dims) != len(tt.Dims) || gt.Dims[0] != tt.Dims[0] || !bytes.Equal(gt.Data, tt.Data) {
			t.Errorf("tensor %d: read %+v, wrote %+v", i, gt, tt)
		}
		if uint64(len(b1)) < g.DataOffset+gt.Offset+uint64(len(gt.Data)) {
			t.Errorf("tensor %s past the end", gt.Name)
		}
	}
	if n, err := g.GetUint32("a.u32"); err != nil || n != 70000 {
		t.Errorf("GetUint32 = %v, %v", n, err)
	}
	if _, err := g.GetUint32("a.i32"); err == nil {
		t.Error("GetUint32 of an i32 accepted")
	}
	if _, err := g.GetString("missing"); err == nil {
		t.Error("missing key accepted")
	}
	if s, err := g.GetStrings("a.strings"); err != nil || len(s) != 3 || s[2] != "ü" {
		t.Errorf("GetStrings = %q, %v", s, err)
	}
	if v, err := g.GetFloat64("a.f64"); err != nil || v != 1e-5 {
		t.Errorf("GetFloat64 = %v, %v", v, err)
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	good, err := sampleFile(t).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// Every truncation is an error (and none panics).
	for n := 0; n < len(good); n += 1 + n/64 {
		if _, err := Parse(good[:n]); err == nil {
			t.Fatalf("a file cut to %d of %d bytes parsed", n, len(good))
		} else if !errors.Is(err, ErrFormat) {
			t.Fatalf("cut to %d: error %v does not wrap ErrFormat", n, err)
		}
	}
	mutate := func(name string, off int, b []byte, want string) {
		t.Helper()
		c := append([]byte(nil), good...)
		copy(c[off:], b)
		_, err := Parse(c)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, want)
		}
	}
	mutate("magic", 0, []byte("GGUG"), "not a GGUF file")
	mutate("version", 4, []byte{2, 0, 0, 0}, "version 2")
	mutate("tensor count", 8, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, "cannot fit")
	mutate("kv count", 16, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "cannot fit")
	// The first key's length, then its value type.
	mutate("key length", 24, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "needs")
	klen := int(binary.LittleEndian.Uint64(good[24:]))
	mutate("value type", 32+klen, []byte{99, 0, 0, 0}, "unknown value type")

	// Tensor info problems, found by name.
	idx := bytes.Index(good, []byte("scalar"))
	info := idx + len("scalar")
	mutate("n_dims", info, []byte{5, 0, 0, 0}, "dimensions")
	mutate("zero dim", info+4, []byte{0, 0, 0, 0, 0, 0, 0, 0}, "dimension 0 is 0")
	mutate("type", info+12, []byte{77, 0, 0, 0}, "unsupported ggml type")
	mutate("offset", info+16, []byte{1}, "not a multiple of the alignment")
	mutate("offset past end", info+16, []byte{0, 0, 0, 0, 0, 0, 1, 0}, "past the end")
	idx = bytes.Index(good, []byte("t.Q8_0"))
	mutate("block multiple", idx+len("t.Q8_0")+4, []byte{33}, "not a multiple of the Q8_0 block size")
	// A bad alignment value.
	idx = bytes.Index(good, []byte("general.alignment"))
	mutate("alignment", idx+len("general.alignment")+4, []byte{12, 0, 0, 0}, "power of two")
}

func FuzzParse(f *testing.F) {
	x := &File{}
	x.Set("k", Strings([]string{"a", "b"}))
	b, _ := Quantize(TQ2_0, make([]float32, 256))
	x.AddTensor("w", TQ2_0, []uint64{256}, b)
	seed, _ := x.Bytes()
	f.Add(seed)
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err != nil {
			return
		}
		// A parsed file writes back and parses to the same tensors.
		out, err := g.Bytes()
		if err != nil {
			return // e.g. a key the writer refuses
		}
		h, err := Parse(out)
		if err != nil || len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func TestWriterRejects(t *testing.T) {
	f := &File{}
	if err := f.AddTensor("x", Q8_0, []uint64{32}, make([]byte, 33)); err == nil {
		t.Error("wrong data size accepted")
	}
	if err := f.AddTensor("", F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("empty name accepted")
	}
	if err := f.AddTensor(string(make([]byte, 64)), F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("64-byte name accepted")
	}
	if err := f.AddTensor("y", F32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)); err == nil {
		t.Error("5 dims accepted")
	}
	f.AddTensor("z", F32, []uint64{1}, make([]byte, 4))
	if err := f.AddTensor("z", F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("duplicate tensor accepted")
	}
	f.Set("general.alignment", Uint32(24))
	if _, err := f.Bytes(); err == nil {
		t.Error("alignment 24 accepted")
	}
	f.Set("general.alignment", Value{typ: TypeUint32, v: int(3)})
	if _, err := f.Bytes(); err == nil {
		t.Error("mistyped value accepted")
	}
}

// A memory-mapped file's metadata strings point into the mapping (no heap
// copy) and read the same as a parsed copy's; a string of the sample has
// no byte outside it.
func TestMapFileStrings(t *testing.T) {
	b, err := sampleFile(t).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.gguf")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, kv := range c.KVs {
		if m.KVs[i].Key != kv.Key || !m.KVs[i].Value.equal(kv.Value) {
			t.Errorf("key %d: mapped %s = %v, parsed %s = %v", i, m.KVs[i].Key, m.KVs[i].Value, kv.Key, kv.Value)
		}
	}
	ms, err := m.GetStrings("a.strings")
	if err != nil {
		t.Fatal(err)
	}
	if !m.mapped {
		t.Skip("the file was read, not mapped, on this system")
	}
	// The strings lie inside the mapping of the file: every tensor's data
	// does, so the mapping spans [first tensor data − DataOffset, ...).
	base := uintptr(unsafe.Pointer(&m.Tensors[0].Data[0])) - uintptr(m.DataOffset+m.Tensors[0].Offset)
	for _, s := range ms {
		if s == "" {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		if p < base || p+uintptr(len(s)) > base+uintptr(len(b)) {
			t.Errorf("string %q at %#x is outside the mapping [%#x, %#x)", s, p, base, base+uintptr(len(b)))
		}
	}
}

// Delete removes the named keys, ignores absent ones and keeps the order of
// the rest.
func TestDelete(t *testing.T) {
	for _, c := range []struct {
		del  []string
		want string
	}{
		{nil, "a b c d"},
		{[]string{"b"}, "a c d"},
		{[]string{"d", "a", "x"}, "b c"},
		{[]string{"a", "b", "c", "d"}, ""},
	} {
		var f File
		for _, k := range []string{"a", "b", "c", "d"} {
			f.Set(k, Uint32(1))
		}
		f.Delete(c.del...)
		var got []string
		for _, kv := range f.KVs {
			got = append(got, kv.Key)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Delete(%q): keys %q, want %q", c.del, got, c.want)
		}
	}
}
