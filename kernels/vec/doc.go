// Package vec holds the element-wise kernels of the models package: the
// SiLU and softmax exponentials, absmax activation quantization with
// rounding, weight quantization, RMSNorm row operations, the depthwise conv
// tap sums and a few fused multiplies. Each kernel has a pure-Go form
// (generic.go) that defines its result and, on amd64 CPUs with AVX-512
// F, DQ, BW and VL, an assembly form (vec_amd64.s) that computes exactly
// the same float32 and float64 bits: every lane performs the IEEE operations
// of the Go form in the same order with the same rounding, fused
// multiply-adds are never introduced, and reductions keep the order of the
// Go form (a running sum in ascending index, or an exact maximum whose value
// does not depend on the order). Where a reduction is vectorised, the
// lanes hold independent reductions (rows, heads, tensors, or the four
// interleaved partial sums the Go form already keeps), never parts of one. A NaN result is NaN in both forms; its
// payload is not specified, as the Go compiler may order the operands of a
// commutative operation either way. Build with the purego tag to use the Go
// forms only.
//
// All slices passed to one call must have at least the length of the
// driving input; outputs must not overlap inputs unless a function says so.
package vec
