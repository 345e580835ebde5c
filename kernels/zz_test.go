package kernels

import (
	"testing"
	"time"
)

func TestZZKernel(t *testing.T) {
	for _, kc := range []int{16, 64, 128, 256, 512} {
		a := make([]float32, kc*12)
		b := make([]float32, kc*32)
		c := make([]float32, 12*32)
		for i := range a { a[i] = 1e-3 }
		for i := range b { b[i] = 1e-3 }
		n := 20_000_000 / kc
		t0 := time.Now()
		for i := 0; i < n; i++ {
			kernel12x32AVX512(kc, &a[0], &b[0], &c[0], 32, 1)
		}
		d := time.Since(t0)
		t.Logf("kc %d: %.1f GFLOP/s", kc, float64(n)*float64(kc)*12*32*2/d.Seconds()/1e9)
	}
}
