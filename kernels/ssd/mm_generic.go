//go:build purego || !amd64

package ssd

// mmAsm reports false: there is no assembly kernel in this build.
func mmAsm(c, a, b []float32, m, k, n, sai, sak int, acc bool) bool { return false }
