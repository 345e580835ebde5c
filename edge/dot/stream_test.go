package dot

import (
	"fmt"
	"testing"
)

// ReadStream is the XOR of the bytes as little-endian 64-bit words, byte
// by byte here, on every kernel set and length (the kernels' whole 512-byte
// rounds, the Go tail, a partial last word), at every alignment.
func TestReadStream(t *testing.T) {
	defer Use("")
	buf := make([]byte, 8192+64)
	for i := range buf {
		buf[i] = byte(i*131 + i>>8*7 + 1)
	}
	for _, set := range KernelSets() {
		if err := Use(set); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 31, 255, 511, 512, 513, 1024, 1031, 4096 + 37, 8192} {
			for _, off := range []int{0, 1, 8, 63} {
				p := buf[off : off+n]
				var want uint64
				for i, v := range p {
					want ^= uint64(v) << (8 * (i % 8))
				}
				if got := ReadStream(p); got != want {
					t.Fatalf("%s: ReadStream of %d bytes at offset %d = %#x, want %#x", set, n, off, got, want)
				}
			}
		}
	}
}

// BenchmarkReadStream reads buffers from the L2's size to beyond the L3's.
func BenchmarkReadStream(b *testing.B) {
	defer Use("")
	for _, set := range KernelSets() {
		Use(set)
		for _, mb := range []int{0, 16, 32, 64} {
			n := max(mb<<20, 256<<10)
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i)
			}
			b.Run(fmt.Sprintf("%s/%dKiB", set, n>>10), func(b *testing.B) {
				for b.Loop() {
					ReadStream(p)
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
