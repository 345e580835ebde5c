//go:build !purego

package vec

// argmaxAsm returns the first index i < n with x[i] equal (under ==) to the
// largest non-NaN value among x[0..n); n ≥ 1 and x[0] must not be NaN.
//
//go:noescape
func argmaxAsm(x *float32, n int) int
