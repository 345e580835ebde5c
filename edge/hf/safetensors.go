package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// tensor is one safetensors entry: F32 (f) or U8 (u) data.
type tensor struct {
	name  string
	dtype string // "F32" or "U8"
	shape []int
	f     []float32
	u     []byte
}

func (t *tensor) bytes() []byte {
	if t.dtype == "U8" {
		return t.u
	}
	b := make([]byte, 4*len(t.f))
	for i, v := range t.f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

type entry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// encodeSafetensors lays the tensors out in the given order after a JSON
// header (keys sorted, padded with spaces to a multiple of 8 bytes).
func encodeSafetensors(ts []tensor, meta map[string]string) ([]byte, error) {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var body bytes.Buffer
	for i := range ts {
		t := &ts[i]
		n := 1
		for _, d := range t.shape {
			n *= d
		}
		b := t.bytes()
		if (t.dtype == "F32" && len(t.f) != n) || (t.dtype == "U8" && len(t.u) != n) {
			return nil, fmt.Errorf("hf: tensor %s: shape %v does not hold its %d bytes", t.name, t.shape, len(b))
		}
		if _, dup := header[t.name]; dup {
			return nil, fmt.Errorf("hf: duplicate tensor %s", t.name)
		}
		off := int64(body.Len())
		body.Write(b)
		header[t.name] = entry{DType: t.dtype, Shape: append([]int{}, t.shape...), DataOffsets: [2]int64{off, int64(body.Len())}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := make([]byte, 8, 8+len(h)+body.Len())
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	return append(out, body.Bytes()...), nil
}

// decodeSafetensors parses a file of F32 and U8 tensors, checking that
// every tensor's bytes match its shape and lie inside the file.
func decodeSafetensors(raw []byte) (map[string]tensor, map[string]string, error) {
	if len(raw) < 8 {
		return nil, nil, fmt.Errorf("hf: model.safetensors is %d bytes, too short for a header", len(raw))
	}
	hl := binary.LittleEndian.Uint64(raw)
	if hl > uint64(len(raw)-8) {
		return nil, nil, fmt.Errorf("hf: model.safetensors header of %d bytes is longer than the file", hl)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hl], &header); err != nil {
		return nil, nil, fmt.Errorf("hf: model.safetensors header: %w", err)
	}
	body := raw[8+hl:]
	out := map[string]tensor{}
	var meta map[string]string
	names := make([]string, 0, len(header))
	for k := range header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v := header[name]
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("hf: model.safetensors metadata: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, nil, fmt.Errorf("hf: model.safetensors tensor %s: %w", name, err)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > math.MaxInt32/int64(d)) {
				return nil, nil, fmt.Errorf("hf: tensor %s has shape %v", name, e.Shape)
			}
			n *= int64(d)
		}
		beg, end := e.DataOffsets[0], e.DataOffsets[1]
		if beg < 0 || end < beg || end > int64(len(body)) {
			return nil, nil, fmt.Errorf("hf: tensor %s: data offsets %v outside the %d-byte body", name, e.DataOffsets, len(body))
		}
		b := body[beg:end]
		t := tensor{name: name, dtype: e.DType, shape: e.Shape}
		switch e.DType {
		case "F32":
			if int64(len(b)) != 4*n {
				return nil, nil, fmt.Errorf("hf: tensor %s: %d bytes for %d F32 values", name, len(b), n)
			}
			t.f = make([]float32, n)
			for i := range t.f {
				t.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case "U8":
			if int64(len(b)) != n {
				return nil, nil, fmt.Errorf("hf: tensor %s: %d bytes for %d U8 values", name, len(b), n)
			}
			t.u = append([]byte(nil), b...)
		default:
			return nil, nil, fmt.Errorf("hf: tensor %s has dtype %s; this folder format uses F32 and U8", name, e.DType)
		}
		out[name] = t
	}
	return out, meta, nil
}

// packTernary packs codes t ∈ {−1, 0, 1} of an [out, in] weight as t+1 in
// two bits, four per byte, the first of each four in the low bits, each
// row starting on a new byte: [out, ⌈in/4⌉] bytes.
func packTernary(t []float32, out, in int) ([]byte, error) {
	rb := (in + 3) / 4
	b := make([]byte, out*rb)
	for r := 0; r < out; r++ {
		for j := 0; j < in; j++ {
			v := t[r*in+j]
			if v != -1 && v != 0 && v != 1 {
				return nil, fmt.Errorf("hf: code %v is not ternary", v)
			}
			b[r*rb+j/4] |= byte(int(v)+1) << (2 * (j % 4))
		}
	}
	return b, nil
}

// unpackTernary reverses packTernary.
func unpackTernary(b []byte, out, in int) ([]float32, error) {
	rb := (in + 3) / 4
	if len(b) != out*rb {
		return nil, fmt.Errorf("hf: %d packed bytes for a %d×%d weight, want %d", len(b), out, in, out*rb)
	}
	t := make([]float32, out*in)
	for r := 0; r < out; r++ {
		for j := 0; j < in; j++ {
			c := b[r*rb+j/4] >> (2 * (j % 4)) & 3
			if c == 3 {
				return nil, fmt.Errorf("hf: packed code 3 at row %d, column %d (codes are 0, 1, 2)", r, j)
			}
			t[r*in+j] = float32(int(c) - 1)
		}
		// Padding bits of the row's last byte must be zero.
		if in%4 != 0 && b[r*rb+rb-1]>>(2*(in%4)) != 0 {
			return nil, fmt.Errorf("hf: row %d has non-zero padding bits", r)
		}
	}
	return t, nil
}
