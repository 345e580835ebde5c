package gguf

import (
	"fmt"
	"math"
)

// Value is one metadata value: a scalar, a string, or an array. Arrays of
// scalars and strings hold a typed Go slice ([]uint32, []string, …); arrays
// of arrays hold []Value.
type Value struct {
	typ  ValueType
	elem ValueType // arrays only
	v    any
}

// Type is the value's type.
func (v Value) Type() ValueType { return v.typ }

// Elem is the element type of an array value.
func (v Value) Elem() ValueType { return v.elem }

// Any returns the Go value: uint8 … float64, bool, string, a typed slice for
// arrays of scalars or strings, or []Value for arrays of arrays.
func (v Value) Any() any { return v.v }

// Scalar and string constructors.
func Uint8(x uint8) Value     { return Value{typ: TypeUint8, v: x} }
func Int8(x int8) Value       { return Value{typ: TypeInt8, v: x} }
func Uint16(x uint16) Value   { return Value{typ: TypeUint16, v: x} }
func Int16(x int16) Value     { return Value{typ: TypeInt16, v: x} }
func Uint32(x uint32) Value   { return Value{typ: TypeUint32, v: x} }
func Int32(x int32) Value     { return Value{typ: TypeInt32, v: x} }
func Float32(x float32) Value { return Value{typ: TypeFloat32, v: x} }
func Bool(x bool) Value       { return Value{typ: TypeBool, v: x} }
func String(x string) Value   { return Value{typ: TypeString, v: x} }
func Uint64(x uint64) Value   { return Value{typ: TypeUint64, v: x} }
func Int64(x int64) Value     { return Value{typ: TypeInt64, v: x} }
func Float64(x float64) Value { return Value{typ: TypeFloat64, v: x} }

// Array constructors (the slice is kept, not copied).
func Strings(x []string) Value   { return Value{typ: TypeArray, elem: TypeString, v: x} }
func Int32s(x []int32) Value     { return Value{typ: TypeArray, elem: TypeInt32, v: x} }
func Uint32s(x []uint32) Value   { return Value{typ: TypeArray, elem: TypeUint32, v: x} }
func Float32s(x []float32) Value { return Value{typ: TypeArray, elem: TypeFloat32, v: x} }
func Arrays(x []Value) Value     { return Value{typ: TypeArray, elem: TypeArray, v: x} }

// Len is the number of elements of an array value (0 otherwise).
func (v Value) Len() int {
	if v.typ != TypeArray {
		return 0
	}
	switch s := v.v.(type) {
	case []uint8:
		return len(s)
	case []int8:
		return len(s)
	case []uint16:
		return len(s)
	case []int16:
		return len(s)
	case []uint32:
		return len(s)
	case []int32:
		return len(s)
	case []float32:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []uint64:
		return len(s)
	case []int64:
		return len(s)
	case []float64:
		return len(s)
	case []Value:
		return len(s)
	}
	return 0
}

// String formats the value for messages; long arrays are summarized.
func (v Value) String() string {
	if v.typ == TypeArray {
		return fmt.Sprintf("[%s × %d]", v.elem, v.Len())
	}
	if s, ok := v.v.(string); ok {
		if len(s) > 80 {
			return fmt.Sprintf("%q… (%d bytes)", s[:80], len(s))
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.v)
}

// equal reports whether two values have the same type and contents (floats
// compared by bits).
func (v Value) equal(w Value) bool {
	if v.typ != w.typ || v.elem != w.elem {
		return false
	}
	switch a := v.v.(type) {
	case float32:
		return math.Float32bits(a) == math.Float32bits(w.v.(float32))
	case float64:
		return math.Float64bits(a) == math.Float64bits(w.v.(float64))
	case []Value:
		b := w.v.([]Value)
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].equal(b[i]) {
				return false
			}
		}
		return true
	case []float32:
		b := w.v.([]float32)
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprintf("%#v", v.v) == fmt.Sprintf("%#v", w.v)
}

// validate checks that the Go value matches the declared type.
func (v Value) validate() error {
	ok := false
	switch v.typ {
	case TypeUint8:
		_, ok = v.v.(uint8)
	case TypeInt8:
		_, ok = v.v.(int8)
	case TypeUint16:
		_, ok = v.v.(uint16)
	case TypeInt16:
		_, ok = v.v.(int16)
	case TypeUint32:
		_, ok = v.v.(uint32)
	case TypeInt32:
		_, ok = v.v.(int32)
	case TypeFloat32:
		_, ok = v.v.(float32)
	case TypeBool:
		_, ok = v.v.(bool)
	case TypeString:
		_, ok = v.v.(string)
	case TypeUint64:
		_, ok = v.v.(uint64)
	case TypeInt64:
		_, ok = v.v.(int64)
	case TypeFloat64:
		_, ok = v.v.(float64)
	case TypeArray:
		switch s := v.v.(type) {
		case []uint8:
			ok = v.elem == TypeUint8
		case []int8:
			ok = v.elem == TypeInt8
		case []uint16:
			ok = v.elem == TypeUint16
		case []int16:
			ok = v.elem == TypeInt16
		case []uint32:
			ok = v.elem == TypeUint32
		case []int32:
			ok = v.elem == TypeInt32
		case []float32:
			ok = v.elem == TypeFloat32
		case []bool:
			ok = v.elem == TypeBool
		case []string:
			ok = v.elem == TypeString
		case []uint64:
			ok = v.elem == TypeUint64
		case []int64:
			ok = v.elem == TypeInt64
		case []float64:
			ok = v.elem == TypeFloat64
		case []Value:
			ok = v.elem == TypeArray
			for _, e := range s {
				if e.typ != TypeArray {
					return fmt.Errorf("an array of arrays holds a %s", e.typ)
				}
				if err := e.validate(); err != nil {
					return err
				}
			}
		}
	}
	if !ok {
		return fmt.Errorf("value %T does not match its type %s (elements %s)", v.v, v.typ, v.elem)
	}
	return nil
}
