//go:build !linux

package dot

// largeBuf returns n zeroed bytes from the Go heap (linux maps them with
// huge pages).
func largeBuf[T any](_ *T, n int) []byte { return make([]byte, n) }
