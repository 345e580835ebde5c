package gguf

import "fmt"

func (f *File) lookup(key string, t ValueType) (Value, error) {
	v, ok := f.Get(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: metadata key %q is missing", key)
	}
	if v.typ != t {
		return Value{}, fmt.Errorf("gguf: metadata key %q has type %s, want %s", key, v.typ, t)
	}
	return v, nil
}

func (f *File) lookupArray(key string, elem ValueType) (Value, error) {
	v, err := f.lookup(key, TypeArray)
	if err != nil {
		return v, err
	}
	if v.elem != elem {
		return Value{}, fmt.Errorf("gguf: metadata key %q is an array of %s, want %s", key, v.elem, elem)
	}
	return v, nil
}

// GetString returns a string value.
func (f *File) GetString(key string) (string, error) {
	v, err := f.lookup(key, TypeString)
	if err != nil {
		return "", err
	}
	return v.v.(string), nil
}

// GetUint32 returns a u32 value.
func (f *File) GetUint32(key string) (uint32, error) {
	v, err := f.lookup(key, TypeUint32)
	if err != nil {
		return 0, err
	}
	return v.v.(uint32), nil
}

// GetInt32 returns an i32 value.
func (f *File) GetInt32(key string) (int32, error) {
	v, err := f.lookup(key, TypeInt32)
	if err != nil {
		return 0, err
	}
	return v.v.(int32), nil
}

// GetFloat32 returns an f32 value.
func (f *File) GetFloat32(key string) (float32, error) {
	v, err := f.lookup(key, TypeFloat32)
	if err != nil {
		return 0, err
	}
	return v.v.(float32), nil
}

// GetFloat64 returns an f64 value.
func (f *File) GetFloat64(key string) (float64, error) {
	v, err := f.lookup(key, TypeFloat64)
	if err != nil {
		return 0, err
	}
	return v.v.(float64), nil
}

// GetBool returns a bool value.
func (f *File) GetBool(key string) (bool, error) {
	v, err := f.lookup(key, TypeBool)
	if err != nil {
		return false, err
	}
	return v.v.(bool), nil
}

// GetStrings returns an array of strings.
func (f *File) GetStrings(key string) ([]string, error) {
	v, err := f.lookupArray(key, TypeString)
	if err != nil {
		return nil, err
	}
	return v.v.([]string), nil
}

// GetInt32s returns an array of i32.
func (f *File) GetInt32s(key string) ([]int32, error) {
	v, err := f.lookupArray(key, TypeInt32)
	if err != nil {
		return nil, err
	}
	return v.v.([]int32), nil
}

// GetUint32s returns an array of u32.
func (f *File) GetUint32s(key string) ([]uint32, error) {
	v, err := f.lookupArray(key, TypeUint32)
	if err != nil {
		return nil, err
	}
	return v.v.([]uint32), nil
}
