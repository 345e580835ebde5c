package train

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzSafetensors feeds arbitrary bytes to the safetensors reader: it must
// never panic, and whatever it accepts must be self-consistent and survive
// a write and a second read unchanged.
func FuzzSafetensors(f *testing.F) {
	one := `{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`
	seeds := [][]byte{
		craft(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil),
		craft(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil),
		craft(`{"__metadata__":{"format":"x"},"a":`+one+`}`, f32s(1)),
		craft(`{"a":`+one+`,"a":`+one+`}`, f32s(1)),
		craft(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":`+one+`,"b":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]}}`, f32s(1, 2, 3)),
		craft(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}    `, f32s(float32(math.Inf(-1)))),
		binary.LittleEndian.AppendUint64(nil, math.MaxUint64),
	}
	// A file as the writer makes it.
	path := filepath.Join(f.TempDir(), "seed.safetensors")
	ts := []Tensor{{Name: "w", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, {Name: "g", Shape: []int{1}, Data: []float32{-0.5}}}
	if _, _, err := WriteSafetensors(path, ts, map[string]string{"format": "seed"}); err != nil {
		f.Fatal(err)
	}
	raw, err := readRegular(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range append(seeds, raw) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sf, err := parseSafetensors(raw)
		if err != nil {
			if sf != nil {
				t.Fatalf("error %v with a non-nil file", err)
			}
			return
		}
		// Accepted: the tensors tile the data section exactly.
		hlen := binary.LittleEndian.Uint64(raw)
		var total int
		if len(sf.Names) != len(sf.Tensors) {
			t.Fatalf("%d names for %d tensors", len(sf.Names), len(sf.Tensors))
		}
		ordered := make([]Tensor, len(sf.Names))
		for i, n := range sf.Names {
			tt, ok := sf.Tensors[n]
			if !ok || tt.Name != n {
				t.Fatalf("name %q has no tensor (or a tensor named %q)", n, tt.Name)
			}
			if shapeSize(tt.Shape) != len(tt.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", n, tt.Shape, len(tt.Data))
			}
			total += 4 * len(tt.Data)
			ordered[i] = tt
		}
		if uint64(total) != uint64(len(raw))-8-hlen {
			t.Fatalf("tensors hold %d bytes, the data section %d", total, uint64(len(raw))-8-hlen)
		}
		// Write what was read and read it again: the same tensors, bit for bit.
		path := filepath.Join(t.TempDir(), "again.safetensors")
		if _, _, err := WriteSafetensors(path, ordered, sf.Meta); err != nil {
			t.Fatalf("write back: %v", err)
		}
		again, err := ReadSafetensors(path)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if !slices.Equal(again.Names, sf.Names) || len(again.Meta) != len(sf.Meta) {
			t.Fatalf("read back names %v meta %v, want %v %v", again.Names, again.Meta, sf.Names, sf.Meta)
		}
		for k, v := range sf.Meta {
			if again.Meta[k] != v {
				t.Fatalf("metadata %q: %q, want %q", k, again.Meta[k], v)
			}
		}
		for _, tt := range ordered {
			got := again.Tensors[tt.Name]
			if !slices.Equal(got.Shape, tt.Shape) || len(got.Data) != len(tt.Data) {
				t.Fatalf("tensor %q: shape %v, want %v", tt.Name, got.Shape, tt.Shape)
			}
			for i := range tt.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(tt.Data[i]) {
					t.Fatalf("tensor %q[%d]: %x, want %x", tt.Name, i, math.Float32bits(got.Data[i]), math.Float32bits(tt.Data[i]))
				}
			}
		}
	})
}
