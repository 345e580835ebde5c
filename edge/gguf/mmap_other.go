//go:build !unix

package gguf

// MapFile reads a GGUF file (no memory mapping on this system).
func MapFile(path string) (*File, error) { return ReadFile(path) }

// Evict does nothing: the file is not memory-mapped here.
func (f *File) Evict(b []byte) {}
