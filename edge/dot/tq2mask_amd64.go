//go:build !purego

package dot

//go:noescape
func tq2Rows4MaskVNNI(out *int32, w *byte, q *int8, nb, rows int)
