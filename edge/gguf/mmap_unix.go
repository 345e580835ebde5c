//go:build unix

package gguf

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// MapFile maps a GGUF file read-only into memory and parses it; tensor
// data slices alias the mapping, so the weights are paged in from the file
// on first use and never copied onto the heap. The mapping lives as long as
// the process (a decoder keeps its weights until it exits). An empty file or
// one that cannot be mapped is read with ReadFile instead.
func MapFile(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size <= 0 || size != int64(int(size)) || !st.Mode().IsRegular() {
		return ReadFile(path)
	}
	b, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return ReadFile(path)
	}
	// The metadata's strings (a tokenizer's tens of thousands of tokens
	// and merges) stay in the mapping rather than being copied.
	f, err := parse(b, true)
	if err != nil {
		syscall.Munmap(b)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapped = true
	return f, nil
}

// Evict tells the kernel that the whole pages inside b, a slice of this
// file's tensor data, are not needed for now, so they leave the resident
// set, and that later reads there are random (a touched page is read back
// alone, without read-ahead of its neighbours). It does nothing for a file
// that is not memory-mapped.
func (f *File) Evict(b []byte) {
	if !f.mapped || len(b) == 0 {
		return
	}
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (start + ps - 1) &^ (ps - 1)
	hi := (start + uintptr(len(b))) &^ (ps - 1)
	if hi <= lo {
		return
	}
	syscall.Madvise(b[lo-start:hi-start], syscall.MADV_RANDOM)
	syscall.Madvise(b[lo-start:hi-start], syscall.MADV_DONTNEED)
}
