package kernels

// Tile shape of the pure-Go micro-kernel.
const (
	goMR = 4
	goNR = 8
)

// goKernels is the portable kernel set: the same packed panels and the same
// per-element FMA chains as the assembly kernels, with FMA32 emulating the
// single rounding of a hardware fused multiply-add.
var goKernels = kernelSet{name: "purego", mr: goMR, nr: goNR, kernel: kernelGo, kernelA: kernelGoA, pack: packPanelGo, packBlock: packBlockGo(packPanelGo)}

// kernelGo runs a packed A panel (element (i, p) at a[p*goMR+i]) through
// kernelGoA.
func kernelGo(kc int, a, b, c []float32, ldc int, load bool) {
	kernelGoA(kc, a, 1, goMR, b, c, ldc, load)
}

// kernelGoA is the pure-Go micro-kernel with A read in place: element
// (i, p) of the A panel is a[i*rs+p*ks]. Each element of C is one ascending
// chain of single-rounding FMAs over p, as in the assembly kernels.
func kernelGoA(kc int, a []float32, rs, ks int, b, c []float32, ldc int, load bool) {
	var t [goMR * goNR]float32
	if load {
		for i := 0; i < goMR; i++ {
			copy(t[i*goNR:i*goNR+goNR], c[i*ldc:i*ldc+goNR])
		}
	}
	if kc > 0 {
		_ = a[(goMR-1)*rs+(kc-1)*ks]
	}
	b = b[:kc*goNR]
	for p := 0; p < kc; p++ {
		bp := b[p*goNR : p*goNR+goNR]
		for i := 0; i < goMR; i++ {
			av := a[i*rs+p*ks]
			ti := t[i*goNR : i*goNR+goNR]
			for j, bv := range bp {
				s := float64(av)*float64(bv) + float64(ti[j])
				if fastRound32(s) {
					ti[j] = float32(s)
				} else {
					ti[j] = fma32Exact(av, bv, ti[j])
				}
			}
		}
	}
	for i := 0; i < goMR; i++ {
		copy(c[i*ldc:i*ldc+goNR], t[i*goNR:i*goNR+goNR])
	}
}
