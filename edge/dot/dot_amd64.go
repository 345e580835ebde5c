//go:build !purego

package dot

import "golang.org/x/sys/cpu"

// Assembly row products (dot_amd64.s); rows ≥ 1 and nb ≥ 1, every buffer
// checked by the caller.

//go:noescape
func tq2RowsVNNI(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func tq2RowsAVX2(out *int32, w *byte, q *int8, nb, rows int)

//go:noescape
func q8RowsVNNI(out *float32, w *byte, q *int8, nb, rows int)

//go:noescape
func q8RowsAVX2(out *float32, w *byte, q *int8, nb, rows int)

//go:noescape
func q4RowsVNNI(out *float32, w *byte, q *int8, nb, rows int)

//go:noescape
func q4RowsAVX2(out *float32, w *byte, q *int8, nb, rows int)

var vnniSet = kernelSet{
	name: "avx512vnni",
	tq2:  func(out []int32, w []byte, q []int8, nb int) { tq2RowsVNNI(&out[0], &w[0], &q[0], nb, len(out)) },
	q8:   func(out []float32, w []byte, q []int8, nb int) { q8RowsVNNI(&out[0], &w[0], &q[0], nb, len(out)) },
	q4:   func(out []float32, w []byte, q []int8, nb int) { q4RowsVNNI(&out[0], &w[0], &q[0], nb, len(out)) },
}

var avx2Set = kernelSet{
	name: "avx2",
	tq2:  func(out []int32, w []byte, q []int8, nb int) { tq2RowsAVX2(&out[0], &w[0], &q[0], nb, len(out)) },
	q8:   func(out []float32, w []byte, q []int8, nb int) { q8RowsAVX2(&out[0], &w[0], &q[0], nb, len(out)) },
	q4:   func(out []float32, w []byte, q []int8, nb int) { q4RowsAVX2(&out[0], &w[0], &q[0], nb, len(out)) },
}

func availableSets() []kernelSet {
	var sets []kernelSet
	// VPDPBUSD on ymm registers needs AVX512_VNNI with AVX512VL; the head
	// kernels also use F16C and AVX2 (VPSIGNB, VPABSB).
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL && cpu.X86.HasAVX2 && cpu.X86.HasF16C {
		sets = append(sets, vnniSet)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasF16C {
		sets = append(sets, avx2Set)
	}
	return append(sets, goSet)
}

var active = availableSets()[0]
