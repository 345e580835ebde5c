package vec

// Argmax returns the index of the largest value of x, the first one on ties
// (numpy's argmax and run.c's sample_argmax), and 0 for an empty x. The
// scan keeps a best index b, starting at 0, and moves it to i exactly when
// x[i] > x[b], for i in ascending order. So −0 and +0 tie (the first
// wins), and a NaN is never chosen unless it is x[0], in which case no
// value beats it and the result is 0. Greedy decoding, the greedy flag of
// scored continuations and the multiple-choice metrics all use this rule.
func Argmax[F ~float32 | ~float64](x []F) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
