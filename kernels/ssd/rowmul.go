package ssd

// rowMul adds a·B to out: out[j] += Σ_k a[k]·b[k*ldb+j] for j < len(out),
// k < len(a). Each out[j] is one chain that starts from its stored value and
// adds the products in ascending k, so the result equals len(a) calls of
// axpy; the columns are processed eight at a time to keep the partial sums
// in registers.
func rowMul(out, a, b []float64, ldb int) {
	n := len(out)
	if len(a) == 0 || n == 0 {
		return
	}
	_ = b[(len(a)-1)*ldb+n-1]
	j := 0
	for ; j+8 <= n; j += 8 {
		c := out[j : j+8 : j+8]
		c0, c1, c2, c3, c4, c5, c6, c7 := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
		off := j
		for _, av := range a {
			r := b[off : off+8 : off+8]
			c0 += float64(av * r[0])
			c1 += float64(av * r[1])
			c2 += float64(av * r[2])
			c3 += float64(av * r[3])
			c4 += float64(av * r[4])
			c5 += float64(av * r[5])
			c6 += float64(av * r[6])
			c7 += float64(av * r[7])
			off += ldb
		}
		c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7] = c0, c1, c2, c3, c4, c5, c6, c7
	}
	for ; j+4 <= n; j += 4 {
		c := out[j : j+4 : j+4]
		c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
		off := j
		for _, av := range a {
			r := b[off : off+4 : off+4]
			c0 += float64(av * r[0])
			c1 += float64(av * r[1])
			c2 += float64(av * r[2])
			c3 += float64(av * r[3])
			off += ldb
		}
		c[0], c[1], c[2], c[3] = c0, c1, c2, c3
	}
	for ; j < n; j++ {
		c0 := out[j]
		off := j
		for _, av := range a {
			c0 += float64(av * b[off])
			off += ldb
		}
		out[j] = c0
	}
}
