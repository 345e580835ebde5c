//go:build !purego

package dot

// updateKernel is UpdateStream's kernel for the active set and a multiple
// of 512 bytes (nil: Go).
func updateKernel() func(p []byte, k uint64) {
	switch active.name {
	case "avx512vnni":
		return func(p []byte, k uint64) { updateAVX512(&p[0], len(p), k) }
	case "avx2":
		return func(p []byte, k uint64) { updateAVX2(&p[0], len(p), k) }
	}
	return nil
}

//go:noescape
func updateAVX512(p *byte, n int, k uint64)

//go:noescape
func updateAVX2(p *byte, n int, k uint64)
