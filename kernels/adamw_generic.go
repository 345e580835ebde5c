//go:build purego || !amd64

package kernels

func adamwVector(w, g, m, v []float32, k AdamWConsts) int { return 0 }
