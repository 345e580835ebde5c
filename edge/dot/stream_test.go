package dot

import (
	"bytes"
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

// UpdateStream adds k to each 64-bit word (byte(k) to each tail byte),
// checked against byte arithmetic here on every kernel set, length and
// alignment; the bytes around the slice are left alone.
func TestUpdateStream(t *testing.T) {
	defer Use("")
	var k uint64 = 0x8000_0001_ff00_0080
	for _, set := range KernelSets() {
		if err := Use(set); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 31, 255, 511, 512, 513, 1024, 1031, 4096 + 37, 8192} {
			for _, off := range []int{0, 1, 8, 63} {
				buf := make([]byte, 8192+128)
				for i := range buf {
					buf[i] = byte(i*131 + i>>8*7 + 1)
				}
				want := append([]byte(nil), buf...)
				p := want[off : off+n]
				words := n / 8
				for w := 0; w < words; w++ {
					var carry uint
					for b := 0; b < 8; b++ {
						s := uint(p[8*w+b]) + uint(byte(k>>(8*b))) + carry
						p[8*w+b], carry = byte(s), s>>8
					}
				}
				for i := 8 * words; i < n; i++ {
					p[i] += byte(k)
				}
				UpdateStream(buf[off:off+n], k)
				if !bytes.Equal(buf, want) {
					t.Fatalf("%s: UpdateStream of %d bytes at offset %d differs from the byte-wise sums", set, n, off)
				}
			}
		}
	}
}
