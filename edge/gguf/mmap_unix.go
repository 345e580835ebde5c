//go:build unix

package gguf

import (
	"fmt"
	"os"
	"syscall"
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
	f, err := Parse(b)
	if err != nil {
		syscall.Munmap(b)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
