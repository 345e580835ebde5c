package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"
)

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}

// Tensor is one tensor: its name, dimensions (Dims[0] contiguous), type and
// encoded data. Offset is relative to the start of the data section; Write
// fills it in, Read reports it.
type Tensor struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64
	Data   []byte
}

// Elements is the product of the dimensions.
func (t *Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a GGUF file in memory: metadata in order, tensors in order.
type File struct {
	mapped  bool // tensor data aliases a read-only file mapping (MapFile)
	KVs     []KV
	Tensors []*Tensor
	// DataOffset is the absolute offset of the data section (set by Read
	// and Write).
	DataOffset uint64
}

// Set appends a key/value pair, or replaces the value of an existing key in
// place (so the order stays the order of first setting).
func (f *File) Set(key string, v Value) {
	for i := range f.KVs {
		if f.KVs[i].Key == key {
			f.KVs[i].Value = v
			return
		}
	}
	f.KVs = append(f.KVs, KV{key, v})
}

// Delete removes the keys' key/value pairs (absent keys are ignored),
// keeping the order of the rest.
func (f *File) Delete(keys ...string) {
	f.KVs = slices.DeleteFunc(f.KVs, func(kv KV) bool { return slices.Contains(keys, kv.Key) })
}

// Get returns the value of key.
func (f *File) Get(key string) (Value, bool) {
	for _, kv := range f.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// Tensor returns the named tensor, or nil.
func (f *File) Tensor(name string) *Tensor {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// AddTensor appends a tensor after checking that data holds exactly the
// bytes of dims at type t.
func (f *File) AddTensor(name string, t Type, dims []uint64, data []byte) error {
	tt := &Tensor{Name: name, Dims: append([]uint64(nil), dims...), Type: t, Data: data}
	if err := checkTensor(tt); err != nil {
		return err
	}
	if f.Tensor(name) != nil {
		return fmt.Errorf("gguf: tensor %q added twice", name)
	}
	f.Tensors = append(f.Tensors, tt)
	return nil
}

// checkTensor validates name, dims, type and data length.
func checkTensor(t *Tensor) error {
	if t.Name == "" || len(t.Name) > MaxNameLen {
		return fmt.Errorf("gguf: tensor name %q: must be 1 to %d bytes", t.Name, MaxNameLen)
	}
	if len(t.Dims) == 0 || len(t.Dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %s: %d dimensions, want 1 to %d", t.Name, len(t.Dims), MaxDims)
	}
	want, err := tensorSize(t)
	if err != nil {
		return err
	}
	if uint64(len(t.Data)) != want {
		return fmt.Errorf("gguf: tensor %s: %d data bytes, want %d for %v %s", t.Name, len(t.Data), want, t.Dims, t.Type)
	}
	return nil
}

// Alignment is general.alignment, or DefaultAlignment when absent.
func (f *File) Alignment() (uint64, error) {
	v, ok := f.Get("general.alignment")
	if !ok {
		return DefaultAlignment, nil
	}
	a, ok := v.v.(uint32)
	if !ok || v.typ != TypeUint32 {
		return 0, fmt.Errorf("gguf: general.alignment has type %s, want u32", v.typ)
	}
	if a == 0 || a%8 != 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("gguf: general.alignment %d must be a power of two and a multiple of 8", a)
	}
	return uint64(a), nil
}

func align(n, a uint64) uint64 { return (n + a - 1) / a * a }

// encoder writes little-endian values into a buffer.
type encoder struct{ b bytes.Buffer }

func (e *encoder) u32(v uint32) { e.b.Write(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *encoder) u64(v uint64) { e.b.Write(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.b.WriteString(s) }

func (e *encoder) scalar(v any) {
	switch x := v.(type) {
	case uint8:
		e.b.WriteByte(x)
	case int8:
		e.b.WriteByte(byte(x))
	case uint16:
		e.b.Write(binary.LittleEndian.AppendUint16(nil, x))
	case int16:
		e.b.Write(binary.LittleEndian.AppendUint16(nil, uint16(x)))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.b.WriteByte(1)
		} else {
			e.b.WriteByte(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}

// value writes a value without its type tag.
func (e *encoder) value(v Value) {
	if v.typ != TypeArray {
		e.scalar(v.v)
		return
	}
	e.u32(uint32(v.elem))
	e.u64(uint64(v.Len()))
	switch s := v.v.(type) {
	case []Value:
		for _, x := range s {
			e.value(x)
		}
	case []uint8:
		e.b.Write(s)
	case []string:
		for _, x := range s {
			e.str(x)
		}
	case []int32:
		for _, x := range s {
			e.u32(uint32(x))
		}
	case []uint32:
		for _, x := range s {
			e.u32(x)
		}
	case []float32:
		for _, x := range s {
			e.u32(math.Float32bits(x))
		}
	default:
		// The remaining typed slices, element by element.
		rv := anySlice(s)
		for _, x := range rv {
			e.scalar(x)
		}
	}
}

func anySlice(s any) []any {
	var out []any
	switch x := s.(type) {
	case []int8:
		for _, v := range x {
			out = append(out, v)
		}
	case []uint16:
		for _, v := range x {
			out = append(out, v)
		}
	case []int16:
		for _, v := range x {
			out = append(out, v)
		}
	case []bool:
		for _, v := range x {
			out = append(out, v)
		}
	case []uint64:
		for _, v := range x {
			out = append(out, v)
		}
	case []int64:
		for _, v := range x {
			out = append(out, v)
		}
	case []float64:
		for _, v := range x {
			out = append(out, v)
		}
	}
	return out
}

// Bytes encodes the file. It fills in every tensor's Offset and the file's
// DataOffset. The same File always encodes to the same bytes.
func (f *File) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTo writes the file to w (see Bytes).
func (f *File) WriteTo(w io.Writer) (int64, error) {
	al, err := f.Alignment()
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for _, kv := range f.KVs {
		if kv.Key == "" || len(kv.Key) > 65535 {
			return 0, fmt.Errorf("gguf: metadata key %q: must be 1 to 65535 bytes", kv.Key)
		}
		if seen[kv.Key] {
			return 0, fmt.Errorf("gguf: metadata key %q appears twice", kv.Key)
		}
		seen[kv.Key] = true
		if err := kv.Value.validate(); err != nil {
			return 0, fmt.Errorf("gguf: metadata key %q: %w", kv.Key, err)
		}
	}
	names := map[string]bool{}
	var off uint64
	for _, t := range f.Tensors {
		if err := checkTensor(t); err != nil {
			return 0, err
		}
		if names[t.Name] {
			return 0, fmt.Errorf("gguf: tensor %q appears twice", t.Name)
		}
		names[t.Name] = true
		t.Offset = off
		off = align(off+uint64(len(t.Data)), al)
	}
	var e encoder
	e.b.WriteString(Magic)
	e.u32(Version)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.KVs)))
	for _, kv := range f.KVs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value)
	}
	for _, t := range f.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	f.DataOffset = align(uint64(e.b.Len()), al)
	e.b.Write(make([]byte, f.DataOffset-uint64(e.b.Len())))
	n, err := w.Write(e.b.Bytes())
	total := int64(n)
	if err != nil {
		return total, err
	}
	var pos uint64
	for _, t := range f.Tensors {
		if pad := t.Offset - pos; pad > 0 {
			n, err := w.Write(make([]byte, pad))
			total += int64(n)
			if err != nil {
				return total, err
			}
		}
		n, err := w.Write(t.Data)
		total += int64(n)
		if err != nil {
			return total, err
		}
		pos = t.Offset + uint64(len(t.Data))
	}
	if end := align(pos, al); end > pos && len(f.Tensors) > 0 {
		n, err := w.Write(make([]byte, end-pos))
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// WriteFile writes the file to path (through a temporary file in the same
// directory, renamed into place).
func (f *File) WriteFile(path string) error {
	b, err := f.Bytes()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

// ErrFormat is wrapped by every error about malformed input.
var ErrFormat = errors.New("malformed GGUF")

// maxArrayDepth bounds the nesting of arrays in metadata.
const maxArrayDepth = 8

// decoder reads little-endian values from a byte slice, checking bounds.
type decoder struct {
	b   []byte
	pos int
	err error
	// alias: strings point into b instead of being copied (b is a
	// read-only mapping that lives as long as the process).
	alias bool
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("gguf: %w: at byte %d: %s", ErrFormat, d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.pos) {
		d.fail("%s needs %d bytes, %d left", what, n, len(d.b)-d.pos)
		return nil
	}
	s := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s
}

func (d *decoder) u8(what string) uint8 {
	if s := d.take(1, what); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if s := d.take(2, what); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if s := d.take(4, what); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if s := d.take(8, what); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (d *decoder) str(what string) string {
	// The length's name is built only when it is missing: a tokenizer's
	// tens of thousands of strings would otherwise each allocate it.
	var n uint64
	if d.left() >= 8 {
		n = d.u64(what)
	} else {
		n = d.u64(what + " length")
	}
	b := d.take(n, what)
	if d.alias && len(b) > 0 {
		return unsafe.String(&b[0], len(b))
	}
	return string(b)
}

func (d *decoder) left() uint64 { return uint64(len(d.b) - d.pos) }

func (d *decoder) scalar(t ValueType, what string) any {
	switch t {
	case TypeUint8:
		return d.u8(what)
	case TypeInt8:
		return int8(d.u8(what))
	case TypeUint16:
		return d.u16(what)
	case TypeInt16:
		return int16(d.u16(what))
	case TypeUint32:
		return d.u32(what)
	case TypeInt32:
		return int32(d.u32(what))
	case TypeFloat32:
		return math.Float32frombits(d.u32(what))
	case TypeBool:
		b := d.u8(what)
		if b > 1 {
			d.fail("%s: bool byte %d is not 0 or 1", what, b)
		}
		return b == 1
	case TypeString:
		return d.str(what)
	case TypeUint64:
		return d.u64(what)
	case TypeInt64:
		return int64(d.u64(what))
	case TypeFloat64:
		return math.Float64frombits(d.u64(what))
	}
	d.fail("%s: unknown value type %d", what, uint32(t))
	return nil
}

func (d *decoder) value(t ValueType, what string, depth int) Value {
	if t != TypeArray {
		return Value{typ: t, v: d.scalar(t, what)}
	}
	if depth >= maxArrayDepth {
		d.fail("%s: arrays nested deeper than %d", what, maxArrayDepth)
		return Value{}
	}
	et := ValueType(d.u32(what + " element type"))
	n := d.u64(what + " element count")
	if d.err != nil {
		return Value{}
	}
	if et > TypeFloat64 {
		d.fail("%s: unknown array element type %d", what, uint32(et))
		return Value{}
	}
	min := uint64(et.scalarSize())
	if et == TypeString || et == TypeArray {
		min = 8 // a length or an element type + count at least
	}
	if n > d.left()/min {
		d.fail("%s: %d elements of %s cannot fit in the %d bytes left", what, n, et, d.left())
		return Value{}
	}
	v := Value{typ: TypeArray, elem: et}
	switch et {
	case TypeString:
		s := make([]string, n)
		for i := range s {
			s[i] = d.str(what)
		}
		v.v = s
	case TypeInt32:
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(d.u32(what))
		}
		v.v = s
	case TypeUint32:
		s := make([]uint32, n)
		for i := range s {
			s[i] = d.u32(what)
		}
		v.v = s
	case TypeFloat32:
		s := make([]float32, n)
		for i := range s {
			s[i] = math.Float32frombits(d.u32(what))
		}
		v.v = s
	case TypeUint8:
		v.v = append([]uint8(nil), d.take(n, what)...)
	case TypeArray:
		s := make([]Value, n)
		for i := range s {
			s[i] = d.value(TypeArray, what, depth+1)
		}
		v.v = s
	default:
		v.v = d.typedSlice(et, n, what)
	}
	return v
}

// typedSlice reads n scalars of the remaining element types.
func (d *decoder) typedSlice(t ValueType, n uint64, what string) any {
	switch t {
	case TypeInt8:
		s := make([]int8, n)
		for i := range s {
			s[i] = int8(d.u8(what))
		}
		return s
	case TypeUint16:
		s := make([]uint16, n)
		for i := range s {
			s[i] = d.u16(what)
		}
		return s
	case TypeInt16:
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(d.u16(what))
		}
		return s
	case TypeBool:
		s := make([]bool, n)
		for i := range s {
			s[i] = d.scalar(TypeBool, what).(bool)
		}
		return s
	case TypeUint64:
		s := make([]uint64, n)
		for i := range s {
			s[i] = d.u64(what)
		}
		return s
	case TypeInt64:
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(d.u64(what))
		}
		return s
	default: // TypeFloat64
		s := make([]float64, n)
		for i := range s {
			s[i] = math.Float64frombits(d.u64(what))
		}
		return s
	}
}

// ReadFile reads and parses a GGUF file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse parses a GGUF file held in b. Tensor data slices alias b. Every
// malformed input gives an error wrapping ErrFormat, never a panic.
func Parse(b []byte) (*File, error) { return parse(b, false) }

// parse is Parse; with alias, metadata strings point into b (MapFile's
// read-only mapping, which is never unmapped once parsed) rather than
// being copied onto the heap.
func parse(b []byte, alias bool) (*File, error) {
	d := &decoder{b: b, alias: alias}
	magic := d.take(4, "magic")
	if d.err == nil && string(magic) != Magic {
		return nil, fmt.Errorf("gguf: %w: magic %q, want %q (not a GGUF file)", ErrFormat, magic, Magic)
	}
	ver := d.u32("version")
	if d.err == nil && ver != Version {
		return nil, fmt.Errorf("gguf: %w: version %d, only version %d is supported", ErrFormat, ver, Version)
	}
	nt := d.u64("tensor count")
	nkv := d.u64("metadata count")
	if d.err != nil {
		return nil, d.err
	}
	// Each key/value takes at least 8+4+1 bytes and each tensor info 8+4+8+4+8.
	if nkv > d.left()/13 {
		return nil, fmt.Errorf("gguf: %w: %d metadata pairs cannot fit in %d bytes", ErrFormat, nkv, d.left())
	}
	f := &File{}
	seen := map[string]bool{}
	for i := uint64(0); i < nkv && d.err == nil; i++ {
		key := d.str("metadata key")
		vt := ValueType(d.u32("value type of " + key))
		if d.err != nil {
			break
		}
		if key == "" {
			d.fail("metadata pair %d has an empty key", i)
			break
		}
		if seen[key] {
			d.fail("metadata key %q appears twice", key)
			break
		}
		seen[key] = true
		if vt > TypeFloat64 {
			d.fail("metadata key %q: unknown value type %d", key, uint32(vt))
			break
		}
		v := d.value(vt, "value of "+key, 0)
		f.KVs = append(f.KVs, KV{key, v})
	}
	if d.err != nil {
		return nil, d.err
	}
	if nt > d.left()/32 {
		return nil, fmt.Errorf("gguf: %w: %d tensor infos cannot fit in %d bytes", ErrFormat, nt, d.left())
	}
	names := map[string]bool{}
	for i := uint64(0); i < nt && d.err == nil; i++ {
		t := &Tensor{Name: d.str("tensor name")}
		nd := d.u32("n_dims of " + t.Name)
		if d.err != nil {
			break
		}
		if nd == 0 || nd > MaxDims {
			d.fail("tensor %q: %d dimensions, want 1 to %d", t.Name, nd, MaxDims)
			break
		}
		for j := uint32(0); j < nd; j++ {
			t.Dims = append(t.Dims, d.u64("dimension of "+t.Name))
		}
		t.Type = Type(d.u32("type of " + t.Name))
		t.Offset = d.u64("offset of " + t.Name)
		if d.err != nil {
			break
		}
		if names[t.Name] {
			d.fail("tensor %q appears twice", t.Name)
			break
		}
		names[t.Name] = true
		f.Tensors = append(f.Tensors, t)
	}
	if d.err != nil {
		return nil, d.err
	}
	al, err := f.Alignment()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w: %v", ErrFormat, strings.TrimPrefix(err.Error(), "gguf: "))
	}
	f.DataOffset = align(uint64(d.pos), al)
	if len(f.Tensors) > 0 && f.DataOffset > uint64(len(b)) {
		return nil, fmt.Errorf("gguf: %w: the data section starts at %d, past the end of the %d-byte file", ErrFormat, f.DataOffset, len(b))
	}
	for _, t := range f.Tensors {
		if t.Offset%al != 0 {
			return nil, fmt.Errorf("gguf: %w: tensor %q: offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, t.Offset, al)
		}
		// Size from the dimensions and type (checkTensor repeats the
		// checks with the data attached).
		size, err := tensorSize(t)
		if err != nil {
			return nil, fmt.Errorf("gguf: %w: %v", ErrFormat, strings.TrimPrefix(err.Error(), "gguf: "))
		}
		start := f.DataOffset + t.Offset
		if start < f.DataOffset || start > uint64(len(b)) || size > uint64(len(b))-start {
			return nil, fmt.Errorf("gguf: %w: tensor %q: %d bytes at offset %d run past the end of the %d-byte file", ErrFormat, t.Name, size, t.Offset, len(b))
		}
		t.Data = b[start : start+size : start+size]
	}
	return f, nil
}

// tensorSize is the byte size of t from its dims and type.
func tensorSize(t *Tensor) (uint64, error) {
	if !t.Type.Known() {
		return 0, fmt.Errorf("gguf: tensor %s: unsupported ggml type %d (supported: F32, F16, Q8_0, Q4_0, Q3_K, TQ2_0, TQ1_0)", t.Name, uint32(t.Type))
	}
	n := uint64(1)
	for i, d := range t.Dims {
		if d == 0 {
			return 0, fmt.Errorf("gguf: tensor %s: dimension %d is 0", t.Name, i)
		}
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("gguf: tensor %s: dimensions %v overflow", t.Name, t.Dims)
		}
		n *= d
	}
	bs := uint64(t.Type.BlockSize())
	if t.Dims[0]%bs != 0 {
		return 0, fmt.Errorf("gguf: tensor %s: ne[0] = %d is not a multiple of the %s block size %d", t.Name, t.Dims[0], t.Type, bs)
	}
	return n / bs * uint64(t.Type.TypeSize()), nil
}
