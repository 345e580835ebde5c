package kernels

import (
	"fmt"
	"os"
	"testing"
)

func init() {
	if v := os.Getenv("ZZCFG"); v != "" {
		var ir int
		fmt.Sscan(v, &blockK, &blockN, &blockM, &ir)
		loopIR = ir == 1
	}
}

func BenchmarkZZ(b *testing.B) {
	for _, sh := range []gemmShape{{512, 512, 1536}, {1024, 1024, 1024}, {4096, 512, 512}} {
		b.Run(fmt.Sprint(sh), func(b *testing.B) {
			g := benchArgs("NN", sh.m, sh.k, sh.n)
			for b.Loop() {
				gemm(active, 1, g)
			}
			b.ReportMetric(2*float64(sh.m*sh.k*sh.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
