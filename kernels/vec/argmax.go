package vec

import "unsafe"

// Argmax returns the index of the largest value of x, the first one on ties
// (numpy's argmax and run.c's sample_argmax), and 0 for an empty x. The
// scan keeps a best index b, starting at 0, and moves it to i exactly when
// x[i] > x[b], for i in ascending order. So −0 and +0 tie (the first
// wins), and a NaN is never chosen unless it is x[0], in which case no
// value beats it and the result is 0. Greedy decoding, the greedy flag of
// scored continuations and the multiple-choice metrics all use this rule.
//
// For float32 elements (any type whose underlying type is float32) on
// amd64 CPUs with AVX-512 the scan runs in assembly with the same result
// for every input (see argmaxF32).
func Argmax[F ~float32 | ~float64](x []F) int {
	var z F
	if unsafe.Sizeof(z) == 4 { // F's underlying type is float32
		return argmaxF32(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x)))
	}
	return argmaxGo(x)
}

// argmaxGo is the scalar scan that defines Argmax.
func argmaxGo[F ~float32 | ~float64](x []F) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// argmaxMinAsm is the shortest x for which argmaxF32 calls the assembly.
const argmaxMinAsm = 16

// argmaxF32 is Argmax for float32. When x[0] is not NaN the scan's result
// is the first index of the largest non-NaN value (−0 and +0 equal), since
// the scan moves only to a strictly larger value and a NaN is never larger;
// the assembly finds that value with a NaN-ignoring maximum and then the
// first element equal to it. When x[0] is NaN the result is 0, which the
// scalar scan returns.
func argmaxF32(x []float32) int {
	if hasAsm && len(x) >= argmaxMinAsm && x[0] == x[0] {
		return argmaxAsm(&x[0], len(x))
	}
	return argmaxGo(x)
}
