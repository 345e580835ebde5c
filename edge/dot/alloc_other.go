//go:build !linux

package dot

// LargeBytes returns n zeroed bytes from the Go heap (linux maps them with
// huge pages).
func LargeBytes[T any](_ *T, n int) []byte { return make([]byte, n) }
