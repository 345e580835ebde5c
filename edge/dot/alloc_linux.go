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
// to 2 MiB, its 2 MiB pages with MADV_HUGEPAGE: huge pages leave the stream nearly free of
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
	// Huge pages for the whole 2 MiB pages, and for the tail only where it
	// fills most of one (at most 256 KiB unused): otherwise the tail stays
	// in 4 KiB pages, so that it holds no more memory than it uses (a huge
	// page for the last 1 MB of a 9.4 MB matrix would hold 1 MB more).
	huge := n &^ (hugePage - 1)
	if up := (n + hugePage - 1) &^ (hugePage - 1); up-n <= hugePage/8 {
		huge = up
	}
	syscall.Madvise(m[off:off+huge], 14) // MADV_HUGEPAGE
	runtime.AddCleanup(owner, func(m []byte) { syscall.Munmap(m) }, m)
	return b
}
