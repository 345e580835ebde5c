package dot

import "unsafe"

// LargeFloats is LargeBytes for n float32 values (zero).
func LargeFloats[T any](owner *T, n int) []float32 {
	if n == 0 {
		return nil
	}
	b := LargeBytes(owner, 4*n)
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}
