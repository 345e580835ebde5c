package gguf

import "fmt"

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// Version is the GGUF version this package writes and reads.
const Version = 3

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// Limits of the format (ggml's gguf.cpp): at most 4 dimensions, tensor names
// of at most 63 bytes (GGML_MAX_NAME 64 including the NUL).
const (
	MaxDims    = 4
	MaxNameLen = 63
)

// QuantizationVersion is the value of general.quantization_version that
// ggml writes (GGML_QNT_VERSION).
const QuantizationVersion = 2

// Type is a ggml tensor type.
type Type uint32

// The ggml types this package converts. The numbers are ggml's.
const (
	F32   Type = 0
	F16   Type = 1
	Q4_0  Type = 2
	Q8_0  Type = 8
	Q3_K  Type = 11
	TQ1_0 Type = 34
	TQ2_0 Type = 35
)

// Block sizes (values per block) of the quantized types.
const (
	QK8_0 = 32
	QK4_0 = 32
	QK_K  = 256
)

type typeInfo struct {
	name      string
	blockSize int // values per block
	typeSize  int // bytes per block
}

var typeInfos = map[Type]typeInfo{
	F32:   {"F32", 1, 4},
	F16:   {"F16", 1, 2},
	Q4_0:  {"Q4_0", QK4_0, 2 + QK4_0/2},
	Q8_0:  {"Q8_0", QK8_0, 2 + QK8_0},
	Q3_K:  {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2},
	TQ1_0: {"TQ1_0", QK_K, 48 + 4 + 2},
	TQ2_0: {"TQ2_0", QK_K, QK_K/4 + 2},
}

// String returns ggml's name of the type ("TQ2_0"), or "Type(n)".
func (t Type) String() string {
	if in, ok := typeInfos[t]; ok {
		return in.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// Known reports whether the package knows the type's block layout.
func (t Type) Known() bool { _, ok := typeInfos[t]; return ok }

// BlockSize is the number of values in one block (1 for F32 and F16).
func (t Type) BlockSize() int { return typeInfos[t].blockSize }

// TypeSize is the number of bytes of one block.
func (t Type) TypeSize() int { return typeInfos[t].typeSize }

// ParseType parses a type name, case-insensitively ("f16", "q8_0", "q3_k",
// "tq2_0").
func ParseType(s string) (Type, error) {
	for t, in := range typeInfos {
		if equalFold(s, in.name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown tensor type %q (known: F32, F16, Q8_0, Q4_0, Q3_K, TQ2_0, TQ1_0)", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// RowBytes returns the bytes of n values of type t, or an error when n is
// not a multiple of the block size.
func RowBytes(t Type, n int) (int, error) {
	in, ok := typeInfos[t]
	if !ok {
		return 0, fmt.Errorf("gguf: unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%in.blockSize != 0 {
		return 0, fmt.Errorf("gguf: %d values of %s: not a multiple of the block size %d", n, in.name, in.blockSize)
	}
	return n / in.blockSize * in.typeSize, nil
}

// ValueType is the type of a metadata value.
type ValueType uint32

// The metadata value types of GGUF.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(v))
}

// scalarSize is the encoded size of a fixed-size value type, 0 otherwise.
func (v ValueType) scalarSize() int {
	switch v {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}
