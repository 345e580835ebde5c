//go:build linux

package dot

import (
	"runtime"
	"syscall"
	"unsafe"
)

// hugePage is the transparent huge page size on linux/amd64 and arm64.
const hugePage = 2 << 20

// LargeBytes returns n zeroed bytes for a matrix the decoder streams through
// every token. From 2 MiB on they are a private anonymous mapping aligned
// to 2 MiB with MADV_HUGEPAGE: huge pages leave the stream nearly free of
// TLB misses (4 KiB pages cost one per 4 KiB, and the hardware prefetchers
// stop at their boundaries). owner's cleanup unmaps them. Below 2 MiB, or
// when the mapping fails, they come from the Go heap.
func LargeBytes[T any](owner *T, n int) []byte {
	if n < hugePage {
		return make([]byte, n)
	}
	size := (n+hugePage-1)&^(hugePage-1) + hugePage
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n)
	}
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (hugePage - 1))
	b := m[off : off+n : off+n]
	syscall.Madvise(m[off:off+(n+hugePage-1)&^(hugePage-1)], 14) // MADV_HUGEPAGE
	runtime.AddCleanup(owner, func(m []byte) { syscall.Munmap(m) }, m)
	return b
}
