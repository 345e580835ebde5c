package train

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// craft builds a safetensors file from a header text and a data section.
func craft(header string, body []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

// writeTemp writes b to a file in a fresh temporary directory.
func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readNoPanic reads the file at path and turns a panic into a test error.
func readNoPanic(t *testing.T, path string) (f *SafetensorsFile, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("ReadSafetensors panicked: %v", r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return ReadSafetensors(path)
}

func f32s(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestReadSafetensorsRefusesMalformed(t *testing.T) {
	one := `{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`
	cases := []struct {
		name string
		file []byte
		want string // a fragment of the error
	}{
		// Size arithmetic.
		{"shape 2^62 (element count times 4 wraps to 0)", craft(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil), "too large"},
		{"shape 2^32 x 2^32 (element count wraps to 0)", craft(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "too large"},
		{"shape 2^31 x 2^31 x 4 (wraps to 0)", craft(`{"a":{"dtype":"F32","shape":[2147483648,2147483648,4],"data_offsets":[0,0]}}`, nil), "too large"},
		{"shape 2^61+1 (times 4 wraps to 4)", craft(`{"a":{"dtype":"F32","shape":[2305843009213693953],"data_offsets":[0,4]}}`, f32s(1)), "too large"},
		{"dimension beyond int64", craft(`{"a":{"dtype":"F32","shape":[18446744073709551617],"data_offsets":[0,4]}}`, f32s(1)), "tensor \"a\""},
		{"negative dimension", craft(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32s(1)), "negative"},
		{"negative offset", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, f32s(1)), "data_offsets"},
		{"offset beyond int64", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}`, f32s(1)), "tensor \"a\""},
		{"end before begin", craft(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, f32s(1)), "data_offsets"},
		{"end past the data section", craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32s(1)), "data section"},
		{"size does not match shape", craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, f32s(1)), "shape [2]"},
		// Header length.
		{"header length past the file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "header length 100"},
		{"header length 2^64-1", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), "header length"},
		{"header length over the limit", append(binary.LittleEndian.AppendUint64(nil, maxHeaderBytes+1), "{}"...), "limit"},
		{"empty header", craft("", nil), "empty"},
		{"7 bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "shorter than"},
		// The header's JSON.
		{"header null", craft("null", nil), "JSON object"},
		{"header an array", craft(`[1,2]`, nil), "JSON object"},
		{"header with leading space", craft(` {"a":`+one+`}`, f32s(1)), "JSON object"},
		{"trailing bytes after the header", craft(`{"a":`+one+`}x`, f32s(1)), "after the JSON header"},
		{"truncated JSON", craft(`{"a":`+one, f32s(1)), "JSON"},
		{"invalid UTF-8 in a name", craft("{\"a\xff\":"+one+"}", f32s(1)), "UTF-8"},
		{"duplicate tensor name", craft(`{"a":`+one+`,"a":`+one+`}`, f32s(1)), "twice"},
		{"empty tensor name", craft(`{"":`+one+`}`, f32s(1)), "empty name"},
		{"unknown tensor field", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, f32s(1)), "extra"},
		{"missing shape", craft(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, f32s(1)), "shape"},
		{"null shape", craft(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, f32s(1)), "shape"},
		{"missing data_offsets", craft(`{"a":{"dtype":"F32","shape":[0]}}`, nil), "data_offsets"},
		{"three data_offsets", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32s(1)), "data_offsets"},
		{"one data_offset", craft(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}}`, nil), "data_offsets"},
		{"fractional offset", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}`, f32s(1)), "tensor \"a\""},
		{"tensor not an object", craft(`{"a":5}`, nil), "tensor \"a\""},
		{"missing dtype", craft(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, f32s(1)), "dtype"},
		{"dtype F16", craft(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, f32s(1)), "only F32"},
		{"metadata not strings", craft(`{"__metadata__":{"k":1}}`, nil), "__metadata__"},
		{"metadata duplicate key", craft(`{"__metadata__":{"k":"a","k":"b"}}`, nil), "twice"},
		{"metadata twice", craft(`{"__metadata__":{},"__metadata__":{}}`, nil), "twice"},
		// Layout of the data section.
		{"overlapping tensors", craft(`{"a":`+one+`,"b":`+one+`}`, f32s(1)), "overlap"},
		{"gap between tensors", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, f32s(1, 2, 3)), "gap"},
		{"gap before the first tensor", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32s(1, 2)), "gap"},
		{"bytes after the last tensor", craft(`{"a":`+one+`}`, f32s(1, 2)), "data section holds 8 bytes"},
		{"data but no tensors", craft(`{}`, f32s(1)), "data section holds 4 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.file)
			f, err := readNoPanic(t, path)
			if err == nil {
				t.Fatalf("accepted: %d tensors %v", len(f.Names), f.Names)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q; want it to name %s and mention %q", err, path, c.want)
			}
		})
	}
}

func TestReadSafetensorsAcceptsEdgeCases(t *testing.T) {
	cases := []struct {
		name   string
		file   []byte
		names  []string
		shapes [][]int
	}{
		{"no tensors", craft(`{}`, nil), nil, nil},
		{"metadata only, space padded", craft(`{"__metadata__":{"k":"v"}}    `, nil), nil, nil},
		{"scalar", craft(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32s(3)), []string{"s"}, [][]int{{}}},
		{"empty tensor with a huge dimension", craft(`{"z":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}`, nil), []string{"z"}, [][]int{{0, 1 << 62}}},
		{"data order differs from header order", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32s(1, 2)), []string{"b", "a"}, [][]int{{1}, {1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := readNoPanic(t, writeTemp(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Names, c.names) || len(f.Tensors) != len(c.names) {
				t.Fatalf("names %v (%d tensors), want %v", f.Names, len(f.Tensors), c.names)
			}
			for i, n := range c.names {
				if !slices.Equal(f.Tensors[n].Shape, c.shapes[i]) {
					t.Errorf("%s: shape %v, want %v", n, f.Tensors[n].Shape, c.shapes[i])
				}
			}
		})
	}
}

// Empty tensors share their offset with their neighbours; the file order
// among them must not depend on map iteration.
func TestReadSafetensorsNamesDeterministic(t *testing.T) {
	h := `{"c":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},` +
		`"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},` +
		`"d":{"dtype":"F32","shape":[2,0],"data_offsets":[4,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`
	path := writeTemp(t, craft(h, f32s(1, 2)))
	want := []string{"x", "a", "b", "c", "d", "y"}
	for i := 0; i < 30; i++ {
		f, err := readNoPanic(t, path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.Names, want) {
			t.Fatalf("read %d: names %v, want %v", i, f.Names, want)
		}
	}
}

// A header may claim the same bytes for many tensors; the reader must
// refuse it before decoding any of them.
func TestReadSafetensorsBoundedAllocation(t *testing.T) {
	const n, size = 64, 1 << 18 // 64 tensors each claiming the whole 256 KiB section
	var h strings.Builder
	h.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			h.WriteString(",")
		}
		fmt.Fprintf(&h, `"t%03d":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}`, i, size/4, size)
	}
	h.WriteString("}")
	path := writeTemp(t, craft(h.String(), make([]byte, size)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readNoPanic(t, path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("err = %v, want an overlap error", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*size {
		t.Errorf("reading a %d-byte file allocated %d bytes", size, got)
	}
}

func TestWriteSafetensorsRefusesOverflowingShape(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]int{{1 << 32, 1 << 32}, {1 << 62}, {-1}, {1 << 61, 2}} {
		_, _, err := WriteSafetensors(filepath.Join(dir, "w.safetensors"), []Tensor{{Name: "a", Shape: shape}}, nil)
		if err == nil || !strings.Contains(err.Error(), "shape") {
			t.Errorf("shape %v with no values: err = %v, want a refusal", shape, err)
		}
	}
}

func TestSafetensorsRoundTripOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.safetensors")
	ts := []Tensor{
		{Name: "z", Shape: []int{2}, Data: []float32{1, float32(math.NaN())}},
		{Name: "empty", Shape: []int{3, 0}},
		{Name: "a", Shape: []int{1, 1}, Data: []float32{float32(math.Copysign(0, -1))}},
	}
	if _, _, err := WriteSafetensors(path, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	// "empty" and "a" start at the same byte; the empty one comes first.
	if want := []string{"z", "empty", "a"}; !slices.Equal(f.Names, want) {
		t.Errorf("names %v, want %v", f.Names, want)
	}
	for _, tt := range ts {
		got := f.Tensors[tt.Name]
		if !slices.Equal(got.Shape, tt.Shape) || len(got.Data) != len(tt.Data) {
			t.Fatalf("%s: %v %v, want %v %v", tt.Name, got.Shape, got.Data, tt.Shape, tt.Data)
		}
		for i := range tt.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(tt.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", tt.Name, i, got.Data[i], tt.Data[i])
			}
		}
	}
	if f.Meta["k"] != "v" {
		t.Errorf("meta %v", f.Meta)
	}
}
