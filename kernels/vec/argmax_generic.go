//go:build purego || !amd64

package vec

func argmaxAsm(x *float32, n int) int { panic("vec: no assembly") }
